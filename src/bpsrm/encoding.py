"""Encoders: static inputs to time-first sequences ``[T, B, ...]``."""

from __future__ import annotations

from torch import Tensor

from .errors import ParameterError

__all__ = ["direct"]


def direct(x: Tensor, time_steps: int) -> Tensor:
    """Direct encoding: the same analogue input at every step, ``[B, ...] -> [T, B, ...]``.

    ``y[t] = x`` for t = 0 .. T-1 (a view: no copy). The first synapse layer
    then acts as the encoder.
    """
    if isinstance(time_steps, bool) or not isinstance(time_steps, int) or time_steps < 1:
        raise ParameterError(f"time_steps must be an int >= 1, got {time_steps!r}")
    return x.unsqueeze(0).expand((time_steps,) + tuple(x.shape))
