#!/usr/bin/env bash
# Fill wheels/gpu with what scripts/gpu_check.sh installs on the device machine (which cannot download):
# the benchmark peers and bpsrm's NIR extra. Norse is left out: it ships only as source with a C++ part.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p wheels/gpu
.venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: -d wheels/gpu \
  snntorch==1.0.0 spikingjelly==2.0.0 loguru==0.7.3 nir==1.0.8 nirtorch==2.6
ls wheels/gpu
