r"""What training minimises and how: the loss, the optimiser and the learning-rate schedule of a config.

The loss is cross-entropy on the readout's logits, or the mean squared error against one-hot
targets (spike counts divided by T when the network ends in SRM neurons); the optimiser is AdamW or
SGD with momentum; the schedule a linear warm-up, then cosine or constant, stepped once per
optimiser step.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .config import Config

__all__ = ["training_loss", "check_loss", "make_optimiser", "make_schedule", "load_schedule"]


def training_loss(config: Config, logits: Tensor, labels: Tensor) -> Tensor:
    r"""The loss of a batch: logits ``[B, K]``, labels ``[B]`` (class indices); a scalar.

    ``train.loss: cross_entropy``: $-\frac{1}{B} \sum_b \sum_k q_{bk} \log \mathrm{softmax}(z_b)_k$ with
    $q$ the one-hot target smoothed by ``train.label_smoothing``; ``mse_count``:
    $\frac{1}{BK} \sum_{b,k} (z_{bk} / s - y_{bk})^2$ with $y$ one-hot and $s = T$ when the spec ends in
    SRM neurons (their logits are spike counts), else 1.
    """
    if config.train.loss == "cross_entropy":
        return F.cross_entropy(logits, labels, label_smoothing=config.train.label_smoothing)
    target = F.one_hot(labels, logits.shape[-1]).to(logits.dtype)
    scale = config.model.time_steps if config.model.spec.upper().endswith("SRM") else 1.0
    return F.mse_loss(logits / scale, target)


def check_loss(config: Config) -> None:
    """A ConfigError for a loss setting that :func:`training_loss` would not read: ``train.label_smoothing``
    smooths cross_entropy's targets and nothing of ``mse_count``."""
    if config.train.loss == "mse_count" and config.train.label_smoothing != 0:
        raise ConfigError(
            f"train.label_smoothing={config.train.label_smoothing:g} has no effect with train.loss=mse_count: it "
            "smooths the targets of cross_entropy; set it to 0, or train.loss=cross_entropy"
        )


def make_optimiser(config: Config, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW (``optim.name: adamw``) or SGD with momentum over every parameter of ``model``."""
    o = config.optim
    if o.name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def make_schedule(
    config: Config, optimiser: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    r"""The learning rate per step: a linear warm-up over ``warmup_epochs``, then cosine or constant.

    Warm-up (``LinearLR``): $\eta_s = \eta (s + 1) / W$ for steps $s < W$; cosine
    (``CosineAnnealingLR``): $\eta_s = \eta_{min} + (\eta - \eta_{min}) (1 + \cos(\pi (s - W) / (S - W))) / 2$
    with $\eta_{min}$ = ``min_lr_ratio`` $\cdot \eta$ over the $S$ steps of the run; chained by ``SequentialLR``.
    """
    total = max(config.train.epochs * steps_per_epoch, 1)
    warmup = round(config.schedule.warmup_epochs * steps_per_epoch)
    lr = optimiser.param_groups[0]["lr"]
    sched = torch.optim.lr_scheduler
    main: sched.LRScheduler
    if config.schedule.name == "constant":
        main = sched.ConstantLR(optimiser, factor=1.0, total_iters=0)
    else:
        main = sched.CosineAnnealingLR(
            optimiser, T_max=max(total - warmup, 1), eta_min=config.schedule.min_lr_ratio * lr
        )
    if warmup <= 0:
        return main
    # (s + 1) / W for s < W; one warm-up step is a step at the full rate (LinearLR needs total_iters >= 1).
    ramp = sched.LinearLR(optimiser, start_factor=1.0 / warmup, end_factor=1.0, total_iters=max(warmup - 1, 1))
    return sched.SequentialLR(optimiser, [ramp, main], milestones=[warmup])


def load_schedule(scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict[str, Any]) -> None:
    """Restore the schedule of last.pt; one written before the torch schedulers (a LambdaLR) is replayed."""
    if "lr_lambdas" not in state:
        scheduler.load_state_dict(state)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping a schedule without an optimiser step
        for _ in range(int(state["last_epoch"])):
            scheduler.step()
