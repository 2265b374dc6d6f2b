"""The benchmark scripts still run (tiny sizes; the figures come from full runs, not from here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", ["neuron.py", "train_step.py"])
def test_benchmark_runs_quick(script, tmp_path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["main"]["results"] if script == "neuron.py" else report["results"]
    if script == "neuron.py":
        assert rows["bpsrm fused"]["ms"] > 0 and rows["bpsrm fused"]["x_bpsrm_fused"] == 1.0
        assert rows["bpsrm portable"]["ms"] > 0
    else:
        assert rows["bpsrm"]["ms_per_step"] > 0 and rows["bpsrm"]["samples_per_second"] > 0


def test_readme_table_is_built_from_the_results() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_table.py")], capture_output=True, text=True, check=True
    )
    table = result.stdout
    assert "| bpsrm fused |" in table
    assert table.strip() in (REPO / "README.md").read_text()
