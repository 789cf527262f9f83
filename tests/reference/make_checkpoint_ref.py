#!/usr/bin/env python3
# References for tests/test_checkpoint.c, computed with PyTorch/transformers, independent of kedit:
#
#  tests/fixtures/checkpoint/dtypes/model.safetensors  values stored as F16 (x_f16) and BF16 (x_bf16) next to
#      what torch widens them to in float32 (ref_f16, ref_bf16): zeros of both signs, normals,
#      subnormals, the largest finite values, infinities, NaN and random normals; x_f32, the float32
#      values x_bf16 was rounded from (torch's round to nearest even), for kedit's own rounding.
#  tests/fixtures/checkpoint/fingerprints.json   for each tiny model of tests/fixtures/{gpt2,gptj,llama}
#      and each of kedit's weights (names as in host/model.h: "layers.1.q.w", "head.b", ...) the
#      fingerprint sum_i c_i * x_i in float64 over its float32 values x in kedit's orientation, with
#      c_i = ((i * 7919) mod 1009) - 504 (integer weights, so any misplaced value changes it).
#      Every linear layer's matrix is read off the module's behaviour, not its storage: with
#      y(x) = module(x), b = y(0) and W = y(I)^T with the bias zeroed has shape (out, in): kedit's
#      "math orientation" whatever the class stores (GPT-2's Conv1D keeps (in, out)); GPT-2's fused
#      c_attn gives q, k, v as its output columns [0, d), [d, 2d), [2d, 3d).
#  tests/fixtures/checkpoint/configs/{gpt2_124M,gptj_6B,llama_7B,llama_gqa}.json  full config.json
#      files of the published sizes (the transformers config classes' defaults; GPT-2 small's from
#      GPT2Config(); llama_gqa with 8 key/value heads) plus "num_parameters": the number of float
#      parameters of the ...ForCausalLM model (tied embeddings counted once), built on the meta device,
#      and "num_linear_weights": how many of them are weights of nn.Linear / Conv1D modules other than
#      a head tied to the embedding (what kedit holds in bf16 when asked).
#
# Pinned versions (what produced the committed files):
#   torch 2.15.0, transformers 4.46.3, safetensors 0.8.0, numpy 2.4.6, Python 3.11
#
# Run from the repository root (a second or two):
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_checkpoint_ref.py
import copy
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, GPT2Config, GPTJConfig, LlamaConfig
from transformers.pytorch_utils import Conv1D

OUT = "tests/fixtures/checkpoint"
MODELS = "tests/fixtures"


def dtype_fixture():
    special = [0.0, -0.0, 1.0, -2.5, 0.1, 3.14159265, 65504.0, -65504.0, 6.103515625e-05,
               5.960464477539063e-08, 1e-6, -3e-7, 1e-40, -1e-39, 3.0e38, 1e30, 1e-30,
               float("inf"), float("-inf"), float("nan")]
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.tensor(special, dtype=torch.float32), torch.randn(44, generator=g)])
    f16, bf16 = x.to(torch.float16), x.to(torch.bfloat16)
    save_file({"x_f16": f16, "x_bf16": bf16, "ref_f16": f16.float(), "ref_bf16": bf16.float(), "x_f32": x},
              os.path.join(OUT, "dtypes", "model.safetensors"))


