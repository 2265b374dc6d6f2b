"""``train.precision``: the arithmetic of the training forward and backward.

``fp32`` runs everything in float32. ``bf16`` and ``fp16`` run the forward under
``torch.autocast`` (matrix products and convolutions in the lower precision, reductions and the
loss in float32; the SRM neuron keeps its state in float32 in the fused kernels). ``fp16`` also
scales the loss dynamically (``torch.amp.GradScaler``): the gradient of $s \\cdot L$ is computed and
divided by $s$ before the optimiser step; a step whose gradients overflow is skipped and $s$ halved,
and $s$ doubles after 2,000 steps without overflow. Validation and test run in float32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast and loss scaling for one training run on ``device``."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {name!r}")
        self.name = name
        self.dtype = PRECISIONS[name]
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context of the training forward and loss."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss`` (of the scaled loss under fp16)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimiser: torch.optim.Optimizer) -> None:
        """Divide the gradients by the loss scale (before clipping them); nothing outside fp16."""
        if self.scaler is not None:
            self.scaler.unscale_(optimiser)

    @property
    def handles_overflow(self) -> bool:
        """Whether a non-finite gradient is expected now and then and handled here (fp16's scaler)."""
        return self.scaler is not None

    def step(self, optimiser: torch.optim.Optimizer) -> None:
        """The optimiser step (skipped by the scaler when the fp16 gradients overflowed)."""
        if self.scaler is None:
            optimiser.step()
            return
        self.scaler.step(optimiser)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The loss scaler's state for last.pt (None without one)."""
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
