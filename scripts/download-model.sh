#!/usr/bin/env bash
# scripts/download-model.sh NAME [DEST]: downloads a model of configs/table2's grids from the Hugging Face
# hub into DEST (default $KEDIT_MODELS/NAME, $KEDIT_MODELS defaulting to checkpoints), checks every file
# against the hub's hashes (SHA-256 for the weights), runs bin/kedit verify on the folder and prints the
# path to put in a configuration. Needs huggingface_hub (pip install huggingface_hub: the hf or
# huggingface-cli command) and, for the gated Llama-2, a token: HF_TOKEN=... or `hf auth login`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    echo "usage: scripts/download-model.sh NAME [DEST]" >&2
    echo "  NAME: gpt-j-6B (EleutherAI/gpt-j-6b), llama-2-7b (meta-llama/Llama-2-7b-hf, gated: needs a token)," >&2
    echo "        gpt2-xl (openai-community/gpt2-xl)" >&2
    exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
name=$1
case "$name" in
    gpt-j-6B) repo=EleutherAI/gpt-j-6b ;;
    llama-2-7b) repo=meta-llama/Llama-2-7b-hf ;;
    gpt2-xl) repo=openai-community/gpt2-xl ;;
    *) echo "download-model: unknown model '$name'" >&2; usage ;;
esac
dest=${2:-${KEDIT_MODELS:-checkpoints}/$name}
python=${PYTHON:-python3}
if command -v hf >/dev/null; then hub_cli=(hf download)
elif command -v huggingface-cli >/dev/null; then hub_cli=(huggingface-cli download)
else
    echo "download-model: neither hf nor huggingface-cli found: $python -m pip install huggingface_hub" >&2
    exit 1
fi

mkdir -p "$dest"
manifest="$dest/.hub-manifest"
echo "listing $repo on the hub"
"$python" "$root/scripts/hub_files.py" list "$repo" > "$manifest"
revision=$(awk '$1 == "revision" { print $2 }' "$manifest")
mapfile -t files < <(awk '$1 != "revision" { print $4 }' "$manifest")
echo "downloading ${#files[@]} files of $repo at $revision into $dest"
"${hub_cli[@]}" "$repo" "${files[@]}" --revision "$revision" --local-dir "$dest" >/dev/null

echo "checking every file against the hub's hashes"
"$python" "$root/scripts/hub_files.py" check "$dest" "$manifest"

if ! ls "$dest"/*.safetensors >/dev/null 2>&1; then
    cat >&2 <<MSG
download-model: $repo has no safetensors, only PyTorch .bin files, and kedit reads safetensors only.
Convert them once (needs torch and transformers, and memory for the model in float32):
  $python -c "from transformers import AutoModelForCausalLM as M; M.from_pretrained('$dest').save_pretrained('$dest', safe_serialization=True)"
then run: bin/kedit verify $dest
MSG
    exit 1
fi

echo "verifying the checkpoint"
"$root/bin/kedit" verify "$dest"
echo
echo "ready: put \"model\": \"$dest\" in a configuration (configs/table2's grids name \$KEDIT_MODELS/$name)"
