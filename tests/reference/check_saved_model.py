#!/usr/bin/env python3
# Checks that model folders written by kedit (model_save_hf) load in transformers and compute the
# logits kedit computed for the same token ids. Each CASE.json is
#   {"model": "FOLDER", "ids": [[id, ...], ...], "logits": [[[V floats], ...], ...]}
# with one logits row per token of each sequence (kedit's forward of the model it saved). Each sequence
# is run alone (batch of one, float32, eager attention). Prints the largest |difference| per case and
# exits non-zero when one exceeds --tol, or when a folder does not load.
#
# tests/test_model_save.c writes the cases and runs this script when python3 can import transformers
# and torch; it can also be run by hand:
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/check_saved_model.py CASE.json...
#
# Pinned versions (what it was checked with): torch 2.15.0, transformers 4.46.3, safetensors 0.8.0,
# Python 3.11.
import argparse
import json
import sys

import torch
from transformers import AutoModelForCausalLM

# Both sides compute in float32 with values of order 1-10; summation orders differ (OpenBLAS vs PyTorch
# kernels), a few ulp per op, ~1e-6 relative over a few layers. A wrong name, orientation, fused split or
# rotary layout moves logits by far more than 1e-2 (see tests/test_model_save.c).
DEFAULT_TOL = 1e-4


def check(case_path, tol):
    with open(case_path) as f:
        case = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(case["model"], torch_dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    worst = 0.0
    with torch.no_grad():
        for ids, expected in zip(case["ids"], case["logits"], strict=True):
            logits = model(torch.tensor([ids])).logits[0]
            worst = max(worst, (logits - torch.tensor(expected)).abs().max().item())
    ok = worst <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {case['model']} ({type(model).__name__}): "
          f"max |logits - kedit| = {worst:.3g} (tolerance {tol:g})")
    return ok


def main():
    ap = argparse.ArgumentParser(description="compare transformers logits of saved folders with kedit's")
    ap.add_argument("cases", nargs="+", help="case JSON files")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL)
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = [check(c, args.tol) for c in args.cases]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
