"""The learning-rate schedule (torch's LinearLR / CosineAnnealingLR / SequentialLR) against its closed form."""

from __future__ import annotations

import math

import pytest
import torch

from bpsrm.engine.config import config_from_dict
from bpsrm.engine.optimisation import load_schedule, make_schedule


def closed_form(step: int, total: int, warmup: int, floor: float, name: str) -> float:
    """The factor of the base rate at ``step``, written out by hand (BP-SRM's training recipe)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if name == "constant":
        return 1.0
    progress = (step - warmup) / max(total - warmup, 1)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def rates(config, steps_per_epoch: int, lr: float) -> list[float]:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.SGD([parameter], lr=lr)
    scheduler = make_schedule(config, optimiser, steps_per_epoch)
    seen = []
    for _ in range(config.train.epochs * steps_per_epoch):
        seen.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    return seen


@pytest.mark.parametrize(
    ("name", "warmup_epochs", "min_lr_ratio"),
    [("cosine", 0.0, 0.0), ("cosine", 0.3, 0.0), ("cosine", 2.0, 0.1), ("cosine", 1 / 7, 0.0), ("constant", 0.5, 0.0)],
)
def test_schedule_follows_the_closed_form(name: str, warmup_epochs: float, min_lr_ratio: float) -> None:
    config = config_from_dict(
        {
            "schedule": {"name": name, "warmup_epochs": warmup_epochs, "min_lr_ratio": min_lr_ratio},
            "train": {"epochs": 5},
            "optim": {"lr": 0.003},
        }
    )
    steps_per_epoch = 7
    total, warmup = 5 * steps_per_epoch, round(warmup_epochs * steps_per_epoch)
    got = rates(config, steps_per_epoch, 0.003)
    want = [0.003 * closed_form(s, total, warmup, min_lr_ratio, name) for s in range(total)]
    for step, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == pytest.approx(w, rel=1e-12, abs=1e-18), f"step {step}"


def test_a_lambda_schedule_of_an_older_checkpoint_is_replayed() -> None:
    """last.pt written before the torch schedulers held a LambdaLR state: resume continues at its step."""
    config = config_from_dict({"schedule": {"warmup_epochs": 1.0}, "train": {"epochs": 3}, "optim": {"lr": 0.01}})
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.SGD([parameter], lr=0.01)
    scheduler = make_schedule(config, optimiser, 4)
    old_state = {"base_lrs": [0.01], "last_epoch": 6, "_step_count": 7, "lr_lambdas": [None]}
    load_schedule(scheduler, old_state)
    assert optimiser.param_groups[0]["lr"] == pytest.approx(0.01 * closed_form(6, 12, 4, 0.0, "cosine"), rel=1e-12)
