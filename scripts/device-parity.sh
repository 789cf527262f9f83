#!/usr/bin/env bash
# End to end on each named backend (default: cpu cuda): 20 MEMIT and 20 D4S edits of the bundled
# fact-world model (the demo's configurations, shortened), with float32 and with bf16 weights, then all
# the runs in Table 2's layout, one row per backend and weight type. Usage: scripts/device-parity.sh
# [DEVICE...]; needs a make GPU=1 build (bin/kedit-gpu) for cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
devices=("$@")
[ ${#devices[@]} -gt 0 ] || devices=(cpu cuda)
kedit=bin/kedit-gpu
[ -x "$kedit" ] || kedit=bin/kedit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$kedit" sweep --grid configs/demo.json --out "$work/grid" >/dev/null
for task in 2 5; do # the demo's MEMIT and D4S tasks
    for dev in "${devices[@]}"; do
        for w in f32 bf16; do
            name="t$task-$dev-$w"
            sed -e 's/"n_edits":[[:space:]]*100/"n_edits": 20/' \
                -e 's/"checkpoint_every":[[:space:]]*25/"checkpoint_every": 20/' \
                -e "s#\"model_name\":[[:space:]]*\"[^\"]*\"#\"model_name\": \"fact-world $dev $w\"#" \
                -e "s#\"cache\":[[:space:]]*\"[^\"]*\"#\"cache\": \"$work/stats\"#" \
                -e "s#\"output\":[[:space:]]*\"[^\"]*\"#\"output\": \"$work/$name.h5\", \"weights\": \"$w\"#" \
                "$work/grid/task-000$task.json" >"$work/$name.json"
            echo "== $name"
            "$kedit" run --config "$work/$name.json" --device "$dev" --quiet
        done
    done
done
"$kedit" table "$work"/t*.h5
