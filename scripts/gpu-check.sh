#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, in one command: the device, the CUDA build, make test-gpu (every op on
# both backends, whole models in float32 and bf16, the PyTorch reference tests on the GPU), the ops again
# with KEDIT_TF32=1 (their TF32 tolerance), the GPU benchmarks, then short editing runs on both backends
# (scripts/device-parity.sh). Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
make -j"$(nproc)" GPU=1 bin/kedit-gpu build/gpu/tests/test_gpu_ops build/gpu/tests/test_forward \
    build/gpu/benchmarks/bench_gpu_ops
make test-gpu
echo "== test_gpu_ops with KEDIT_TF32=1"
KEDIT_TF32=1 tests/run_tests.sh build/gpu/tests/test_gpu_ops
echo "== bench_gpu_ops"
build/gpu/benchmarks/bench_gpu_ops
echo "== end to end: MEMIT and D4S on the fact-world, cpu and cuda, float32 and bf16"
scripts/device-parity.sh cpu cuda
