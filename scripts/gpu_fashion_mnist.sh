#!/usr/bin/env bash
# Issue 22, item 1 on a lent GPU: the PLIF-sized Fashion-MNIST candidate (two 128-channel convolutions, T = 8),
# everything else as configs/fashion-mnist.yaml (flips, 2-pixel shifts, 20 epochs, AdamW, cosine).
#
# Here, first:   mkdir -p gpu-data && cp -r ../shared/data/fashion-mnist gpu-data/
# Then the `device` tool's run (one call; its run folders come back under $OUT):
#   run(command="bash scripts/gpu_fashion_mnist.sh", carry=["gpu-data"], timeout_s=590)
# A run folder brought back and carried again (RUNS=<folder>) continues from its last.pt (written every 200 steps
# within an epoch too, so a call cut off by its time limit loses little).
#
# The rule, written before any of these runs: the candidate replaces the configured network iff its seed-0 best
# validation accuracy is above the configured seed 0's 93.40% (now results/superseded/fashion-mnist-64-128/seed0);
# only then do seeds 1 and 2 follow (SEEDS="1 2"). The test figure each run prints at its end plays no part in that
# choice. Seed 0, trained on the CPU instead, reached 93.95%: the candidate is configured since 2026-12-06
# (configs/fashion-mnist.yaml holds the same spec and T), so this script now trains seeds of the configured network.
#
# The candidate under test since 2026-12-07: 40 epochs instead of 20 (one change; seeds 0-2 of 20 epochs ended with
# their validation accuracy at its best in epochs 19, 20 and 19 and their training accuracy still rising). Its rule,
# written before its run began: it replaces the configured 20 epochs iff its seed-0 best validation accuracy is above
# the configured seed 0's 93.95% (results/fashion-mnist/seed0); only then do seeds 1 and 2 follow. Its test figure
# plays no part. Here on the CPU (two threads, some 10 hours):
#   DEVICE=cpu EXTRA=train.epochs=40 RUNS=runs/i22/epochs40 bash scripts/gpu_fashion_mnist.sh
# its run folder is kept as results/tuning/fashion-mnist-epochs40/seed0 (scripts/results_table.py's tuning table).
#
# Knobs: SEEDS (default 0), DEVICE (cuda), DATA_ROOT (gpu-data), RUNS (default $OUT), PYTHON, and EXTRA for more
# overrides; `DEVICE=cpu EXTRA="data.limit_train=300 data.limit_test=100 train.epochs=1"` tries it on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-${OUT:-runs/gpu-fashion-mnist}}
py=${PYTHON:-python3}
root=${DATA_ROOT:-gpu-data}
device=${DEVICE:-cuda}
spec=128C3-TCN-SRM-MP2-128C3-TCN-SRM-MP2-FC256-SRM-FC10
mkdir -p "$runs"
if [ ! -f "$root/fashion-mnist/train-images-idx3-ubyte.gz" ]; then
  echo "gpu_fashion_mnist: no Fashion-MNIST files in $root/fashion-mnist (copy ../shared/data/fashion-mnist there and carry it)" >&2
  exit 2
fi
if ! "$py" -c 'import bpsrm' 2> /dev/null; then  # the device image has torch, numpy, pyyaml, tqdm, pillow, matplotlib
  "$py" -m pip install --quiet --no-deps --no-build-isolation -e . > "$runs/setup.txt" 2>&1 || {
    tail -20 "$runs/setup.txt" >&2
    exit 2
  }
fi
[ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv > "$runs/gpu.txt" 2>&1
export PYTHONUNBUFFERED=1
status=0
for seed in ${SEEDS:-0}; do
  out="$runs/plif-size-s$seed"
  # shellcheck disable=SC2086  # EXTRA holds several overrides
  "$py" -m bpsrm train configs/fashion-mnist.yaml "data.root=$root" "model.spec=$spec" model.time_steps=8 \
    "train.device=$device" log.progress=false train.checkpoint_steps=200 ${EXTRA:-} --seed "$seed" --out "$out" --reuse \
    2>&1 | tee -a "$runs/plif-size-s$seed.log"
  code=${PIPESTATUS[0]}
  echo "seed $seed: exit $code"
  [ "$code" -ne 0 ] && status=$code
done
exit "$status"
