"""scripts/recalibrate_ood.py --level-range-only: a checkpoint trained before checkpoints kept their training
windows' level range gets it from the run's own training data, and nothing else of it changes."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import torch

from conftest import REPO

pytestmark = pytest.mark.data


def test_a_run_without_a_level_range_gets_its_training_windows(shared_data, tmp_path) -> None:
    run = tmp_path / "field"
    run.mkdir()
    config = (REPO / "results/cwru-crossload/seed0/config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("root: ../shared/data", f"root: {shared_data}"))
    state = torch.load(REPO / "results/cwru-crossload/seed0/best.pt", weights_only=True)
    del state["preprocess"]["level_range"]  # as written before the level check
    state["format_version"] = 2
    torch.save(state, run / "best.pt")
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/recalibrate_ood.py"), "--level-range-only", str(run)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    after = torch.load(run / "best.pt", weights_only=True)
    levels = []  # by hand: the config's training windows (the first 70% of each record, stride 512, 2048 long)
    for load in (0, 1, 2):
        for path in sorted((shared_data / "cwru" / f"{load}HP").glob("*.mat")):
            number = int(path.stem)
            if number == 97:  # the normal record: not of the 9 fault classes
                continue
            x = scipy.io.loadmat(path)[f"X{number:03d}_DE_time"].ravel().astype(np.float64)
            border = math.floor(0.7 * x.size)
            levels += [x[s : s + 2048].std() for s in range(0, border - 2048 + 1, 512)]
    assert after["preprocess"]["level_range"] == pytest.approx(list(np.quantile(levels, [0.005, 0.995])), rel=1e-9)
    assert after["format_version"] == 3
    assert {k: v for k, v in after["preprocess"].items() if k != "level_range"} == state["preprocess"]
    for key, value in state["model"].items():
        assert torch.equal(after["model"][key], value), key
    assert all(
        torch.equal(after["ood"][k], v) if torch.is_tensor(v) else after["ood"][k] == v for k, v in state["ood"].items()
    )
    assert f"{run / 'best.pt'}: level range" in done.stdout
