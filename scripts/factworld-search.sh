#!/usr/bin/env bash
# The λ search for the bundled fact-world (configs/README.md, "The fact-world hyper-parameters"). For each λ
# (mom2_update_weight) it runs, on the first N_EDITS shuffled zsRE requests (seed 0, protocol easyedit):
#   - MEMIT's single edits ("schedule": {"mode": "independent"}: each on the unedited model),
#   - MEMIT's and D4S's sequential edits (checkpoints at N_EDITS/2 and N_EDITS),
# with everything else from configs/{memit,d4s}_factworld.json, then prints one `kedit table` of all runs
# (the label says λ and the schedule). A finished run is kept and not redone, so the search can be
# extended with more values of λ. The perplexity is measured on the held-out prose (data/heldout.txt) when the
# model has one (the second-generation make.py writes it; the committed first model has none).
#
#   scripts/factworld-search.sh                         # λ 100 300 1000 3000 10000, 100 edits
#   LAMBDAS="200 500" N_EDITS=50 scripts/factworld-search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
lambdas=${LAMBDAS:-"100 300 1000 3000 10000"}
n=${N_EDITS:-100}
out=${OUT:-results/factworld-search}
fw=models/factworld
mkdir -p "$out"
ppl=""
[ -f "$fw/data/heldout.txt" ] && ppl="\"perplexity\": {\"text\": \"$fw/data/heldout.txt\", \"n_tokens\": 4096, \"window\": 128},"

run() { # method lambda mode checkpoint_every
    local method=$1 lam=$2 mode=$3 every=$4 name="$out/$1-$3-$2"
    [ -e "$name.h5" ] && return 0
    sed "s/\"mom2_update_weight\": *[-0-9.e+]*/\"mom2_update_weight\": $lam/" \
        "configs/${method}_factworld.json" > "$name.hparams.json"
    grep -q "\"mom2_update_weight\": $lam\b" "$name.hparams.json" || {
        echo "configs/${method}_factworld.json: no mom2_update_weight to set" >&2
        exit 1
    }
    cat > "$name.json" <<EOF
{"model": "$fw/gpt2", "model_name": "fact-world λ $lam $mode", "hparams": "$name.hparams.json",
 "dataset": {"path": "$fw/data/edits_zsre.json", "format": "zsre", "n_edits": $n, "shuffle": true},
 "protocol": "easyedit",
 "schedule": {"mode": "$mode", "evaluate": "each", "checkpoint_every": $every},
 "stats": {"corpus": "$fw/data/corpus.txt", "cache": "results/stats"},
 $ppl
 "eval_batch": 64, "seed": 0, "output": "$name.h5"}
EOF
    bin/kedit run --config "$name.json" >"$name.log" 2>&1 || {
        echo "$name.json failed (see $name.log)" >&2
        exit 1
    }
}

for lam in $lambdas; do
    run memit "$lam" independent "$n"
    run memit "$lam" sequential $((n / 2))
    run d4s "$lam" sequential $((n / 2))
done
bin/kedit table "$out"/*.h5
