#!/usr/bin/env bash
# The runs behind the README's results on the real data: the weather and N-MNIST final runs of the configurations
# that cross-validation chose (scripts/final_runs.py on the committed reports in results/tuning/; their overrides
# hold data.root), the ablations, and Fashion-MNIST seeds 0-2 (seeds 0 and 1 are copies of the tuning runs of
# results/tuning/fashion-mnist-plif-size, read as finished; CWRU comes from its own command, README Results). Resumable: a run whose metrics.json exists is skipped, an interrupted one continues from its
# last.pt.
#   bash scripts/run_experiments.sh [ROOT]        (default ROOT: ../shared/data; the final runs read the reports')
# Results: results/weather/seed<S>/, results/nmnist-cv5/fold<K>/, results/ablations/<dataset>/<variant>/seed<S>/,
# results/fashion-mnist/seed<S>/; `python scripts/results_table.py` prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-../shared/data}
if [ -n "${BPSRM:-}" ]; then  # read by earlier versions: say so rather than train with another bpsrm unasked
  echo "$0: BPSRM is not read any more; set BPSRM_VENV to the environment whose bpsrm should train" >&2
  exit 2
fi
python=${BPSRM_VENV:-.venv}/bin/python  # the environment scripts/bootstrap.sh made (BPSRM_VENV, as there)
bpsrm=$(dirname "$python")/bpsrm  # the bpsrm of that Python's environment, as the Python scripts choose it

run() {  # run OUT CONFIG [OVERRIDES...]: a finished run of the same config is read, an unfinished one continued
  local out=$1 config=$2
  shift 2
  "$bpsrm" train "$config" data.root="$root" log.progress=false "$@" --out "$out" --reuse
  rm -f "$out/last.pt"
}

"$python" scripts/final_runs.py results/tuning/weather-near-cv.json --out results/weather --seeds 0 1 2
"$python" scripts/final_runs.py results/tuning/nmnist-cv.json --out results/nmnist-cv5 --folds 5
"$python" scripts/run_ablations.py nmnist-cv5 --root "$root" --only kernel-exp kernel-alpha
"$python" scripts/run_ablations.py cwru --root "$root" --seeds 0
"$python" scripts/run_ablations.py fashion-mnist --root "$root" --seeds 0
"$python" scripts/run_ablations.py cwru --root "$root" --seeds 1 2
"$python" scripts/run_ablations.py fashion-mnist --root "$root" --seeds 1 2
for seed in 0 1 2; do run "results/fashion-mnist/seed$seed" configs/fashion-mnist.yaml seed="$seed"; done
