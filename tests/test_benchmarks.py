"""The benchmark scripts still run (tiny sizes; the figures come from full runs, not from here)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import bpsrm
from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("script", "options"), [("neuron.py", []), ("train_step.py", []), ("train_step.py", ["--inference"])]
)
def test_benchmark_runs_quick(script, options, tmp_path) -> None:
    report = _run_quick(script, tmp_path, *options)
    rows = report["main"]["results"] if script == "neuron.py" else report["results"]
    if script == "neuron.py":
        assert rows["bpsrm fused"]["ms"] > 0 and rows["bpsrm fused"]["x_bpsrm_fused"] == 1.0
        assert rows["bpsrm portable"]["ms"] > 0
        _check_fixed_cost(report)
    else:
        assert report["mode"] == ("inference" if options else "training")
        assert report["batch"] == 64  # --quick: the training batch in both modes
        row = rows["bpsrm"]
        assert row["ms_per_step"] > 0
        assert row["samples_per_second"] == pytest.approx(report["batch"] / row["ms_per_step"] * 1e3)
        assert ("peak_rss_mb" in row) == ("peak_live_mb" in row) == (not options)  # memory: training only
        assert row.get("peak_live_mb", 1) > 0  # a child process measured it (--quick: bpsrm's build alone)


def _run_quick(script: str, tmp_path, *options: str) -> dict:
    """The report of ``benchmarks/<script> --quick``, checked to have run and to say what it ran on."""
    out = tmp_path / "report.json"
    command = [sys.executable, str(REPO / "benchmarks" / script), "--quick", *options, "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    _check_environment(report)
    return report


def _check_environment(report: dict) -> None:
    """A report says what it ran on (bpsrm.environment): this bpsrm, the CPU, and the threads it was timed with."""
    environment = report["environment"]
    assert environment["bpsrm"] == bpsrm.__version__ and environment["device"] == "cpu"
    assert environment["cpu_capability"] and environment["cpu"]


def _check_fixed_cost(report: dict) -> None:
    """The fixed-cost figures are what their own raw timings give (recomputed here independently)."""
    fixed = report["fixed_cost"]
    harness = fixed["harness_rounds_us"]
    assert fixed["shape"] == [4, 1, 8] and len(harness) >= 3 and min(harness) > 0
    assert fixed["harness_us"] == pytest.approx(float(np.median(harness)))
    for name in ("bpsrm fused", "bpsrm portable"):
        row = fixed["results"][name]
        rounds = np.array(row["rounds_us"])
        assert rounds.shape == (len(harness),) and rounds.min() > 0
        assert row["us"] == pytest.approx(float(np.median(rounds)))
        assert row["fixed_us"] == pytest.approx(float(np.median(rounds - np.array(harness))))
    sweep = report["t_sweep"]
    assert len(sweep) >= 3
    for name in ("bpsrm fused", "bpsrm portable"):
        steps = np.array([entry["shape"][0] for entry in sweep], dtype=float)
        us = np.array([entry["results"][name]["ms"] * 1e3 for entry in sweep])
        slope, intercept = np.polyfit(steps, us, 1)
        fit = report["t_sweep_fit"][name]
        assert fit["slope_us_per_step"] == pytest.approx(slope, rel=1e-6, abs=1e-6)
        assert fit["intercept_us"] == pytest.approx(intercept, rel=1e-6, abs=1e-6)


def test_the_peer_agreement_benchmark_runs_quick(tmp_path) -> None:
    """Each installed peer against bpsrm's same dynamics: SpikingJelly's and snnTorch's spikes all equal and their
    gradients parallel (the exact comparison is tests/test_peer_dynamics.py)."""
    report = _run_quick("peer_agreement.py", tmp_path)
    assert report["shape"] == [8, 4, 64] and report["dtype"] == "float64"
    rows = report["results"]
    assert {"SpikingJelly LIFNode (m)", "snnTorch Synaptic"} <= set(rows)  # the bootstrap installs both
    for name in ("SpikingJelly LIFNode (m)", "snnTorch Synaptic"):
        same = rows[name]["against_same_dynamics"]
        assert same["equal_spikes"] == 1.0 and same["grad_cosine"] > 1 - 1e-9, (name, same)
        assert 0 < same["rate_peer"] == same["rate_bpsrm"] < 1


def test_readme_states_the_measured_fixed_cost() -> None:
    """The README's fixed cost per call is the figure of the committed benchmark results, not a guess."""
    report = json.loads((REPO / "results" / "bench" / "neuron-tuned.json").read_text())
    fixed = report["fixed_cost"]["results"]["bpsrm fused"]["fixed_us"]
    intercept = report["t_sweep_fit"]["bpsrm fused"]["intercept_us"]
    readme = (REPO / "README.md").read_text()
    assert f"{fixed:.0f} us" in readme
    assert f"{intercept:.0f} us" in readme


def test_the_finite_check_benchmark_runs_quick(tmp_path) -> None:
    rows = _run_quick("finite_check.py", tmp_path)["results"]
    assert {row["backend"] for row in rows} == {"fused", "portable"}
    for row in rows:
        assert row["ms_checked"] > 0 and row["ms_unchecked"] > 0


def test_the_kernels_step_benchmark_runs_quick(tmp_path) -> None:
    """Each build ran on the kernels it names (the portable child really without them), and the ratio is the
    ratio of the two medians of the recorded steps."""
    report = _run_quick("kernels_step.py", tmp_path)
    rows = report["results"]
    assert rows["portable"]["kernels"] == {
        "neuron": "portable (BPSRM_KERNEL=portable)",
        "tcn_pooling": "PyTorch (BPSRM_KERNEL=portable)",
    }
    assert rows["compiled"]["kernels"] == {"neuron": "C", "tcn_pooling": "C"}  # the bootstrap builds them
    medians = {name: float(np.median(row["steps"])) for name, row in rows.items()}
    assert all(len(row["steps"]) == 2 and min(row["steps"]) > 0 for row in rows.values())
    assert rows["compiled"]["median_s_per_step"] == pytest.approx(medians["compiled"])
    assert report["portable_over_compiled"] == pytest.approx(medians["portable"] / medians["compiled"])
