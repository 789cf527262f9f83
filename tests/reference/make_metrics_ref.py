#!/usr/bin/env python3
# Expected values of kedit's evaluation metrics (host/run/metrics.c), computed with PyTorch/transformers on
# the tiny random GPT-2 of tests/fixtures/gpt2, each sequence run alone (no padding):
#   - teacher-forced scoring (editing-spec §6): x = prompt ‖ target, the argmax at rows P−1 … |x|−2
#     against the tokens at P … |x|−1, and the mean NLL of the target tokens;
#   - request scores (efficacy, paraphrase, specificity under both protocols, target probability
#     exp(−mean NLL), ROME's success P(new) > P(true)) before and after an "edit": a fixed random ΔW
#     added to layer 1's W_out (stored in delta.safetensors in math orientation, d × d_ff);
#   - perplexity over fixed windows of a token stream (each window predicts its tokens 1 … w−1);
#   - the token ids of real requests under the GPT-2 and Llama-2 tokenizers (`tokenizers` library, files
#     from the shared data folder): prompts as encoded (BOS where the tokenizer adds it), targets with a
#     leading space and no leading BOS (editing-spec §10.10).
# Targets are built partly from the model's own greedy continuation so that accuracies are fractional.
#
# Pinned versions: torch 2.15.0 (CPU), transformers 4.46.3, safetensors 0.8.0, numpy 2.4.6,
# tokenizers 0.20.3, Python 3.
#
# Run from the repository root (reads ../shared/data, or KEDIT_DATA, for the tokenizers and datasets):
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_metrics_ref.py [--out tests/fixtures/metrics]
import argparse
import json
import math
import os

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

SEED = 3
N_REQUESTS = 6
DELTA_STD = 0.1      # std of ΔW: changes 7 of the 23 scored locality argmaxes, keeps the rest
EDIT_LAYER = 1
PPL_STREAM, PPL_WINDOW = 150, 40
GREEDY_P = 0.6       # probability that a target token is the model's greedy choice


def score(model, prompt, target, expect=None):
    """argmax at the target rows, token accuracy against expect (default the target), mean target NLL,
    and the gap between the two largest logits at those rows"""
    x = torch.tensor([prompt + target])
    with torch.no_grad():
        logits = model(x).logits[0]
    rows = logits[len(prompt) - 1:len(prompt) + len(target) - 1]
    am = torch.argmax(rows, dim=-1).tolist()
    ref = expect if expect is not None else target
    acc = sum(a == b for a, b in zip(am, ref)) / len(target)
    logp = torch.log_softmax(rows.double(), dim=-1)
    nll = -sum(logp[j, t].item() for j, t in enumerate(target)) / len(target)
    top2 = torch.topk(rows, 2, dim=-1).values
    return dict(argmax=am, acc=acc, nll=nll), (top2[:, 0] - top2[:, 1]).min().item()


def greedyish(model, prompt, n, g, vocab):
    out = []
    for _ in range(n):
        with torch.no_grad():
            nxt = int(torch.argmax(model(torch.tensor([prompt + out])).logits[0, -1]))
        if torch.rand(1, generator=g).item() > GREEDY_P:
            nxt = int(torch.randint(0, vocab, (1,), generator=g))
        out.append(nxt)
    return out


def rand_ids(g, lo, hi, vocab):
    n = int(torch.randint(lo, hi + 1, (1,), generator=g))
    return torch.randint(0, vocab, (n,), generator=g).tolist()


def make_requests(model, g, vocab):
    reqs = []
    for _ in range(N_REQUESTS):
        prompt = rand_ids(g, 2, 7, vocab)
        r = dict(prompt=prompt, target_new=greedyish(model, prompt, int(torch.randint(1, 5, (1,), generator=g)), g, vocab),
                 target_true=rand_ids(g, 1, 4, vocab), rephrase=[], loc=[], loc_ans=[])
        for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
            r["rephrase"].append(rand_ids(g, 2, 8, vocab))
        for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
            loc = rand_ids(g, 2, 8, vocab)
            r["loc"].append(loc)
            r["loc_ans"].append(greedyish(model, loc, int(torch.randint(1, 5, (1,), generator=g)), g, vocab))
        reqs.append(r)
    return reqs


def request_scores(model, r, loc_ref):
    """the per-request metrics, and the smallest top-2 logit gap met"""
    gaps = []

    def sc(p, t, e=None):
        s, gap = score(model, p, t, e)
        gaps.append(gap)
        return s

    new, true = sc(r["prompt"], r["target_new"]), sc(r["prompt"], r["target_true"])
    par = [sc(p, r["target_new"])["acc"] for p in r["rephrase"]]
    spe_memit = [sc(p, a)["acc"] for p, a in zip(r["loc"], r["loc_ans"])]
    spe_ee = [sc(p, a, ref)["acc"] for p, a, ref in zip(r["loc"], r["loc_ans"], loc_ref)]
    out = dict(efficacy=new["acc"], paraphrase=sum(par) / len(par), specificity_easyedit=sum(spe_ee) / len(spe_ee),
               specificity_memit=sum(spe_memit) / len(spe_memit), target_prob=math.exp(-new["nll"]),
               nll_new=new["nll"], nll_true=true["nll"], success=new["nll"] < true["nll"])
    return out, min(gaps)


