"""One epoch of training and an evaluation pass for classifiers on time-first inputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EpochResult", "train_epoch", "evaluate"]

Batches = Iterable[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class EpochResult:
    """Mean loss, accuracy, sample count, wall time and per-SRM-layer firing rates of one pass."""

    loss: float
    accuracy: float
    samples: int
    seconds: float
    firing_rates: tuple[float, ...]

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


def _add_rates(sums: list[float], spikes: list[Tensor], batch: int) -> list[float]:
    """Running sums of batch * (mean firing rate) per SRM layer."""
    layer = [float(s.detach().mean()) * batch for s in spikes]
    return layer if not sums else [a + b for a, b in zip(sums, layer, strict=True)]


def _run(model: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    run = getattr(model, "run", None)
    if run is not None:
        out = run(x)
        return out.logits, out.spikes
    return model(x), []


def train_epoch(
    model: nn.Module,
    batches: Batches,
    optimiser: torch.optim.Optimizer,
    encode: Callable[[Tensor], Tensor],
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_grad_norm: float | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
) -> EpochResult:
    """One pass over ``batches`` of ``(inputs [B, ...], labels [B])`` with cross-entropy on the logits."""
    model.train()
    start = time.perf_counter()
    total_loss, correct, count = 0.0, 0, 0
    rates: list[float] = []
    for inputs, labels in batches:
        logits, spikes = _run(model, encode(inputs))
        loss = F.cross_entropy(logits, labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimiser.step()
        if scheduler is not None:
            scheduler.step()
        batch = labels.shape[0]
        total_loss += loss.item() * batch
        correct += int((logits.argmax(1) == labels).sum())
        count += batch
        rates = _add_rates(rates, spikes, batch)
        if on_step is not None:
            on_step(batch, loss.item(), correct / count)
    seconds = time.perf_counter() - start
    return EpochResult(
        total_loss / max(count, 1), correct / max(count, 1), count, seconds, tuple(r / max(count, 1) for r in rates)
    )


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, encode: Callable[[Tensor], Tensor]) -> EpochResult:
    """Loss, accuracy and firing rates of ``model`` in eval mode over ``batches``."""
    model.eval()
    start = time.perf_counter()
    total_loss, correct, count = 0.0, 0, 0
    rates: list[float] = []
    for inputs, labels in batches:
        logits, spikes = _run(model, encode(inputs))
        batch = labels.shape[0]
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(1) == labels).sum())
        count += batch
        rates = _add_rates(rates, spikes, batch)
    seconds = time.perf_counter() - start
    return EpochResult(
        total_loss / max(count, 1), correct / max(count, 1), count, seconds, tuple(r / max(count, 1) for r in rates)
    )
