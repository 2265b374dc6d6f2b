"""AdaBN adaptation: running statistics re-estimated from unlabeled batches, against a hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bpsrm.deploy.adapt import adapt_norm_statistics, adapt_on_samples, norm_layers
from bpsrm.errors import DataError
from bpsrm.network.norm import TemporalChannelNorm


def test_adapt_sets_the_average_of_the_batch_statistics() -> None:
    torch.manual_seed(0)
    norm = TemporalChannelNorm(3)
    scale = nn.Linear(3, 3, bias=False)  # a layer before the norm, so the norm sees transformed inputs
    model = nn.Sequential()
    model.add_module("scale", scale)
    model.add_module("norm", norm)
    norm.running_mean.fill_(5.0)
    norm.running_var.fill_(7.0)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "tracked" not in k}
    inputs = [torch.randn(8, 3) * 2 + 1 for _ in range(3)]  # [B, C] network inputs, B = 8

    def encode(x: torch.Tensor) -> torch.Tensor:  # [B, C] -> [T = 4, B, C], another value at each step
        return torch.stack([x, 0.5 * x, 2.0 - x, x * x])

    encoded = [encode(b) for b in inputs]
    samples = adapt_norm_statistics(model, inputs, encode)
    assert samples == 3 * 8  # samples, not time steps (T = 4)
    # Hand computation: per batch, channel mean and unbiased variance over T * B values of the scaled input.
    with torch.no_grad():
        seen = [scale(e).reshape(-1, 3).double() for e in encoded]
    mean = torch.stack([s.mean(0) for s in seen]).mean(0)
    var = torch.stack([s.var(0, unbiased=True) for s in seen]).mean(0)
    torch.testing.assert_close(norm.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.running_var.double(), var, rtol=1e-5, atol=1e-6)
    assert not model.training and not norm.training and norm.momentum == 0.1
    for key, value in weights.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_adapt_refuses_models_without_norms_and_empty_data() -> None:
    with pytest.raises(DataError, match="no normalisation layer"):
        adapt_norm_statistics(nn.Linear(2, 2), [torch.randn(3, 2)], lambda x: x)
    model = nn.Sequential(TemporalChannelNorm(2))
    model[0].running_mean.fill_(3.0)
    with pytest.raises(DataError, match="no batch"):
        adapt_norm_statistics(model, [], lambda x: x)
    assert torch.equal(model[0].running_mean, torch.full((2,), 3.0))  # a failure leaves the statistics as they were

    def broken():
        yield torch.randn(4, 8, 2)
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match=r"^disk gone$"):  # the loader's own error, not one from the first batch
        adapt_norm_statistics(model, broken(), lambda x: x)
    assert torch.equal(model[0].running_mean, torch.full((2,), 3.0)) and not model.training
    layers = nn.Sequential(
        nn.BatchNorm1d(2), TemporalChannelNorm(2), nn.Linear(2, 2), nn.BatchNorm1d(2, track_running_stats=False)
    )
    assert len(norm_layers(layers)) == 2


def test_adapt_on_samples_mixes_the_batches_and_drops_labels() -> None:
    """adapt_on_samples: 12 inputs sorted by class (the first six near -3, the rest near +3) in batches of 6.
    Equal batches make the running mean the mean of all inputs whatever the order; the running variance is the
    mean of the batch variances, which only mixed batches bring near the whole set's (in the given order each
    batch would hold one class, about 0.3). A (input, label) dataset gives the same statistics as the bare
    inputs, labels unread."""
    torch.manual_seed(1)
    x = torch.cat([torch.randn(6, 2) * 0.5 - 3, torch.randn(6, 2) * 0.5 + 3])  # [N, C], sorted by class
    labels = torch.tensor([0] * 6 + [1] * 6)

    def adapted(samples) -> TemporalChannelNorm:
        model = nn.Sequential(TemporalChannelNorm(2))
        assert adapt_on_samples(model, samples, lambda b: b.unsqueeze(0), batch_size=6) == 12
        return model[0]

    norm = adapted(x)
    torch.testing.assert_close(norm.running_mean, x.mean(0), rtol=1e-5, atol=1e-5)
    assert bool((norm.running_var > 3.0).all())  # the whole set's variance is about 9.3; one class's about 0.3
    by_pairs = adapted(torch.utils.data.TensorDataset(x, labels))
    torch.testing.assert_close(by_pairs.running_var, norm.running_var, rtol=0, atol=0)
    with pytest.raises(DataError, match="no batch"):
        adapt_on_samples(nn.Sequential(TemporalChannelNorm(2)), torch.empty(0, 2), lambda b: b.unsqueeze(0), 4)
