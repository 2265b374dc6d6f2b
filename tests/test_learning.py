"""A spec-built network learns a small real task: 2,000 Fashion-MNIST images from ../shared/data."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bpsrm import build_model
from bpsrm.data import load_fashion_mnist
from bpsrm.network.encoding import direct

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _subset(images: np.ndarray, labels: np.ndarray, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)]))
    x = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels[keep])


@pytest.mark.parametrize("spec", ["FC128-TCN-SRM-FC10", "8C3-TCN-SRM-MP2-16C3-TCN-SRM-MP2-FC10"])
def test_network_from_spec_learns_fashion_mnist(shared_data, spec: str) -> None:
    start = time.perf_counter()
    train_x, train_y = _subset(*load_fashion_mnist("train", shared_data / "fashion-mnist"), per_class=200)
    test_x, test_y = _subset(*load_fashion_mnist("test", shared_data / "fashion-mnist"), per_class=50)
    time_steps = 4
    model = build_model(spec, (1, 28, 28), time_steps=time_steps)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    epoch_losses = []
    for _ in range(3):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        losses = []
        for i in range(0, len(order), 50):
            idx = order[i : i + 50]
            loss = F.cross_entropy(model(direct(train_x[idx], time_steps)), train_y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        epoch_losses.append(float(np.mean(losses)))
    model.eval()
    with torch.no_grad():
        accuracy = (model(direct(test_x, time_steps)).argmax(1) == test_y).float().mean().item()
    elapsed = time.perf_counter() - start
    print(f"{spec}: epoch losses {epoch_losses}, test accuracy {accuracy:.3f}, {elapsed:.1f} s")
    assert epoch_losses[-1] < 0.7 * epoch_losses[0]
    assert accuracy > 0.65, "chance is 0.10"  # (the time is printed, not asserted: a timed unit test proves nothing)
