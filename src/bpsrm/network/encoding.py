r"""Encoders: a batch of samples ``[B, ...]`` to a time-first sequence ``[T, B, ...]``.

=================  ===========================================================
``direct``         the analogue input at every step: $y[t] = x$
``rate``           Poisson spikes: $y[t] \sim \mathrm{Bernoulli}(\mathrm{clip}(x, 0, 1))$
``latency``        one spike per input at $t = \mathrm{round}((1 - x)(T - 1))$ (none if below threshold)
``frames``         event frames ``[B, T, ...]`` already binned: moved to ``[T, B, ...]``
``chunks``         a signal ``[B, C, L]`` cut into T consecutive pieces ``[T, B, C, L/T]``
=================  ===========================================================

For vibration windows, ``direct`` repeats the window at every step and
``chunks`` makes the signal itself the time axis of the SNN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

from ..checks import real_value, whole_number
from ..errors import NonFiniteError, ParameterError, ShapeError, shown

__all__ = ["ENCODERS", "chunks", "direct", "frames", "get_encoder", "latency", "rate", "seeded_generator"]


def seeded_generator(device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded with a draw of torch's global CPU generator. Checkpoints keep the CPU
    generator's state only (not a GPU's), so draws made with it on a GPU are the same in a resumed run as in an
    uninterrupted one."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(torch.randint(0, 2**62, ())))
    return generator


def _check_steps(time_steps: int) -> int:
    return whole_number("time_steps", time_steps)


def _samples(x: Any, encoder: str, finite: bool = False) -> Tensor:
    """``x`` if it is a float tensor ``[B, ...]`` (without NaN with ``finite``: a NaN probability or brightness
    would have given no spike, or torch's message); ShapeError / NonFiniteError naming the encoder otherwise."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 1:
        got = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{encoder} expects a float tensor [B, ...] of samples, got a {got}")
    if finite and bool(torch.isnan(x).any()):  # +-Inf clip to 1 and 0: defined
        raise NonFiniteError(f"{encoder}: the samples hold {int(torch.isnan(x).sum())} NaN value(s) of {x.numel()}")
    return x


def direct(x: Tensor, time_steps: int) -> Tensor:
    """Direct encoding ``[B, ...] -> [T, B, ...]``, ``y[t] = x`` (a view, no copy).

    The first synapse layer then acts as the encoder.
    """
    _check_steps(time_steps)
    _samples(x, "direct")
    return x.unsqueeze(0).expand((time_steps, *x.shape))


def rate(x: Tensor, time_steps: int, generator: torch.Generator | None = None) -> Tensor:
    """Poisson rate coding: independent spikes with probability ``clip(x, 0, 1)`` at each step.

    ``x`` ``[B, ...]`` -> spikes ``[T, B, ...]`` with ``P(o[t] = 1) = clip(x, 0, 1)``. Without ``generator`` the
    draws follow torch's global CPU generator, on a GPU too (through :func:`seeded_generator`).
    """
    _check_steps(time_steps)
    _samples(x, "rate", finite=True)
    p = x.clamp(0.0, 1.0).unsqueeze(0).expand((time_steps, *x.shape))
    if generator is None and x.device.type != "cpu":
        generator = seeded_generator(x.device)
    return torch.bernoulli(p, generator=generator)


def latency(x: Tensor, time_steps: int, threshold: float = 0.0) -> Tensor:
    """Latency coding: each input above ``threshold`` fires once, brighter earlier.

    ``t = round((1 - clip(x, 0, 1)) * (T - 1))``; inputs ``<= threshold`` never fire.
    """
    _check_steps(time_steps)
    _samples(x, "latency", finite=True)
    limit = real_value(threshold)  # inf (also an int past float's range) is a threshold nothing passes
    if math.isnan(limit):
        raise ParameterError(f"latency: threshold must be a number, got {shown(threshold)}")
    value = x.clamp(0.0, 1.0)
    when = torch.round((1.0 - value) * (time_steps - 1)).long()
    steps = torch.arange(time_steps, device=x.device).reshape((time_steps,) + (1,) * x.dim())
    return ((steps == when.unsqueeze(0)) & (x > limit).unsqueeze(0)).to(x.dtype)


def frames(x: Tensor, time_steps: int | None = None) -> Tensor:
    """Event frames ``[B, T, C, H, W]`` -> ``[T, B, C, H, W]``; checks T when given."""
    if _samples(x, "frames").dim() < 3:
        raise ShapeError(f"frames expects [B, T, ...] event frames, got shape {tuple(x.shape)}")
    if time_steps is not None and x.shape[1] != _check_steps(time_steps):
        raise ShapeError(f"frames: the samples hold T = {x.shape[1]} frames, the model expects T = {time_steps}")
    return x.transpose(0, 1)


def chunks(x: Tensor, time_steps: int) -> Tensor:
    """A signal ``[B, C, L]`` as T consecutive chunks ``[T, B, C, L/T]``: ``y[t] = x[..., t L/T : (t+1) L/T]``."""
    _check_steps(time_steps)
    if _samples(x, "chunks").dim() != 3:
        raise ShapeError(f"chunks expects a signal batch [B, C, L], got shape {tuple(x.shape)}")
    length = x.shape[-1]
    if length % time_steps:
        raise ShapeError(
            f"chunks: the window length {length} is not a multiple of T = {time_steps}; "
            "choose a window length divisible by T"
        )
    return x.reshape(x.shape[0], x.shape[1], time_steps, length // time_steps).permute(2, 0, 1, 3)


ENCODERS: dict[str, Callable[..., Tensor]] = {
    "direct": direct,
    "rate": rate,
    "latency": latency,
    "frames": frames,
    "chunks": chunks,
}


def get_encoder(name: str, time_steps: int, **options: Any) -> Callable[[Tensor], Tensor]:
    """The encoder ``name`` with T (and its options) bound: a function ``[B, ...] -> [T, B, ...]``."""
    if not isinstance(name, str) or name not in ENCODERS:
        raise ParameterError(f"unknown encoder {shown(name)}; expected one of {sorted(ENCODERS)}")
    _check_steps(time_steps)
    return partial(ENCODERS[name], time_steps=time_steps, **options)
