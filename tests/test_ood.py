"""Out-of-distribution scores against a hand computation in numpy, and the calibration's threshold."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from bpsrm.deploy.ood import HELD_OUT_BLOCK, MARGIN, SHRINKAGE, OODCalibration, calibrate_ood
from bpsrm.errors import DataError


class _Features:
    """A stand-in model whose last spiking layer fires at the given rates: spikes [T=1, B, C]."""

    def __init__(self, classes: int) -> None:
        self.classes = classes

    def eval(self) -> None:
        pass

    def run(self, x):
        out = type("Out", (), {})()
        out.spikes = [x]
        out.logits = torch.zeros(x.shape[1], self.classes)
        return out


def test_calibration_and_score_equal_a_numpy_computation() -> None:
    rng = np.random.default_rng(0)
    n, c = 256, 3
    labels = np.repeat([0, 1], n // 2)
    features = rng.normal(size=(n, c)) * [1.0, 2.0, 0.5] + np.where(labels[:, None] == 0, 0.0, 3.0)
    batches = [
        (torch.from_numpy(features[i : i + 64])[None], torch.from_numpy(labels[i : i + 64])) for i in range(0, n, 64)
    ]
    calibration = calibrate_ood(_Features(2), batches, lambda x: x, 2)
    # By hand: fit on blocks 0, 2, 4, ... of 16 samples, threshold on the others.
    block = (np.arange(n) // HELD_OUT_BLOCK) % 2
    fit, held = block == 0, block == 1
    means = np.stack([features[fit & (labels == k)].mean(0) for k in (0, 1)])
    centred = np.concatenate([features[fit & (labels == k)] - means[k] for k in (0, 1)])
    cov = centred.T @ centred / (centred.shape[0] - 1)
    shrunk = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / c * np.eye(c)
    precision = np.linalg.inv(shrunk)

    def score(f):
        d = f[:, None, :] - means[None]
        return np.einsum("bkc,cd,bkd->bk", d, precision, d).min(1)

    np.testing.assert_allclose(calibration.means.numpy(), means, rtol=1e-10)
    np.testing.assert_allclose(calibration.precision.numpy(), precision, rtol=1e-8)
    assert calibration.threshold == pytest.approx(MARGIN * np.quantile(score(features[held]), 0.995), rel=1e-8)
    far = np.array([[30.0, -30.0, 30.0]])
    assert float(calibration.score(torch.from_numpy(far))[0]) == pytest.approx(score(far)[0], rel=1e-8)
    assert float(calibration.score(torch.from_numpy(far))[0]) > calibration.threshold
    again = OODCalibration.from_dict(calibration.to_dict())
    assert again.threshold == calibration.threshold


def test_calibration_refuses_silent_layers_and_bad_records() -> None:
    batches = [(torch.zeros(1, 64, 3), torch.arange(64) % 2)]
    with pytest.raises(DataError, match="do not vary"):
        calibrate_ood(_Features(2), batches, lambda x: x, 2)
    with pytest.raises(DataError, match="unreadable"):
        OODCalibration.from_dict({"means": torch.zeros(2, 3)}, "x.pt")
    with pytest.raises(DataError, match="inconsistent"):
        OODCalibration.from_dict(
            {"means": torch.zeros(2, 3), "precision": torch.eye(2), "threshold": 1, "quantile": 0.9}
        )
    good = {"means": torch.zeros(2, 3), "precision": torch.eye(3), "threshold": 1.0, "quantile": 0.9}
    for change, fragment in [
        ({"threshold": math.nan}, "threshold must be a finite number >= 0, got nan"),  # all inputs were "unknown"
        ({"threshold": -1.0}, "threshold must be a finite number >= 0, got -1.0"),
        ({"quantile": 0.0}, "quantile must be a number in (0, 1], got 0.0"),
        ({"means": torch.full((2, 3), math.inf)}, "not finite"),
    ]:
        with pytest.raises(DataError, match=re.escape(fragment)):
            OODCalibration.from_dict({**good, **change}, "x.pt")