def perplexity(model, ids, w):
    total, count = 0.0, 0
    for s in range(0, len(ids), w):
        win = ids[s:s + w]
        if len(win) < 2:
            continue
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([win])).logits[0].double(), dim=-1)
        total -= sum(logp[j, win[j + 1]].item() for j in range(len(win) - 1))
        count += len(win) - 1
    return math.exp(total / count)


def tokenized_requests(data):
    """ids of real requests under both tokenizers: prompts encoded as is, targets with a leading space
    (unless they have one) and the leading BOS dropped"""
    zsre = json.load(open(os.path.join(data, "zsre/zsre_mend_train_1k.json"), encoding="utf-8"))
    cf = json.load(open(os.path.join(data, "counterfact/counterfact_val_1919.json"), encoding="utf-8"))
    texts = [dict(prompt=zsre[i]["src"], target_new=zsre[i]["alt"], target_true=zsre[i]["answers"][0],
                  rephrase=[zsre[i]["rephrase"]], loc=[zsre[i]["loc"]], loc_ans=[zsre[i]["loc_ans"]],
                  record=i, file="zsre/zsre_mend_train_1k.json") for i in (0, 174, 534)]
    texts.append(dict(prompt=cf[0]["prompt"], target_new=cf[0]["target_new"], target_true=cf[0]["ground_truth"],
                      rephrase=[cf[0]["rephrase_prompt"]], loc=[cf[0]["locality_prompt"]],
                      loc_ans=[cf[0]["locality_ground_truth"]], record=0, file="counterfact/counterfact_val_1919.json"))
    out = []
    for name in ("gpt2", "llama2"):
        tok = Tokenizer.from_file(os.path.join(data, "tokenizers", name, "tokenizer.json"))
        bos = tok.token_to_id("<s>") if name == "llama2" else None

        def target(t):
            ids = tok.encode(t if t.startswith(" ") else " " + t).ids
            return ids[1:] if ids and ids[0] == bos else ids

        for t in texts:
            out.append(dict(tokenizer=name, file=t["file"], record=t["record"], prompt=tok.encode(t["prompt"]).ids,
                            target_new=target(t["target_new"]), target_true=target(t["target_true"]),
                            rephrase=[tok.encode(p).ids for p in t["rephrase"]], loc=[tok.encode(p).ids for p in t["loc"]],
                            loc_ans=[target(a) for a in t["loc_ans"]]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/metrics")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = os.environ.get("KEDIT_DATA") or "../shared/data"
    model = GPT2LMHeadModel.from_pretrained("tests/fixtures/gpt2", attn_implementation="eager").float().eval()
    cfg = model.config
    g = torch.Generator().manual_seed(SEED)
    reqs = make_requests(model, g, cfg.vocab_size)
    stream = torch.randint(0, cfg.vocab_size, (PPL_STREAM,), generator=g).tolist()
    delta = DELTA_STD * torch.randn(cfg.n_embd, cfg.n_inner, generator=g)  # math orientation (d, d_ff)

    loc_ref = [[score(model, p, a)[0]["argmax"] for p, a in zip(r["loc"], r["loc_ans"])] for r in reqs]
    pre = [request_scores(model, r, ref) for r, ref in zip(reqs, loc_ref)]
    ppl_pre = perplexity(model, stream, PPL_WINDOW)
    with torch.no_grad():  # GPT-2's Conv1D stores c_proj as (d_ff, d): the transpose of math orientation
        model.transformer.h[EDIT_LAYER].mlp.c_proj.weight += delta.T
    post = [request_scores(model, r, ref) for r, ref in zip(reqs, loc_ref)]
    ppl_post = perplexity(model, stream, PPL_WINDOW)
    post_ref = [[score(model, p, a)[0]["argmax"] for p, a in zip(r["loc"], r["loc_ans"])] for r in reqs]

    changed = sum(a != b for R0, R1 in zip(loc_ref, post_ref) for s0, s1 in zip(R0, R1) for a, b in zip(s0, s1))
    total = sum(len(s) for R in loc_ref for s in R)
    min_gap = min(x[1] for x in pre + post)
    print(f"loc argmax changed by the edit: {changed}/{total}; smallest top-2 logit gap {min_gap:.4g}")
    print("pre  efficacy", [round(p[0]["efficacy"], 3) for p in pre], "ppl %.4f" % ppl_pre)
    print("post efficacy", [round(p[0]["efficacy"], 3) for p in post], "ppl %.4f" % ppl_post)
    assert 0 < changed < total, "the edit must change some argmaxes and keep others"
    assert min_gap > 1e-3, "an argmax is too close to a tie for float32 comparison"

    ref = dict(seed=SEED, edit_layer=EDIT_LAYER, ppl_window=PPL_WINDOW, ppl_stream=stream, min_top2_gap=min_gap,
               requests=reqs, loc_ref=loc_ref, pre=[p[0] for p in pre], post=[p[0] for p in post],
               ppl_pre=ppl_pre, ppl_post=ppl_post, tokenized=tokenized_requests(data))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=None, separators=(",", ":"))
        f.write("\n")
    save_file({"delta_wout_l1": delta.contiguous()}, os.path.join(args.out, "delta.safetensors"))


if __name__ == "__main__":
    main()
