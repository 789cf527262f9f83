#!/usr/bin/env python3
"""scripts/wikipedia-sample.py: the references' 100,000-document Wikipedia sample as JSON Lines.

Writes one {"text": ...} record a line, in the order the references visit the documents, for
`stats.corpus` with `stats.truncate` "document" (README.md, "The statistics corpus: documents and
windows"). It prints the number of documents, their characters and the SHA-256 of the written file, so
that two people who made the sample can compare it.

Written against Python 3.11 and `datasets` 3.6.0 (PyPI). The hub download needs a `datasets` that still
runs dataset scripts: 2.x or 3.x (3.x is given trust_remote_code=True); 4.0 dropped scripts, and this
script refuses to try with it (`pip install "datasets>=2.16,<4"`). `--source` needs no `datasets` at all.

What the references do (ROME's and MEMIT's `layer_stats`, copied by EasyEdit and the D4S code; read, not
run, here):
  - corpus: the Hugging Face `wikipedia` dataset, English, split "train", whole articles (field `text`).
    The configuration differs between them: MEMIT and EasyEdit (current) load "20220301.en", ROME and
    EasyEdit before its late-2024 change load "20200501.en", which the hub no longer serves. The default
    here is 20220301.en (about 6.46 million articles); --config chooses another.
  - choice: `tally(..., sample_size=100000, random_sample=1)` builds a fixed random subset sampler: the
    indices 0..N-1 of the whole train split (N its length) are shuffled in place by Python's standard
    `random.Random(1).shuffle`, and the first 100,000 of the shuffled list are the sample, visited in that
    order. Only the seed and the split's length and row order matter, so with the same dataset files the
    sample is the same one. This script does exactly that (--seed, default 1; --n, default 100,000) and
    writes the documents in that order.
  - then (done by kedit, not here): each document is tokenised on its own and cut to its first window of
    the model's context length (n_positions: 1,024 for GPT-2 XL, 2,048 for GPT-J; EasyEdit takes
    max_position_embeddings for Llama), with the tokenizer's own special tokens (Llama's BOS); the rest
    of a long document is dropped. The references feed the documents in batches of 100, each sorted
    longest first and cut into sub-batches of at most three windows' tokens; that changes only the order
    of the sums, not which tokens count. C is accumulated in float32 (mom2_dtype) over every token.

Where this cannot match the references exactly:
  - the dataset snapshot: the sample is the reference's one only if the `wikipedia` files the hub serves
    now are the ones the reference runs read (same articles, same row order). 20200501.en cannot be
    loaded from the hub's `wikipedia` any more; a copy under another name is only as good as its row
    order. A different snapshot (e.g. "wikimedia/wikipedia" 20231101.en) gives a different sample of the
    same kind, not the reference's.
  - Python's `random`: the shuffle is the standard library's and has stayed the same across Python 3
    releases; another implementation of Python may differ.
  - documents that tokenise to nothing add nothing in either; a Llama tokenizer turns an empty document
    into a lone BOS in the reference, which kedit does not count (such articles are rare or absent).

Usage:
  python3 scripts/wikipedia-sample.py --out $KEDIT_DATA/text/wikipedia-20220301.en-100k.jsonl
  python3 scripts/wikipedia-sample.py --source FILE.jsonl --n 50 --out sample.jsonl   # offline test
"""

import argparse
import hashlib
import json
import os
import random
import sys

DEFAULT_DATASET = "wikipedia"
DEFAULT_CONFIG = "20220301.en"


def sample_indices(n_rows, n, seed):
    """the first n of range(n_rows) shuffled by random.Random(seed), in shuffled order (the references'
    fixed random subset sampler; n larger than n_rows takes every row, as theirs does after a warning)"""
    order = list(range(n_rows))
    random.Random(seed).shuffle(order)
    return order[:n]


class JsonlRows:
    """a local JSON Lines file as rows with a string field "text" (blank lines skipped)"""

    def __init__(self, path):
        self.rows = []
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}: line {line_no}: not JSON ({e})")
                if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                    sys.exit(f'{path}: line {line_no}: the record has no string field "text"')
                self.rows.append(rec["text"])

    def __len__(self):
        return len(self.rows)

    def texts(self, indices):
        for i in indices:
            yield self.rows[i]


class HubRows:
    """the train split of a Hugging Face dataset (downloaded and cached by `datasets`)"""

    def __init__(self, name, config):
        try:
            import datasets
        except ImportError:
            sys.exit('the hub download needs the `datasets` library: pip install "datasets>=2.16,<4"')
        major = int(datasets.__version__.split(".")[0])
        kwargs = {}
        if name == DEFAULT_DATASET:
            if major >= 4:
                sys.exit(f"datasets {datasets.__version__} no longer runs dataset scripts, which the hub's "
                         f'"{name}" needs: pip install "datasets>=2.16,<4" (this script was written '
                         f"against 3.6.0)")
            if major == 3:
                kwargs["trust_remote_code"] = True
        self.version = datasets.__version__
        self.ds = datasets.load_dataset(name, config, split="train", **kwargs)

    def __len__(self):
        return len(self.ds)

    def texts(self, indices):
        for rec in self.ds.select(indices):
            yield rec["text"]


def main():
    ap = argparse.ArgumentParser(description="Write the references' Wikipedia sample (statistics corpus) "
                                             "as JSON Lines.")
    ap.add_argument("--out", required=True, help="the JSON Lines file to write (refused if it exists)")
    ap.add_argument("--n", type=int, default=100000, help="documents in the sample (default 100000)")
    ap.add_argument("--seed", type=int, default=1, help="the shuffle's seed (default 1, the references')")
    ap.add_argument("--dataset", default=DEFAULT_DATASET, help=f"hub dataset (default {DEFAULT_DATASET})")
    ap.add_argument("--config", default=DEFAULT_CONFIG, help=f"its configuration (default {DEFAULT_CONFIG})")
    ap.add_argument("--source", help="sample from this local .jsonl file (string field \"text\" per line) "
                                     "instead of the hub")
    ap.add_argument("--force", action="store_true", help="overwrite --out")
    args = ap.parse_args()
    if args.n < 1:
        ap.error("--n must be at least 1")
    if os.path.exists(args.out) and not args.force:
        sys.exit(f"{args.out} exists (--force to overwrite)")

    if args.source:
        rows, what = JsonlRows(args.source), f"{args.source}"
    else:
        rows = HubRows(args.dataset, args.config)
        what = f"{args.dataset} {args.config} train (datasets {rows.version})"
    n_rows = len(rows)
    if n_rows == 0:
        sys.exit(f"{what}: no documents")
    if args.n > n_rows:
        print(f"warning: --n {args.n} is more than the {n_rows} documents; taking all of them", file=sys.stderr)
    indices = sample_indices(n_rows, args.n, args.seed)

    digest = hashlib.sha256()
    n_docs = n_chars = n_empty = 0
    tmp = args.out + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(tmp, "wb") as f:
        for text in rows.texts(indices):
            line = (json.dumps({"text": text}, ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            digest.update(line)
            n_docs += 1
            n_chars += len(text)
            n_empty += not text.strip()
    os.replace(tmp, args.out)

    print(f"source     {what}: {n_rows} documents")
    print(f"sample     seed {args.seed}, the first {n_docs} of the shuffled indices "
          f"(first indices: {', '.join(map(str, indices[:5]))})")
    print(f"documents  {n_docs}" + (f" ({n_empty} empty)" if n_empty else ""))
    print(f"characters {n_chars}")
    print(f"sha256     {digest.hexdigest()}  {args.out}")


if __name__ == "__main__":
    main()
