#!/usr/bin/env python3
# Builds tiny random GPT-2, GPT-J and Llama checkpoints in Hugging Face format and the reference
# states kedit's forward, hooks, loss and backward are checked against (tests/fixtures/README.md
# describes every tensor). The reference is plain PyTorch/transformers, independent of kedit.
#
# Pinned versions (what produced the committed fixtures):
#   torch 2.15.0, transformers 4.46.3, safetensors 0.8.0, numpy 2.4.6, Python 3
#
# Run from the repository root:
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_fixtures.py [--out tests/fixtures]
import argparse
import copy
import os
import shutil

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, GPTJConfig,
                          GPTJForCausalLM, LlamaConfig, LlamaForCausalLM)

VOCAB = 101
LENGTHS = (7, 4, 6)      # lengths of ids_0, ids_1, ids_2
DELTA_POS = 2            # position where delta_l0 / delta_l1 are added
PROBE_LAYER = 1          # layer of key_l1, h_l1 and the weight gradients
GREEDY_STEPS = 8
WEIGHT_STD = 0.2         # std of weights and biases (0.1 leaves attention near uniform)
DELTA_STD = 0.1          # std of delta_l0, delta_l1
KL_WEIGHT = 0.5


def gpt2_model():
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=3, n_head=4, n_inner=128,
                     activation_function="gelu_new", bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1,
                     initializer_range=WEIGHT_STD, attn_implementation="eager")
    return GPT2LMHeadModel(cfg)


def gptj_model():
    cfg = GPTJConfig(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=3, n_head=4, rotary_dim=4,
                     n_inner=128, bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1,
                     initializer_range=WEIGHT_STD, attn_implementation="eager")
    return GPTJForCausalLM(cfg)


def llama_model():
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=88, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      attention_bias=False, initializer_range=WEIGHT_STD,
                      attn_implementation="eager")
    return LlamaForCausalLM(cfg)


# per architecture: builder, blocks, W_in / W_out modules of a block, whether their weight is stored
# (in, out) as GPT-2's Conv1D (so the math-orientation gradient is its transpose), save options
ARCHS = {
    "gpt2": dict(build=gpt2_model, blocks=lambda m: m.transformer.h,
                 w_in=lambda b: b.mlp.c_fc, w_out=lambda b: b.mlp.c_proj, conv1d=True,
                 save_dtype=torch.float32, shard=None),
    "gptj": dict(build=gptj_model, blocks=lambda m: m.transformer.h,
                 w_in=lambda b: b.mlp.fc_in, w_out=lambda b: b.mlp.fc_out, conv1d=False,
                 save_dtype=torch.bfloat16, shard=None),
    "llama": dict(build=llama_model, blocks=lambda m: m.model.layers,
                  w_in=lambda b: b.mlp.gate_proj, w_out=lambda b: b.mlp.down_proj, conv1d=False,
                  save_dtype=torch.float32, shard="100KB"),
}


def randomize(model):
    """Every parameter random: norm weights 1 + std·N(0,1), everything else std·N(0,1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = any(s in name for s in ("ln_", "norm"))
            if is_norm and name.endswith("weight"):
                p.copy_(1.0 + WEIGHT_STD * torch.randn_like(p))
            else:
                p.copy_(WEIGHT_STD * torch.randn_like(p))


def math_orient(t, conv1d):
    """Conv1D stores (in, out); math orientation is (out, in) as nn.Linear stores it."""
    return t.t().contiguous() if conv1d else t.contiguous()


class Probe:
    """Forward hooks: capture W_out's input and block PROBE_LAYER's output; add deltas if set."""

    def __init__(self, model, spec):
        self.blocks = spec["blocks"](model)
        self.w_out = spec["w_out"](self.blocks[PROBE_LAYER])
        self.deltas = None  # {layer: (d,) tensor} added at DELTA_POS of that block's output
        self.key = self.h = None
        self.handles = [
            self.w_out.register_forward_pre_hook(self._capture_key),
            self.blocks[PROBE_LAYER].register_forward_hook(self._capture_h),
        ] + [self.blocks[l].register_forward_hook(self._adder(l)) for l in (0, PROBE_LAYER)]

    def _capture_key(self, module, args):
        self.key = args[0][0].detach().clone()

    def _capture_h(self, module, args, out):
        self.h = out[0][0].detach().clone()

    def _adder(self, layer):
        def hook(module, args, out):
            if self.deltas is None:
                return None
            h = out[0]
            onehot = torch.zeros(1, h.shape[1], 1, dtype=h.dtype)
            onehot[0, DELTA_POS, 0] = 1.0
            # h'[t] = h[t] + [t == DELTA_POS]·delta
            return (h + onehot * self.deltas[layer],) + tuple(out[1:])
        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


def logits_of(model, ids):
    return model(input_ids=ids.view(1, -1).long(), use_cache=False).logits[0]


def greedy(model, prompt, steps):
    ids = prompt.long().clone()
    margins = []
    with torch.no_grad():
        for _ in range(steps):
            last = logits_of(model, ids)[-1]
            top2 = torch.topk(last, 2).values
            margins.append(float(top2[0] - top2[1]))
            ids = torch.cat([ids, last.argmax().view(1)])
    return ids[len(prompt):].to(torch.int32), min(margins)


def loss_of(all_logits, seqs, ref_logp):
    """L = (1/n) Σ_i (1/2) Σ_{t∈{len−2,len−1}} −log p(ids_i[t] | row t−1) + KL_WEIGHT·KL(p ‖ ref) at
    the last row of the last sequence."""
    total = 0.0
    for logits, ids in zip(all_logits, seqs):
        logp = F.log_softmax(logits, dim=-1)
        n = len(ids)
        nll = -(logp[n - 3, ids[n - 2]] + logp[n - 2, ids[n - 1]]) / 2
        total = total + nll / len(seqs)
    logp_last = F.log_softmax(all_logits[-1][-1], dim=-1)
    kl = (logp_last.exp() * (logp_last - ref_logp)).sum()
    return total + KL_WEIGHT * kl


def delta_loss(model, spec, seqs, deltas, ref_logp):
    """The loss L and each sequence's logits, every sequence run alone with the deltas added."""
    probe = Probe(model, spec)
    probe.deltas = deltas
    all_logits = [logits_of(model, ids) for ids in seqs]
    probe.remove()
    return loss_of(all_logits, seqs, ref_logp), all_logits