def config_sizes():
    os.makedirs(os.path.join(OUT, "configs"), exist_ok=True)
    configs = {"gpt2_124M": GPT2Config(), "gptj_6B": GPTJConfig(), "llama_7B": LlamaConfig(),
               "llama_gqa": LlamaConfig(num_key_value_heads=8, tie_word_embeddings=True)}
    for name, cfg in configs.items():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg)
        d = cfg.to_dict()
        d["num_parameters"] = sum(p.numel() for p in model.parameters())  # shared tensors once
        embedding = model.get_input_embeddings().weight
        d["num_linear_weights"] = sum(m.weight.numel() for m in model.modules()
                                      if isinstance(m, (torch.nn.Linear, Conv1D)) and m.weight is not embedding)
        with open(os.path.join(OUT, "configs", name + ".json"), "w") as f:
            json.dump(d, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{name}: {d['num_parameters']} parameters")


def coefficients(n):
    i = np.arange(n, dtype=np.int64)
    return ((i * 7919) % 1009 - 504).astype(np.float64)


def fingerprint(t):
    x = t.detach().to(torch.float32).numpy().astype(np.float64).ravel()
    return float(np.dot(coefficients(x.size), x))


@torch.no_grad()
def linear_map(module, n_in):
    """(W, b) of y = x W^T + b, read off the module's outputs: b = y(0), and W^T = y(I) of a copy
    whose bias is zeroed (exact: every output is one weight times 1 plus zeros)"""
    b = module(torch.zeros(1, n_in))[0]
    unbiased = copy.deepcopy(module)
    if unbiased.bias is not None:
        unbiased.bias.zero_()
    W = unbiased(torch.eye(n_in)).T
    return W, b


@torch.no_grad()
def fingerprints(name):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, name), torch_dtype=torch.float32)
    cfg = model.config
    out = {}

    def lin(key, module, n_in, has_bias, rows=None):
        W, b = linear_map(module, n_in)
        if rows is not None:
            W, b = W[rows], b[rows]
        out[key + ".w"] = fingerprint(W)
        if has_bias:
            out[key + ".b"] = fingerprint(b)
        else:
            assert float(b.abs().max()) == 0.0, key  # a linear without bias maps 0 to 0

    if name == "gpt2":
        t, d, dff = model.transformer, cfg.n_embd, cfg.n_inner
        out["wte"], out["wpe"] = fingerprint(t.wte.weight), fingerprint(t.wpe.weight)
        for l, h in enumerate(t.h):
            p = f"layers.{l}."
            out[p + "ln1_w"], out[p + "ln1_b"] = fingerprint(h.ln_1.weight), fingerprint(h.ln_1.bias)
            out[p + "ln2_w"], out[p + "ln2_b"] = fingerprint(h.ln_2.weight), fingerprint(h.ln_2.bias)
            for j, part in enumerate("qkv"):
                lin(p + part, h.attn.c_attn, d, True, rows=slice(j * d, (j + 1) * d))
            lin(p + "o", h.attn.c_proj, d, True)
            lin(p + "mlp_in", h.mlp.c_fc, d, True)
            lin(p + "mlp_out", h.mlp.c_proj, dff, True)
        out["lnf_w"], out["lnf_b"] = fingerprint(t.ln_f.weight), fingerprint(t.ln_f.bias)
        lin("head", model.lm_head, d, False)
    elif name == "gptj":
        t, d, dff = model.transformer, cfg.n_embd, cfg.n_inner
        out["wte"] = fingerprint(t.wte.weight)
        for l, h in enumerate(t.h):
            p = f"layers.{l}."
            out[p + "ln1_w"], out[p + "ln1_b"] = fingerprint(h.ln_1.weight), fingerprint(h.ln_1.bias)
            lin(p + "q", h.attn.q_proj, d, False)
            lin(p + "k", h.attn.k_proj, d, False)
            lin(p + "v", h.attn.v_proj, d, False)
            lin(p + "o", h.attn.out_proj, d, False)
            lin(p + "mlp_in", h.mlp.fc_in, d, True)
            lin(p + "mlp_out", h.mlp.fc_out, dff, True)
        out["lnf_w"], out["lnf_b"] = fingerprint(t.ln_f.weight), fingerprint(t.ln_f.bias)
        lin("head", model.lm_head, d, True)
    else:
        t, d, dff = model.model, cfg.hidden_size, cfg.intermediate_size
        q_out = cfg.num_attention_heads * cfg.head_dim
        out["wte"] = fingerprint(t.embed_tokens.weight)
        for l, h in enumerate(t.layers):
            p = f"layers.{l}."
            out[p + "ln1_w"] = fingerprint(h.input_layernorm.weight)
            out[p + "ln2_w"] = fingerprint(h.post_attention_layernorm.weight)
            lin(p + "q", h.self_attn.q_proj, d, False)
            lin(p + "k", h.self_attn.k_proj, d, False)
            lin(p + "v", h.self_attn.v_proj, d, False)
            lin(p + "o", h.self_attn.o_proj, q_out, False)
            lin(p + "mlp_in", h.mlp.gate_proj, d, False)
            lin(p + "mlp_up", h.mlp.up_proj, d, False)
            lin(p + "mlp_out", h.mlp.down_proj, dff, False)
        out["lnf_w"] = fingerprint(t.norm.weight)
        lin("head", model.lm_head, d, False)
    return out


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(os.path.join(OUT, "dtypes"), exist_ok=True)
    dtype_fixture()
    config_sizes()
    prints = {name: fingerprints(name) for name in ("gpt2", "gptj", "llama")}
    with open(os.path.join(OUT, "fingerprints.json"), "w") as f:
        json.dump(prints, f, indent=1, sort_keys=True)
        f.write("\n")
    for name, p in prints.items():
        print(f"{name}: {len(p)} weights fingerprinted")


if __name__ == "__main__":
    main()
