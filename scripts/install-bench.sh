#!/usr/bin/env bash
# Install the peers that benchmarks/ compares bpsrm with, without letting them replace the CPU torch:
# SpikingJelly and Norse declare torchvision (and torchaudio), which do not import beside this torch
# build and are not needed for their neurons, so they are installed without dependencies and the
# few they do need at import time are listed here.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${BPSRM_VENV:-.venv}
"$venv/bin/python" -m pip install --quiet -c constraints.txt --no-deps snntorch spikingjelly norse
"$venv/bin/python" -m pip install --quiet -c constraints.txt loguru nir nirtorch
"$venv/bin/python" - <<'PY'
import snntorch, norse.torch  # noqa: F401
from spikingjelly.activation_based import neuron  # noqa: F401
import torch
print(f"peers installed beside torch {torch.__version__}")
PY