def references(model, spec, data):
    seqs = [data[f"ids_{i}"] for i in range(len(LENGTHS))]
    probe = Probe(model, spec)
    out = {}
    with torch.no_grad():
        for i, ids in enumerate(seqs):
            out[f"logits_{i}"] = logits_of(model, ids)
            out[f"key_l{PROBE_LAYER}_{i}"] = probe.key
            out[f"h_l{PROBE_LAYER}_{i}"] = probe.h
    probe.remove()
    greedy_ids, margin = greedy(model, seqs[0], GREEDY_STEPS)
    out["greedy_ids"] = greedy_ids

    deltas = {l: data[f"delta_l{l}"].clone().requires_grad_(True) for l in (0, PROBE_LAYER)}
    model.zero_grad(set_to_none=True)
    loss, all_logits = delta_loss(model, spec, seqs, deltas, data["ref_logp"])
    loss.backward()

    for i, logits in enumerate(all_logits):
        out[f"logits_delta_{i}"] = logits.detach()
    out["loss"] = loss.detach().view(1)
    out["grad_delta_l0"] = deltas[0].grad
    out[f"grad_delta_l{PROBE_LAYER}"] = deltas[PROBE_LAYER].grad
    block = spec["blocks"](model)[PROBE_LAYER]
    for tag, module in (("wout", spec["w_out"](block)), ("win", spec["w_in"](block))):
        out[f"grad_{tag}_l{PROBE_LAYER}"] = math_orient(module.weight.grad, spec["conv1d"])
        if module.bias is not None:
            out[f"grad_b{tag[1:]}_l{PROBE_LAYER}"] = module.bias.grad.clone()
    model.zero_grad(set_to_none=True)
    return {k: v.detach().contiguous() for k, v in out.items()}, margin


def check_gradients(model, spec, data, refs, eps=1e-2):
    """Worst relative error of each stored gradient against a central finite difference of L in
    float64, (L(x + eps·u) − L(x − eps·u)) / (2·eps) vs ⟨grad, u⟩, along a unit direction u
    between the gradient and a random one."""
    m64 = copy.deepcopy(model).double()
    seqs = [data[f"ids_{i}"] for i in range(len(LENGTHS))]
    deltas = {l: data[f"delta_l{l}"].double() for l in (0, PROBE_LAYER)}
    ref_logp = data["ref_logp"].double()
    block = spec["blocks"](m64)[PROBE_LAYER]
    targets = {"grad_delta_l0": deltas[0], f"grad_delta_l{PROBE_LAYER}": deltas[PROBE_LAYER]}
    for tag, module in (("wout", spec["w_out"](block)), ("win", spec["w_in"](block))):
        weight = module.weight.t() if spec["conv1d"] else module.weight  # math orientation (view)
        targets[f"grad_{tag}_l{PROBE_LAYER}"] = weight
        if module.bias is not None:
            targets[f"grad_b{tag[1:]}_l{PROBE_LAYER}"] = module.bias
    g = torch.Generator().manual_seed(2)
    worst = 0.0
    with torch.no_grad():
        for name, x in targets.items():  # x is a view of the float64 value, perturbed in place
            grad = refs[name].double()
            r = torch.randn(x.shape, generator=g, dtype=torch.float64)
            u = grad / grad.norm() + r / r.norm()  # partly along grad: ⟨grad, u⟩ well above noise
            u /= u.norm()
            x.add_(eps * u)
            up = float(delta_loss(m64, spec, seqs, deltas, ref_logp)[0])
            x.sub_(2 * eps * u)
            down = float(delta_loss(m64, spec, seqs, deltas, ref_logp)[0])
            x.add_(eps * u)
            analytic = float((grad * u).sum())
            worst = max(worst, abs((up - down) / (2 * eps) - analytic) / abs(analytic))
    return worst


