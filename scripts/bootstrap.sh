#!/usr/bin/env bash
# Set up everything bpsrm needs on a fresh machine, then run one job.
#   bash scripts/bootstrap.sh demo [bpsrm demo options]   set up, then train the demo
#   bash scripts/bootstrap.sh test [pytest options]       set up, then lint and run the whole test suite
#                                                         (on two pytest-xdist workers; BPSRM_TEST_WORKERS=N)
# The virtual environment lives in .venv (override with BPSRM_VENV); it is
# reinstalled (and the C kernel rebuilt) only when pyproject.toml, constraints.txt, setup.py or
# the C kernels (src/bpsrm/neuron/kernels/srm_cpu.c, src/bpsrm/network/*.c) change.
set -euo pipefail
cd "$(dirname "$0")/.."

job=${1:-}
[[ $# -gt 0 ]] && shift
case "$job" in
  demo|test) ;;
  *) echo "usage: bash scripts/bootstrap.sh demo|test [options]" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "bootstrap: bpsrm needs Python >= 3.10; '$python' is $("$python" --version 2>&1 || echo missing)" >&2
  exit 1
fi

venv=${BPSRM_VENV:-.venv}
stamp="$venv/.bpsrm-installed"
want=$(cat pyproject.toml constraints.txt setup.py src/bpsrm/neuron/kernels/srm_cpu.c src/bpsrm/network/*.c | sha256sum | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" ]]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "bootstrap: installing bpsrm and its development tools into $venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]"
  # SpikingJelly and Norse, peers the tests compare with (tests/test_peers_hard_reset.py, test_peer_dynamics.py):
  # without their declared dependencies (torchvision and torchaudio do not import beside this torch build, and
  # their neurons need neither; loguru, nir and nirtorch are in the dev extra).
  "$venv/bin/python" -m pip install --quiet --no-deps -c constraints.txt spikingjelly norse
  # The MathJax files of the docs site, without jupyter-server and its dependencies (pyproject.toml, extra "site").
  "$venv/bin/python" -m pip install --quiet --no-deps -c constraints.txt jupyter-server-mathjax
  echo "$want" > "$stamp"
fi

case "$job" in
  demo)
    exec "$venv/bin/bpsrm" demo "$@"
    ;;
  test)
    "$venv/bin/ruff" check .
    # Two workers (pytest-xdist), one file each at a time: module fixtures are built once and the docs pages,
    # which share runs/docs-* folders, stay in one process. BPSRM_TEST_WORKERS=0 runs the suite in one process.
    workers=${BPSRM_TEST_WORKERS:-$(( $(nproc 2>/dev/null || echo 1) >= 2 ? 2 : 0 ))}
    # --durations: the slowest tests in every run's log, to keep the suite within its 20 minutes on 2 cores
    if [[ "$workers" == 0 ]]; then
      exec "$venv/bin/python" -m pytest --durations=15 "$@"
    fi
    exec "$venv/bin/python" -m pytest -n "$workers" --dist loadfile --durations=15 "$@"
    ;;
esac
