#!/usr/bin/env python3
"""The file list of a Hugging Face model repository and the checks of a download against it, for
scripts/download-model.sh.

  hub_files.py list REPO      prints the manifest of the files kedit needs, from the hub's API: a first line
                              "revision <commit>", then one line per file "<kind> <hash> <size> <path>", kind
                              sha256 (a Git LFS file: the hub's SHA-256 of its content) or blob (a small file:
                              its Git blob id, the SHA-1 of "blob <size>\\0" + content). The weights are the
                              safetensors when the repository has them, else its PyTorch .bin files (listed
                              so that they can be converted; kedit reads only safetensors).
  hub_files.py check DIR MANIFEST
                              hashes every file of MANIFEST under DIR; exits 1 naming each that is missing,
                              of another size or of another hash.
"""
import hashlib
import os
import sys

CONFIG_FILES = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
                "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                "added_tokens.json"}


def wanted(paths):
    """the paths kedit needs: configuration, tokenizer, and one set of weights"""
    top = [p for p in paths if "/" not in p]
    safetensors = [p for p in top if p.endswith(".safetensors") or p == "model.safetensors.index.json"]
    pytorch = [p for p in top if p.startswith("pytorch_model") and
               (p.endswith(".bin") or p.endswith(".bin.index.json"))]
    return sorted([p for p in top if p in CONFIG_FILES] + (safetensors or pytorch))


def list_repo(repo):
    from huggingface_hub import HfApi  # only this command needs it (and the network)
    info = HfApi().model_info(repo, files_metadata=True)
    print("revision", info.sha)
    by_path = {s.rfilename: s for s in info.siblings}
    for path in wanted(by_path):
        s = by_path[path]
        if s.lfs is not None:
            print("sha256", s.lfs.sha256, s.lfs.size, path)
        else:
            print("blob", s.blob_id, s.size, path)


def file_hash(path, kind, size):
    h = hashlib.sha256() if kind == "sha256" else hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def check(folder, manifest):
    bad = 0
    with open(manifest) as f:
        lines = [line.split(maxsplit=3) for line in f if not line.startswith("revision ")]
    for kind, want, size, path in ((k, w, int(s), p.rstrip("\n")) for k, w, s, p in lines):
        full = os.path.join(folder, path)
        if not os.path.isfile(full):
            problem = "missing"
        elif os.path.getsize(full) != size:
            problem = "%d bytes, the hub has %d" % (os.path.getsize(full), size)
        else:
            got = file_hash(full, kind, size)
            problem = None if got == want else "%s %s, the hub has %s" % (kind, got, want)
        print("%-4s  %s%s" % ("ok" if not problem else "FAIL", full, ": " + problem if problem else ""))
        bad += problem is not None
    if bad:
        print("%d file(s) differ from the hub: delete them and download again" % bad)
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "list":
        list_repo(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