def make_inputs(d):
    g = torch.Generator().manual_seed(1)
    data = {f"ids_{i}": torch.randint(0, VOCAB, (n,), generator=g, dtype=torch.int32)
            for i, n in enumerate(LENGTHS)}
    data["delta_l0"] = DELTA_STD * torch.randn(d, generator=g)
    data[f"delta_l{PROBE_LAYER}"] = DELTA_STD * torch.randn(d, generator=g)
    data["ref_logp"] = F.log_softmax(torch.randn(VOCAB, generator=g), dim=-1)
    return data


def build_fixture(arch, out_dir):
    spec = ARCHS[arch]
    torch.manual_seed(0)
    model = spec["build"]()
    randomize(model)
    model.eval()
    if spec["save_dtype"] != torch.float32:  # weights exactly as stored, computed in float32
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(spec["save_dtype"]).float())

    folder = os.path.join(out_dir, arch)
    shutil.rmtree(folder, ignore_errors=True)
    to_save = copy.deepcopy(model).to(spec["save_dtype"])
    kwargs = {"max_shard_size": spec["shard"]} if spec["shard"] else {}
    to_save.save_pretrained(folder, safe_serialization=True, **kwargs)

    data = make_inputs(model.config.hidden_size)
    refs, margin = references(model, spec, data)
    tensors = {**data, **refs}
    save_file(tensors, os.path.join(folder, "reference.safetensors"))

    # check: a fresh load of the saved checkpoint reproduces the stored logits
    reloaded = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    stored = load_file(os.path.join(folder, "reference.safetensors"))
    with torch.no_grad():
        diff = max(float((logits_of(reloaded, stored[f"ids_{i}"]) - stored[f"logits_{i}"]).abs()
                         .max()) for i in range(len(LENGTHS)))
    fd_error = check_gradients(model, spec, data, refs)
    causal = max(float((refs[f"logits_delta_{i}"] - refs[f"logits_{i}"])[:DELTA_POS].abs().max())
                 for i in range(len(LENGTHS)))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{arch}: files {sorted(os.listdir(folder))}, {size} bytes")
    print(f"  reload max|Δlogits| {diff:.3g}; loss {float(refs['loss'][0]):.6f}; "
          f"|logits_0| max {float(refs['logits_0'].abs().max()):.3f}; "
          f"|logits_delta_0 − logits_0| max "
          f"{float((refs['logits_delta_0'] - refs['logits_0']).abs().max()):.3g}")
    print(f"  |grad_delta_l0| {float(refs['grad_delta_l0'].norm()):.4g}, "
          f"|grad_delta_l1| {float(refs['grad_delta_l1'].norm()):.4g}, "
          f"|grad_wout_l1| {float(refs['grad_wout_l1'].norm()):.4g}, "
          f"|grad_win_l1| {float(refs['grad_win_l1'].norm()):.4g}")
    print(f"  finite-difference worst relative error {fd_error:.3g}; "
          f"rows before position {DELTA_POS} changed by the deltas {causal:.3g}")
    print(f"  greedy_ids {refs['greedy_ids'].tolist()}, smallest top-2 logit margin {margin:.3g}")
    # a reload runs the same float32 code on the same weights, so it must agree to rounding (1e-5);
    # float32 gradients vs float64 central differences: truncation ~eps² (1e-4) plus GPT-J's float32
    # attention scores (loss noise ~1e-7, /eps → 1e-5) stay below 1e-3 relative; a wrong gradient
    # (a missed term, a transposed matrix) is off by far more
    if diff > 1e-5 or fd_error > 1e-3 or causal != 0.0:
        raise SystemExit(f"{arch}: reference check failed (reload {diff}, "
                         f"gradients {fd_error}, causal {causal})")


def main():
    parser = argparse.ArgumentParser(description="Writes tiny checkpoints and reference states.")
    parser.add_argument("--out", default=os.path.join("tests", "fixtures"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for arch in ARCHS:
        build_fixture(arch, args.out)


if __name__ == "__main__":
    main()
