"""Unsupervised adaptation to a new condition: the normalisation layers' statistics re-estimated (AdaBN).

A model trained at one operating condition (bearing load, machine) normalises
every layer's input with the running mean and variance of its training data.
At a new condition those statistics shift. AdaBN (Li et al., "Revisiting batch
normalization for practical domain adaptation", 2016) replaces them with the
statistics of unlabeled data of the new condition, leaving every learnt weight
as it is. Labels are never read.

For each normalisation layer the new running statistics are the averages over
the adaptation batches $b = 1..K$ of the batch statistics,
$\\mu = \\frac{1}{K} \\sum_b \\mu_b$ and $\\sigma^2 = \\frac{1}{K} \\sum_b \\sigma^2_b$
(a cumulative moving average: momentum $1 / b$ at batch $b$), each batch normalised
by its own statistics on the way through, as in training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..checks import described
from ..errors import DataError, ParameterError
from ..network.norm import TemporalNorm

__all__ = ["adapt_norm_statistics", "adapt_on_samples", "norm_layers"]


def norm_layers(model: nn.Module) -> list[Any]:
    """The modules of ``model`` that keep running statistics (bpsrm's temporal norms, PyTorch's BatchNorm)."""
    if not isinstance(model, nn.Module):
        raise ParameterError(f"adapt: the model must be a torch.nn.Module, got {described(model)}")
    return [
        m
        for m in model.modules()
        if isinstance(m, (TemporalNorm, nn.modules.batchnorm._BatchNorm))
        and getattr(m, "running_mean", None) is not None
    ]


@torch.no_grad()
def adapt_norm_statistics(model: nn.Module, batches: Iterable[Tensor], encode: Callable[[Tensor], Tensor]) -> int:
    """Re-estimate every normalisation layer's running statistics from unlabeled ``batches`` (AdaBN).

    ``batches`` yields network inputs ``[B, ...]`` (no labels); ``encode``
    turns them into the sequence the model takes. The model is left in eval
    mode with its weights untouched. Returns the number of samples used; a
    DataError if ``model`` has no normalisation layer or no batch was given.
    """
    layers = norm_layers(model)
    if not layers:
        raise DataError("adapt: the model has no normalisation layer (TCN, BatchNorm, ...) whose statistics to adapt")
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in layers]
    model.eval()
    for m in layers:
        m.running_mean.zero_()
        m.running_var.fill_(1.0)
        m.train()
    samples, count, done = 0, 0, False
    try:
        for inputs in batches:
            if not isinstance(inputs, Tensor) or inputs.dim() == 0:
                raise ParameterError(f"adapt: a batch must be a tensor of inputs [B, ...], got {described(inputs)}")
            if inputs.shape[0] < 2:
                continue  # one sample gives no variance over the batch
            count += 1
            for m in layers:
                m.momentum = 1.0 / count
            model(encode(inputs))
            samples += int(inputs.shape[0])
        if samples == 0:
            raise DataError("adapt: no batch of two or more samples to estimate statistics from")
        done = True
    finally:
        for m, (momentum, mean, var) in zip(layers, saved, strict=True):
            m.momentum = momentum
            if not done:  # a failure leaves the model as it was
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
        model.eval()
    return samples


def adapt_on_samples(
    model: nn.Module,
    samples: Dataset | Tensor,
    encode: Callable[[Tensor], Tensor],
    batch_size: int,
    seed: int = 0,
) -> int:
    """:func:`adapt_norm_statistics` over ``samples`` in mixed batches of ``batch_size``: a dataset of (input,
    label) pairs, whose labels are dropped, or a tensor of inputs ``[N, ...]``, shuffled by a DataLoader whose
    generator is seeded with ``seed`` (the same batches on every call; batches of one class only would give
    each class's statistics instead of the condition's). Returns the number of samples used."""
    dataset = TensorDataset(samples) if isinstance(samples, Tensor) else samples
    if len(dataset) == 0:  # type: ignore[arg-type]
        return adapt_norm_statistics(model, iter(()), encode)  # its DataError: no batch
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return adapt_norm_statistics(model, (batch[0] for batch in loader), encode)
