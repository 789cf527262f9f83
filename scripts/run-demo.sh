#!/usr/bin/env bash
# make run: the bundled fact-world comparison. Every method of Table 2 edits the bundled model
# sequentially (configs/demo.json: a sweep grid, one task per method), then the Table 2 layout is printed
# and the plots are drawn into results/demo/. KEDIT_DEMO=configs/demo-1000.json runs the full schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
grid=${KEDIT_DEMO:-configs/demo.json}
out=results/demo
rm -rf "$out"
bin/kedit sweep --grid "$grid" --out "$out" >/dev/null
n=$(ls "$out"/task-*.json | wc -l)
start=$(date +%s)
for ((i = 0; i < n; i++)); do
    bin/kedit run --task "$i" --grid "$out/grid.json"
done
echo
bin/kedit table "$out"/task-*.h5
echo "($(( $(date +%s) - start )) s for $n runs)"
if ! python3 -c "import h5py, matplotlib" 2>/dev/null; then
    echo "installing h5py and matplotlib for the plots"
    python3 -m pip install -q h5py matplotlib >/dev/null 2>&1 || echo "(pip failed: plots skipped)"
fi
if python3 -c "import h5py, matplotlib" 2>/dev/null; then
    python3 results/plot.py --out "$out/plots" "$out"/task-*.h5
fi
