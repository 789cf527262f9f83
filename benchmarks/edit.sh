#!/usr/bin/env bash
# One whole MEMIT edit (compute_z + keys + solve + apply) on the bundled fact-world model: kedit vs the
# batched PyTorch implementation of the same steps, same thread count; prints the ratio.
# Usage: benchmarks/edit.sh [N_EDITS]. Threads: OMP_NUM_THREADS (default: all cores), used by both.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
make -s build/cpu/benchmarks/bench_edit
k=$(build/cpu/benchmarks/bench_edit "$N"); echo "$k"
p=$(OPENBLAS_NUM_THREADS=1 python3 benchmarks/edit_torch.py "$N"); echo "$p"
ks=$(echo "$k" | sed -E 's/.*: ([0-9.]+) s\/edit.*/\1/'); ps=$(echo "$p" | sed -E 's/.*: ([0-9.]+) s\/edit.*/\1/')
awk -v a="$ks" -v b="$ps" -v n="$OMP_NUM_THREADS" 'BEGIN{printf "ratio pytorch/kedit time per edit: %.2f (%d threads)\n", b/a, n}'
