"""Building blocks on time-first tensors ``[T, B, ...]``.

A synapse layer (Linear, Conv, pooling) has no memory: it runs once on the
time-folded batch ``[T*B, ...]`` (:class:`TimeFolded`). Only the neuron loops
over time. Readouts turn the last layer's ``[T, B, K]`` into logits ``[B, K]``.
"""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor, nn

from ..checks import choice
from ..errors import ShapeError
from ..neuron.functional import srm
from ..neuron.params import DEFAULTS, KERNELS
from ..neuron.recorded import ABSENT, RecordsSettings
from .pooling import MaxPool

__all__ = ["TimeFolded", "SpikingBlock", "SpikeCountReadout", "MembraneReadout"]


def _check_time_first(x: object, who: str, min_dim: int = 2) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() < min_dim:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{who} expects a time-first tensor [T, B, ...] with >= {min_dim} dimensions, got {got}")
    return x


_PER_SAMPLE: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
    nn.Identity,
    MaxPool,
)
"""Modules whose output for a sample is a function of that sample alone, with no randomness: for these, one
input repeated over T gives one output repeated over T."""


def _runs_once_per_repeat(module: nn.Module) -> bool:
    """Whether ``module`` (or an ``nn.Sequential`` of them) is one of :data:`_PER_SAMPLE`: then a time-folded
    input that repeats one sample over T may run once. Dropout, noise or a batch norm in training would see one
    batch where they should see T of them, so everything else runs on all T."""
    if type(module) is nn.Sequential:
        return all(_runs_once_per_repeat(child) for child in module)
    return isinstance(module, _PER_SAMPLE)


class TimeFolded(nn.Module):
    """Run ``module`` on ``[T*B, ...]`` and unfold the result to ``[T, B, ...]``.

    ``y[t, b] = module(x[t, b])`` for every step and sample, in one call. An input that repeats one sample over
    T (stride 0 on the time axis, as :func:`bpsrm.encoding.direct` gives) runs once when the module is a plain
    per-sample one (Linear, Conv, pooling, Flatten); any other module, such as
    dropout, runs on all T steps, so that its randomness and its batch statistics are those of T steps.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        _check_time_first(x, f"TimeFolded({type(self.module).__name__})")
        steps, batch = x.shape[0], x.shape[1]
        if steps > 1 and x.stride(0) == 0 and _runs_once_per_repeat(self.module):
            # The same input at every step (direct encoding is an expanded view): run the
            # module once and expand its output over time, again without a copy.
            y = self.module(x[0])
            return y.unsqueeze(0).expand((steps, *y.shape))
        y = self.module(x.flatten(0, 1))
        return y.reshape((steps, batch) + tuple(y.shape[1:]))


class SpikingBlock(nn.Module):
    """synapse -> norm -> neuron: ``o = neuron(norm(synapse(x)))`` on ``[T, B, ...]``.

    The synapse runs time-folded; ``norm`` may be ``None``.
    """

    def __init__(self, synapse: nn.Module, norm: nn.Module | None, neuron: nn.Module) -> None:
        super().__init__()
        self.synapse = TimeFolded(synapse)
        self.norm = norm if norm is not None else nn.Identity()
        self.neuron = neuron

    def forward(self, x: Tensor) -> Tensor:
        return self.neuron(self.norm(self.synapse(x)))


class SpikeCountReadout(nn.Module):
    r"""Logits from output spikes: the spike count $\sum_t o[t, b, k]$, shape ``[B, K]``."""

    def forward(self, spikes: Tensor) -> Tensor:
        _check_time_first(spikes, "SpikeCountReadout", 3)
        return spikes.sum(0)


class MembraneReadout(RecordsSettings):
    r"""Logits from a non-spiking SRM layer: the PSP $u[t] = V[t]$ reduced over time.

    Input: the current ``[T, B, K]`` of the last synapse. The neuron has
    $\theta = \infty$ (never fires), so ``u`` is the PSP of
    BP-SRM.md section 2; ``reduce`` is ``"mean"`` (default), ``"max"`` or ``"last"``. These settings are
    recorded in the ``state_dict`` and checked on loading (:mod:`bpsrm.neuron.recorded`).
    """

    REDUCTIONS = ("mean", "max", "last")
    setting_names: ClassVar[dict[str, tuple[str, ...]]] = {"kernel": KERNELS, "reduce": REDUCTIONS}

    def __init__(
        self,
        tau_s: float = DEFAULTS.tau_s,
        tau_m: float = DEFAULTS.tau_m,
        kernel: str = DEFAULTS.kernel,
        reduce: str = "mean",
    ) -> None:
        super().__init__()
        reduce = choice("MembraneReadout: reduce", reduce, self.REDUCTIONS)
        self.tau_s, self.tau_m, self.kernel, self.reduce = tau_s, tau_m, kernel, reduce

    def forward(self, x: Tensor) -> Tensor:
        _check_time_first(x, "MembraneReadout", 3)
        _, u = srm(x, tau_s=self.tau_s, tau_m=self.tau_m, theta=math.inf, theta_r=0.0, kernel=self.kernel)
        if self.reduce == "mean":
            return u.mean(0)
        if self.reduce == "max":
            return u.amax(0)
        return u[-1]

    def recorded_settings(self) -> dict[str, float]:
        """Kernel and reduction (their index), tau_s (ABSENT unless the kernel is dexp) and tau_m."""
        return {
            "kernel": float(KERNELS.index(self.kernel)),
            "reduce": float(self.REDUCTIONS.index(self.reduce)),
            "tau_s": float(self.tau_s) if self.kernel == "dexp" else ABSENT,
            "tau_m": float(self.tau_m),
        }

    def extra_repr(self) -> str:
        return f"tau_s={self.tau_s}, tau_m={self.tau_m}, kernel={self.kernel!r}, reduce={self.reduce!r}"
