#!/usr/bin/env bash
# Issue 9 protocol: train at 0 HP (9 fault classes), evaluate on whole records at 1 HP (model choice)
# and 2 HP (final figure), for the given seeds. Results in results/cwru-crossload/seed<S>/.
#   bash scripts/run_crossload.sh [ROOT] [SEEDS...]      (default: ../shared/data, seeds 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-../shared/data}
shift || true
seeds=${*:-0 1 2}
bpsrm=${BPSRM:-.venv/bin/bpsrm}
for seed in $seeds; do
  out=results/cwru-crossload/seed$seed
  "$bpsrm" train configs/cwru-crossload.yaml data.root="$root" seed="$seed" log.progress=false --out "$out"
  "$bpsrm" eval "$out/best.pt" --root "$root" -o load=1 -o whole=true --out "$out/eval-1hp.json" > /dev/null
  "$bpsrm" eval "$out/best.pt" --root "$root" -o load=2 -o whole=true --out "$out/eval-2hp.json" > /dev/null
  rm -f "$out/last.pt"
done
