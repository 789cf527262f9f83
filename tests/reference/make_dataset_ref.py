#!/usr/bin/env python3
# The expected requests of kedit's dataset loader (host/run/dataset.c), computed independently from the
# shared data files with Python's json module: for a few selections (format, protocol, shuffle seed,
# offset, count) the chosen records and every field of their requests. The selection rule is editing-spec
# §10.2: the valid records in file order, shuffled whole by a splitmix64-driven Fisher–Yates (for
# i = n−1 … 1: j = next % (i + 1), swap) when a seed is given, then n taken after the offset.
#
# Pinned versions: Python 3 standard library only (json).
#
# Run from the repository root (reads ../shared/data, or KEDIT_DATA):
#   python3 tests/reference/make_dataset_ref.py [--out tests/fixtures/metrics/dataset_ref.json]
import argparse
import json
import os

MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def shuffle(idx, seed):
    state = seed
    for i in range(len(idx) - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        idx[i], idx[j] = idx[j], idx[i]


def request_zsre(i, r, protocol):
    subject, prompt = r["subject"], r["src"]
    return dict(record=i, case_id=i, subject=subject, prompt=prompt,
                prompt_template=prompt.replace(subject, "{}", 1),
                target_new=r["answers"][0] if protocol == "memit" else r["alt"],
                target_true=r["answers"][0], rephrase=[r["rephrase"]], loc_prompt=[r["loc"]],
                loc_answer=[r["loc_ans"]])


def request_counterfact(i, r, protocol):
    subject, prompt = r["subject"], r["prompt"]
    return dict(record=i, case_id=r["case_id"], subject=subject, prompt=prompt,
                prompt_template=prompt.replace(subject, "{}", 1), target_new=r["target_new"],
                target_true=r["ground_truth"], rephrase=[r["rephrase_prompt"]],
                loc_prompt=[r["locality_prompt"]], loc_answer=[r["locality_ground_truth"]])


def request_rome(i, r, protocol):
    rw = r["requested_rewrite"]
    return dict(record=i, case_id=r["case_id"], subject=rw["subject"],
                prompt=rw["prompt"].replace("{}", rw["subject"], 1), prompt_template=rw["prompt"],
                target_new=rw["target_new"]["str"], target_true=rw["target_true"]["str"],
                rephrase=r["paraphrase_prompts"], loc_prompt=r["neighborhood_prompts"],
                loc_answer=[rw["target_true"]["str"]] * len(r["neighborhood_prompts"]))


READERS = {"zsre": request_zsre, "counterfact": request_counterfact, "counterfact-rome": request_rome}

# (file under the data folder, format, protocol, seed or None, offset, n)
SELECTIONS = [
    ("zsre/zsre_mend_train_1k.json", "zsre", "easyedit", None, 0, 6),
    ("zsre/zsre_mend_train_1k.json", "zsre", "memit", 42, 0, 6),
    ("zsre/zsre_mend_train_1k.json", "zsre", "easyedit", None, 530, 8),  # record 534 has alt ""
    ("counterfact/counterfact_val_1919.json", "counterfact", "easyedit", 7, 5, 6),
    ("counterfact/counterfact_rome_format_275.json", "counterfact-rome", "easyedit", None, 272, -1),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/metrics/dataset_ref.json")
    args = ap.parse_args()
    data = os.environ.get("KEDIT_DATA") or "../shared/data"
    out = []
    for rel, fmt, protocol, seed, offset, n in SELECTIONS:
        records = json.load(open(os.path.join(data, rel), encoding="utf-8"))
        reqs = [READERS[fmt](i, r, protocol) for i, r in enumerate(records)]
        for q in reqs:  # every record of these files is valid: the subject occurs in its prompt
            assert q["subject"] and q["subject"] in q["prompt"], (rel, q["record"])
        idx = list(range(len(reqs)))
        if seed is not None:
            shuffle(idx, seed)
        take = len(idx) - offset if n < 0 else n
        chosen = [reqs[i] for i in idx[offset:offset + take]]
        out.append(dict(file=rel, format=fmt, protocol=protocol, shuffle=seed is not None,
                        seed=seed or 0, offset=offset, n_edits=n, n_records=len(records), requests=chosen))
        print(rel, fmt, protocol, seed, offset, n, "->", [q["record"] for q in chosen])
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
