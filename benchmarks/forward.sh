#!/usr/bin/env bash
# Forward throughput of kedit vs PyTorch on the same machine, batch shape and thread count; prints the
# ratio. Usage: benchmarks/forward.sh [BATCH] [TOKENS] [REPS] (needs torch and transformers for the
# PyTorch side). Threads: OMP_NUM_THREADS (default: all cores), used by both.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-4}; T=${2:-128}; R=${3:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
make -s build/cpu/benchmarks/bench_forward
k=$(build/cpu/benchmarks/bench_forward "$B" "$T" "$R"); echo "$k"
p=$(OPENBLAS_NUM_THREADS=1 python3 benchmarks/forward_torch.py "$B" "$T" "$R"); echo "$p"
kt=$(echo "$k" | head -n 1 | sed -E 's/.*: ([0-9]+) tokens\/s.*/\1/'); pt=$(echo "$p" | sed -E 's/.*: ([0-9]+) tokens\/s.*/\1/')
awk -v a="$kt" -v b="$pt" -v n="$OMP_NUM_THREADS" 'BEGIN{printf "ratio kedit/pytorch: %.2f (%d threads)\n", a/b, n}'
