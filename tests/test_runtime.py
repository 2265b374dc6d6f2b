"""The allocator set-up of the command line: what it changes, measured as page faults in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import IMPORT_EVERY_MODULE

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux only")

CHILD = (
    "import json, resource, sys, torch\n"
    + IMPORT_EVERY_MODULE
    + """
from bpsrm.runtime import allocator_state, tune_allocator
if sys.argv[1] == "tuned":
    tune_allocator()

def faults_of_a_fresh_64_mib_tensor():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.ones(16 * 1024 * 1024)  # 64 MiB, written: every page is touched
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del t
    return after - before

# A training loop allocates the same shapes again and again: what counts is the steady state, after a few
# rounds (PyTorch asks for 64-byte aligned blocks, which glibc reuses only once its free lists hold them; when
# that starts depends on what the process allocated before: measured, reuse from the 3rd to the 11th round on,
# and a round that reused may be followed by rounds that do not). The last 4 of 24 rounds count.
faults = [faults_of_a_fresh_64_mib_tensor() for _ in range(24)]
print(json.dumps({"state": allocator_state(), "faults": faults[-4:]}))
"""
)


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_bpsrm_changes_no_process_setting() -> None:
    result = _run("import-only")
    assert result["state"] == "default"
    # glibc maps a 64 MiB block afresh each time: 16,384 pages of 4 KiB to fault in again.
    assert min(result["faults"]) > 8000


def test_tuned_allocator_reuses_large_blocks() -> None:
    result = _run("tuned")
    assert result["state"] == "glibc-tuned"
    assert max(result["faults"]) < 500
