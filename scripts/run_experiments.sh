#!/usr/bin/env bash
# Issue 6: the weather and N-MNIST experiments on the real data, then the ablations (CWRU and Fashion-MNIST
# runs come from their own commands, README Results). Resumable: a run
# whose metrics.json exists is skipped, an interrupted one continues from its last.pt.
#   bash scripts/run_experiments.sh [ROOT]        (default ROOT: ../shared/data)
# Results: results/<experiment>/seed<S>/ (N-MNIST: results/nmnist-cv5/fold<K>/), then
# results/ablations/<dataset>/<variant>/seed<S>/; `python scripts/results_table.py` prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-../shared/data}
bpsrm=${BPSRM:-.venv/bin/bpsrm}
python=${PYTHON:-.venv/bin/python}

run() {  # run OUT CONFIG [OVERRIDES...]
  local out=$1 config=$2
  shift 2
  if [ -f "$out/metrics.json" ]; then return 0; fi
  local resume=(--overwrite)  # no last.pt: replace what a start that never finished an epoch left
  if [ -f "$out/last.pt" ]; then resume=(--resume); fi
  "$bpsrm" train "$config" data.root="$root" log.progress=false "$@" --out "$out" "${resume[@]}"
  rm -f "$out/last.pt"
}

for seed in 0 1 2; do run "results/weather/seed$seed" configs/weather.yaml seed="$seed"; done
for fold in 0 1 2 3 4; do
  run "results/nmnist-cv5/fold$fold" configs/nmnist.yaml experiment=nmnist-cv5 \
    data.options.folds=5 data.options.fold="$fold"
done
"$python" scripts/run_ablations.py nmnist-cv5 --root "$root" --only kernel-exp kernel-alpha
"$python" scripts/run_ablations.py cwru --root "$root" --seeds 0
"$python" scripts/run_ablations.py fashion-mnist --root "$root" --seeds 0
"$python" scripts/run_ablations.py cwru --root "$root" --seeds 1 2
"$python" scripts/run_ablations.py fashion-mnist --root "$root" --seeds 1 2
for seed in 1 2; do run "results/fashion-mnist/seed$seed" configs/fashion-mnist.yaml seed="$seed"; done
