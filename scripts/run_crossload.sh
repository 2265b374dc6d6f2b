#!/usr/bin/env bash
# The bearing results (issue 18 protocol; no epoch is chosen on a load it is reported on, but the preprocessing
# was chosen on cells of the matrix itself, as the README says):
# 1. the cross-load matrix of each preprocessing variant (bpsrm crossload: train at each load and each pair,
#    test at the loads not trained on, as trained and AdaBN-adapted; fixed schedule) into
#    results/crossload-matrix/<variant>/ (no checkpoints kept);
# 2. the field model (configs/cwru-crossload.yaml: every load at hand) for the given seeds into
#    results/cwru-crossload/seed<S>/ (best.pt kept, last.pt removed).
#   bash scripts/run_crossload.sh [ROOT] [SEEDS...]      (default: ../shared/data, seeds 0 1 2)
# Resumable: finished cells and runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-../shared/data}
shift || true
seeds=${*:-0 1 2}
if [ -n "${BPSRM:-}" ]; then  # read by earlier versions: say so rather than train with another bpsrm unasked
  echo "$0: BPSRM is not read any more; set BPSRM_VENV to the environment whose bpsrm should train" >&2
  exit 2
fi
python=${BPSRM_VENV:-.venv}/bin/python  # the environment scripts/bootstrap.sh made (BPSRM_VENV, as there)
bpsrm=$(dirname "$python")/bpsrm  # the bpsrm of that Python's environment, as the Python scripts choose it
config=configs/cwru-crossload.yaml
matrix() {  # name, seeds, overrides...
  local name=$1 matrix_seeds=$2
  shift 2
  "$bpsrm" crossload "$config" data.root="$root" log.progress=false "$@" --seeds $matrix_seeds \
    --out "runs/crossload-matrix/$name"
  "$python" scripts/keep_matrix.py "runs/crossload-matrix/$name" "results/crossload-matrix/$name"
}
matrix base "$seeds"
matrix speed "$seeds" data.options.speed_normalize=true
matrix augment 0 data.options.augment_speed=0.03 data.options.augment_gain=0.1
matrix order-spectrum 0 data.options.speed_normalize=true data.options.features=spectrum
matrix envelope 0 data.options.features=envelope
for seed in $seeds; do
  out=results/cwru-crossload/seed$seed
  # a finished run of the same config is read, an unfinished one continued
  "$bpsrm" train "$config" data.root="$root" seed="$seed" log.progress=false --out "$out" --reuse
  rm -f "$out/last.pt"
done
