"""The training loss (bpsrm.engine.optimisation.training_loss) against hand computations, and the loss settings it
would not read refused before a run starts."""

from __future__ import annotations

import math

import pytest
import torch

from bpsrm.engine.config import config_from_dict
from bpsrm.engine.optimisation import check_loss, training_loss
from bpsrm.engine.trainer import train
from bpsrm.errors import ConfigError


def _config(spec: str = "FC3-SRM-FC2", **train_keys):
    return config_from_dict({"model": {"spec": spec, "time_steps": 4}, "train": train_keys})


def test_cross_entropy_with_label_smoothing_by_hand() -> None:
    """Logits (2, 0) for class 0, smoothing 0.1 over 2 classes: targets (0.95, 0.05);
    loss = -(0.95 log softmax_0 + 0.05 log softmax_1), softmax_0 = e^2 / (e^2 + 1)."""
    logits, labels = torch.tensor([[2.0, 0.0]], dtype=torch.float64), torch.tensor([0])
    p0 = math.exp(2) / (math.exp(2) + 1)
    expected = -(0.95 * math.log(p0) + 0.05 * math.log(1 - p0))
    got = training_loss(_config(label_smoothing=0.1), logits, labels)
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("spec", "scale"), [("FC3-SRM-FC2-SRM", 4.0), ("FC3-SRM-FC2", 1.0)])
def test_mse_count_by_hand(spec: str, scale: float) -> None:
    """Spike counts (3, 1) over T = 4 for class 1: ((3/4 - 0)^2 + (1/4 - 1)^2) / 2 = 0.5625; a membrane readout's
    logits are taken as they are."""
    logits, labels = torch.tensor([[3.0, 1.0]], dtype=torch.float64), torch.tensor([1])
    expected = ((3 / scale) ** 2 + (1 / scale - 1) ** 2) / 2
    assert float(training_loss(_config(spec, loss="mse_count"), logits, labels)) == pytest.approx(expected)


def test_label_smoothing_with_mse_count_is_refused_before_training(tmp_path) -> None:
    """train.label_smoothing smooths cross_entropy's targets: with mse_count it trained without a word (helper-89)."""
    config = _config(loss="mse_count", label_smoothing=0.1)
    expected = "train.label_smoothing=0.1 has no effect with train.loss=mse_count"
    with pytest.raises(ConfigError, match=expected):
        check_loss(config)
    with pytest.raises(ConfigError, match=expected):
        train(config, tmp_path / "run", log=lambda _: None)
    assert not (tmp_path / "run" / "last.pt").exists()
    check_loss(_config(loss="mse_count"))
    check_loss(_config(label_smoothing=0.1))
