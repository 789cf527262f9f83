#!/usr/bin/env python3
# Reference token ids for tests/test_tokenizer.c, from the Hugging Face `tokenizers` library.
# Pinned versions: Python 3.11.7, tokenizers 0.20.3.
#
# Run from the repository root:  python3 tests/reference/make_tokenizer_ref.py
# The shared data folder is $KEDIT_DATA, default ../shared/data.
#
# It encodes every string of the list below with Tokenizer.from_file(...).encode(s, add_special_tokens=True)
# for the GPT-2 and the Llama-2 tokenizer.json, and writes, per tokenizer, the FNV-1a 64 hash of each id
# sequence (ids as little-endian int32) to tests/fixtures/tokenizer/{gpt2,llama2}.fnv64: a header line
# "count N strings H" (H = FNV-1a 64 over every string's UTF-8 bytes each followed by one 0 byte, so the C
# test can confirm it enumerated the same list), then one hex hash per line. Neither ids nor text are stored.
#
# Decoding: for each edge case (list 4 below) with ids = encode(s).ids, the FNV-1a 64 over the UTF-8 bytes
# of decode(ids[:k], skip_special_tokens=True), each followed by one 0 byte, for k = 0 .. len(ids); one hex
# hash per line after a "count N" line in tests/fixtures/tokenizer/{gpt2,llama2}_decode.fnv64. The prefixes
# end inside multi-byte characters, so this covers the replacement of incomplete UTF-8 with U+FFFD.
#
# The string list, in this order (tests/test_tokenizer.c builds the same list the same way):
#   1. zsre/*.json in byte order of file name; per record the fields src, rephrase, alt, loc, loc_ans;
#      a string field gives itself, a list field its string elements in order; empty strings are skipped.
#   2. counterfact/counterfact_val_1919.json; per record prompt, target_new, subject (same rules).
#   3. text/wikitext-2-raw-test.txt: the first 1000 lines that are non-empty once the "\n" terminator and
#      one "\r" before it are removed.
#   4. tests/fixtures/tokenizer/edge_cases.json: a list of hand-picked Unicode edge cases, taken verbatim
#      (including the empty string).
import glob
import json
import os
import struct
import sys

from tokenizers import Tokenizer

ZSRE_FIELDS = ("src", "rephrase", "alt", "loc", "loc_ans")
COUNTERFACT_FIELDS = ("prompt", "target_new", "subject")
WIKITEXT_LINES = 1000
FIXTURES = os.path.join("tests", "fixtures", "tokenizer")

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data: bytes, h: int = FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def field_strings(record, fields):
    for name in fields:
        value = record.get(name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and item:
                yield item


def edge_cases():
    with open(os.path.join(FIXTURES, "edge_cases.json"), encoding="utf-8") as f:
        return json.load(f)


def reference_strings(data_dir):
    strings = []
    for path in sorted(glob.glob(os.path.join(data_dir, "zsre", "*.json")), key=lambda p: os.path.basename(p).encode()):
        with open(path, encoding="utf-8") as f:
            for record in json.load(f):
                strings.extend(field_strings(record, ZSRE_FIELDS))
    with open(os.path.join(data_dir, "counterfact", "counterfact_val_1919.json"), encoding="utf-8") as f:
        for record in json.load(f):
            strings.extend(field_strings(record, COUNTERFACT_FIELDS))
    taken = 0
    with open(os.path.join(data_dir, "text", "wikitext-2-raw-test.txt"), "rb") as f:
        for raw in f:
            if taken == WIKITEXT_LINES:
                break
            line = raw[:-1] if raw.endswith(b"\n") else raw
            line = line[:-1] if line.endswith(b"\r") else line
            if line:
                strings.append(line.decode("utf-8"))
                taken += 1
    strings.extend(edge_cases())
    return strings


def main():
    data_dir = os.environ.get("KEDIT_DATA") or os.path.join("..", "shared", "data")
    strings = reference_strings(data_dir)
    list_hash = FNV_OFFSET
    for s in strings:
        list_hash = fnv1a64(s.encode("utf-8") + b"\0", list_hash)
    for name in ("gpt2", "llama2"):
        tok = Tokenizer.from_file(os.path.join(data_dir, "tokenizers", name, "tokenizer.json"))
        encodings = tok.encode_batch(strings, add_special_tokens=True)
        out = os.path.join(FIXTURES, name + ".fnv64")
        with open(out, "w") as f:
            f.write("count %d strings %016x\n" % (len(strings), list_hash))
            for enc in encodings:
                f.write("%016x\n" % fnv1a64(struct.pack("<%di" % len(enc.ids), *enc.ids)))
        print("%s: %d strings -> %s" % (name, len(strings), out), file=sys.stderr)
        cases = edge_cases()
        out = os.path.join(FIXTURES, name + "_decode.fnv64")
        with open(out, "w") as f:
            f.write("count %d\n" % len(cases))
            for s in cases:
                ids = tok.encode(s, add_special_tokens=True).ids
                h = FNV_OFFSET
                for k in range(len(ids) + 1):
                    h = fnv1a64(tok.decode(ids[:k], skip_special_tokens=True).encode("utf-8") + b"\0", h)
                f.write("%016x\n" % h)
        print("%s: %d decoded edge cases -> %s" % (name, len(cases), out), file=sys.stderr)


if __name__ == "__main__":
    main()
