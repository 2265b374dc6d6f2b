#!/usr/bin/env bash
# Issue 21's whole GPU check in one call on a lent GPU (the `device` tool's `run`; see NOTES.md):
#   run(command="bash scripts/gpu_check.sh", carry=["wheels/gpu"], timeout_s=590)
# Before: `bash scripts/gpu_wheels.sh` here fills wheels/gpu with the peers and bpsrm's pure-Python extras the
# device image lacks (it has torch, triton, cupy, pytest; nothing can be downloaded there).
# It installs bpsrm (editable, no dependencies), runs the benchmarks on CUDA beside SpikingJelly (CuPy) and
# snnTorch, then the Triton kernel's tests on CUDA tensors (TRITON_INTERPRET=0) and tests/test_cuda.py, and
# leaves everything in $OUT (default results/gpu-check): the reports go to results/bench/ after a look.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/gpu-check}
mkdir -p "$out"
py=${PYTHON:-python3}
{
  nvidia-smi
  "$py" -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, torch.cuda.get_device_name())'
  "$py" -m pip install --quiet --no-deps --no-index wheels/gpu/*.whl
  "$py" -m pip install --quiet --no-deps --no-build-isolation -e .
} > "$out/setup.txt" 2>&1
echo "set-up: $(tail -1 "$out/setup.txt")"
export TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
timeout 130 "$py" benchmarks/neuron.py --device cuda --repeats 7 --out "$out/neuron-cuda.json" > "$out/neuron.txt" 2>&1
echo "neuron benchmark: exit $?"
timeout 130 "$py" benchmarks/train_step.py --device cuda --out "$out/train_step-cuda.json" > "$out/train_step.txt" 2>&1
echo "train_step benchmark: exit $?"
timeout 280 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_kernel_triton.py tests/test_kernel_hard_reset.py \
  > "$out/tests.txt" 2>&1
echo "tests: exit $? ($(tail -1 "$out/tests.txt"))"
