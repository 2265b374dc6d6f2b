"""train.precision: bf16 and fp16 (autocast, and loss scaling for fp16) train on the CPU as they would on a
GPU; fp16's scaler skips a step whose gradients overflow and halves its scale; its state resumes."""

from __future__ import annotations

import pytest
import torch

from bpsrm.engine.checkpoint import load_checkpoint
from bpsrm.engine.config import config_from_dict
from bpsrm.engine.precision import Precision
from bpsrm.engine.trainer import train

TINY = {
    "experiment": "tiny",
    "seed": 2,
    "data": {"name": "fashion-mnist-demo", "limit_train": 320, "limit_test": 100},
    "model": {"spec": "8C3-TCN-SRM-MP4-FC10", "time_steps": 2},
    "optim": {"lr": 0.005},
    "train": {"epochs": 2, "batch_size": 32},
    "log": {"progress": False, "plots": False},
}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_lower_precision_trains(precision: str, tmp_path) -> None:
    config = config_from_dict({**TINY, "train": {**TINY["train"], "precision": precision}})
    metrics = train(config, tmp_path / "run", log=lambda _: None)
    assert metrics["test_accuracy"] > 0.4  # ten classes: chance is 0.1; fp32 reaches about 0.6 here
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ("scaler" in state) == (precision == "fp16")
    if precision == "fp16":
        assert state["scaler"]["scale"] > 0


def test_the_fp16_scaler_skips_an_overflowing_step_and_halves_its_scale() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    optimiser = torch.optim.SGD([weight], lr=0.1)
    precision = Precision("fp16", torch.device("cpu"))
    scale = precision.scaler.get_scale()
    precision.backward((weight * torch.tensor([1.0, float("inf"), 1.0])).sum())
    precision.unscale(optimiser)
    precision.step(optimiser)
    assert torch.equal(weight.detach(), torch.ones(3))  # the step was skipped
    assert precision.scaler.get_scale() == scale / 2
    optimiser.zero_grad()
    precision.backward((weight * 2.0).sum())
    precision.unscale(optimiser)
    assert torch.allclose(weight.grad, torch.full((3,), 2.0))  # unscaled: the true gradient
    precision.step(optimiser)
    assert torch.allclose(weight.detach(), torch.full((3,), 0.8))
    # its state resumes: a fresh scaler starts at the initial scale, and takes the halved one and the count of
    # good steps since (one) from the saved state
    resumed = Precision("fp16", torch.device("cpu"))
    assert resumed.scaler.get_scale() == scale
    resumed.load_state_dict(precision.state_dict())
    assert resumed.scaler.get_scale() == scale / 2 and resumed.state_dict()["_growth_tracker"] == 1


def test_fp32_is_plain() -> None:
    precision = Precision("fp32", torch.device("cpu"))
    assert precision.scaler is None and precision.state_dict() is None and not precision.handles_overflow
    with pytest.raises(ValueError, match="precision must be one of"):
        Precision("fp8", torch.device("cpu"))
