"""A model's accuracy, loss, confusion matrix, firing rates (and operations) on a dataset, without gradients.

The trainer validates and tests with it; ``bpsrm eval`` (:mod:`bpsrm.deploy.inference`) evaluates a
checkpoint with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..network.models import SpikingNetwork
from .energy import OperationCounter

__all__ = ["evaluate_model"]


def _limited(loader: DataLoader, max_batches: int | None) -> Iterator[tuple[Tensor, Tensor]]:
    for index, batch in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            return
        yield batch


@torch.no_grad()
def evaluate_model(
    model: SpikingNetwork,
    dataset: Dataset,
    encode: Callable[[Tensor], Tensor],
    classes: int,
    batch_size: int = 256,
    max_batches: int | None = None,
    count_operations: bool = False,
) -> dict[str, Any]:
    """Accuracy, loss, confusion matrix, per-layer firing rates (and operations) of ``model`` on ``dataset``.

    ``dataset`` yields (input, label) pairs, batched by ``batch_size`` (at most ``max_batches`` batches);
    ``encode`` turns a batch ``[B, ...]`` into the network's input ``[T, B, ...]``. The loss is the mean
    cross-entropy of the logits; ``confusion_matrix[i][j]`` counts samples of class i predicted as j and
    ``per_class_accuracy[i]`` is $C_{ii} / \\max(1, \\sum_j C_{ij})$ (0 for a class without samples);
    ``firing_rates`` holds each spiking layer's mean spike rate per neuron and step; ``labels``, ``predictions``:
    each sample's label and predicted class in the dataset's order (for :mod:`bpsrm.engine.paired`). With
    ``count_operations`` the result also has the per-sample synaptic operations of
    :class:`~bpsrm.engine.energy.OperationCounter`.
    """
    model.eval()
    total_loss = 0.0
    rate_sums: list[float] = []
    seen: list[Tensor] = [torch.zeros(0, dtype=torch.long)]  # labels, then predicted classes, batch by batch
    predicted: list[Tensor] = [torch.zeros(0, dtype=torch.long)]
    counter = OperationCounter(model)
    if count_operations:
        counter.__enter__()
    try:
        device = next(model.parameters()).device
        for inputs, labels in _limited(DataLoader(dataset, batch_size=batch_size), max_batches):
            out = model.run(encode(inputs.to(device)))
            logits = out.logits.cpu()
            total_loss += float(F.cross_entropy(logits, labels, reduction="sum"))
            seen.append(labels)
            predicted.append(logits.argmax(1))
            batch = labels.shape[0]
            counter.samples += batch
            rates = [float(s.mean()) * batch for s in out.spikes]
            rate_sums = rates if not rate_sums else [a + b for a, b in zip(rate_sums, rates, strict=True)]
    finally:
        if count_operations:
            counter.__exit__()
    labels, predictions = torch.cat(seen), torch.cat(predicted)
    count = labels.shape[0]
    confusion = torch.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)
    correct = int(confusion.diag().sum())
    result: dict[str, Any] = {
        "accuracy": correct / max(count, 1),
        "loss": total_loss / max(count, 1),
        "samples": count,
        "confusion_matrix": confusion.tolist(),
        "per_class_accuracy": (confusion.diag().double() / confusion.sum(1).clamp_min(1).double()).tolist(),
        "firing_rates": [r / max(count, 1) for r in rate_sums],
        "labels": labels,
        "predictions": predictions,
    }
    if count_operations:
        result.update(counter.per_sample())
    return result
