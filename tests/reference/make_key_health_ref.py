#!/usr/bin/env python3
# Reference for `kedit stats --report` (tests/test_cov_health.c), computed with PyTorch/transformers,
# independent of kedit: the health of the bundled fact-world model's keys over its covariance corpus.
#
#  tests/fixtures/factworld/key_health.json  for each layer l of models/factworld/gpt2: C = Σ k kᵀ / #tokens
#      of the W_out input (the input of mlp.c_proj) over models/factworld/data/corpus.txt, cut as kedit cuts
#      a corpus (documents separated by blank lines, each tokenised alone and split into consecutive windows
#      of n_positions tokens), accumulated in float64 and rounded to float32 as kedit's statistics cache
#      holds it; then from C: dead inputs (C_ii < 1e-6·max C_jj), small eigenvalues (λ < 1e-6·λ_max), the
#      directions holding 99% of Σλ, the effective rank exp(−Σ p log p), p = λ/Σλ, λ_max and λ_min. Beside
#      each count, how many inputs or eigenvalues lie so near the threshold that float32 noise may move them
#      across it (the test's tolerance): C_ii within ±1% of the threshold, λ within a factor 2 of it, and
#      directions whose cumulative share of Σλ lies within ±1e-4 of 0.99.
#
# Pinned versions (what produced the committed file): torch 2.15.0, transformers 5.24.0, tokenizers 0.23.3
#
# Run from the repository root (about a minute):
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_key_health_ref.py
import json
import math

import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

MODEL, CORPUS, OUT = "models/factworld/gpt2", "models/factworld/data/corpus.txt", "tests/fixtures/factworld/key_health.json"
REL = 1e-6


def documents(text):
    """kedit's corpus_documents for a text without WikiText headings: blank-line separated, lines kept."""
    docs, cur = [], []
    for line in text.split("\n"):
        if line.strip() == "":
            if cur:
                docs.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    if cur:
        docs.append("\n".join(cur))
    return docs


@torch.no_grad()
def main():
    torch.set_num_threads(2)
    model = GPT2LMHeadModel.from_pretrained(MODEL, dtype=torch.float32).eval()  # the file is bf16
    tok = Tokenizer.from_file(MODEL + "/tokenizer.json")
    n_ctx, n_layer = model.config.n_positions, model.config.n_layer
    windows = []
    for doc in documents(open(CORPUS, encoding="utf-8").read()):
        ids = tok.encode(doc).ids
        windows += [ids[i:i + n_ctx] for i in range(0, len(ids), n_ctx)]
    keys = {}
    hooks = [model.transformer.h[l].mlp.c_proj.register_forward_pre_hook(
        lambda mod, inp, l=l: keys.__setitem__(l, inp[0])) for l in range(n_layer)]
    sums = [None] * n_layer
    n_tokens = 0
    for w in windows:  # one window a forward: no padding to mask
        model(torch.tensor([w]))
        n_tokens += len(w)
        for l in range(n_layer):
            k = keys[l][0].double()
            sums[l] = k.T @ k if sums[l] is None else sums[l] + k.T @ k
    for h in hooks:
        h.remove()
    layers = []
    for l in range(n_layer):
        C = (sums[l] / n_tokens).float().double()  # as kedit's cache holds it: float32
        diag = torch.diagonal(C)
        lam = torch.linalg.eigvalsh(C)
        lmax = float(lam[-1])
        desc = lam.flip(0)
        pos = desc[desc > 0]
        p = pos / pos.sum()
        share = torch.cumsum(pos, 0) / pos.sum()
        ratio = diag / diag.max()
        layers.append({
            "layer": l, "d_ff": C.shape[0],
            "dead_inputs": int((diag < REL * diag.max()).sum()),
            "dead_inputs_near": int(((ratio > 0.99 * REL) & (ratio < 1.01 * REL)).sum()),
            "small_eigenvalues": int((lam < REL * lmax).sum()),
            "small_eigenvalues_near": int(((lam > 0.5 * REL * lmax) & (lam < 2 * REL * lmax)).sum()),
            "directions_99": int((share < 0.99).sum()) + 1,
            "directions_99_near": int(((share > 0.99 - 1e-4) & (share < 0.99 + 1e-4)).sum()),
            "effective_rank": math.exp(float(-(p * p.log()).sum())),
            "lambda_max": lmax, "lambda_min": float(lam[0]),
        })
        print(layers[-1])
    with open(OUT, "w") as f:
        json.dump({"model": MODEL, "corpus": CORPUS, "n_tokens": n_tokens, "layers": layers}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
