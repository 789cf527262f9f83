#!/usr/bin/env python3
# Reference states of the tiny fixture models with their linear layers' weights held in bfloat16, as
# `model_load_as(..., KT_BF16, ...)` holds them: every nn.Linear / Conv1D weight (q, k, v, o, the MLP's
# and an untied lm_head) rounded to bf16 (torch's round to nearest even) and widened back to float32;
# embeddings, positions, norms and biases untouched. Everything else is make_fixtures.py's references()
# on the same inputs, so kedit computing in float32 from those weights must reproduce them to float32
# rounding. Writes tests/fixtures/{gpt2,gptj,llama}/reference_bf16.safetensors (same tensor names as
# reference.safetensors; tests/fixtures/README.md).
#
# Pinned versions: those of make_fixtures.py (torch 2.15.0, transformers 4.46.3, safetensors 0.8.0).
#
# Run from the repository root, after make_fixtures.py (a few seconds):
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_bf16_ref.py
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
from transformers.pytorch_utils import Conv1D

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

INPUTS = [f"ids_{i}" for i in range(len(mf.LENGTHS))] + ["delta_l0", f"delta_l{mf.PROBE_LAYER}", "ref_logp"]


def round_linears(model):
    """Every linear weight except a head tied to the embedding → bf16 → float32; returns how many."""
    embedding = model.get_input_embeddings().weight
    n = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, Conv1D)) and m.weight is not embedding:
                m.weight.copy_(m.weight.to(torch.bfloat16).float())
                n += 1
    return n


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for arch, spec in mf.ARCHS.items():
        folder = os.path.join("tests", "fixtures", arch)
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        f32 = load_file(os.path.join(folder, "reference.safetensors"))
        data = {k: f32[k] for k in INPUTS}
        n = round_linears(model)
        refs, margin = mf.references(model, spec, data)
        save_file({**data, **refs}, os.path.join(folder, "reference_bf16.safetensors"))
        moved = max(float((refs[f"logits_{i}"] - f32[f"logits_{i}"]).abs().max()) for i in range(len(mf.LENGTHS)))
        same_greedy = torch.equal(refs["greedy_ids"], f32["greedy_ids"])
        print(f"{arch}: {n} linear weights rounded; max |logits_bf16 − logits_f32| {moved:.3g}; "
              f"greedy {'unchanged' if same_greedy else 'changed'} (smallest top-2 margin {margin:.3g})")


if __name__ == "__main__":
    main()
