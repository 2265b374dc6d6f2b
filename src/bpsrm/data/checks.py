"""Checks of the numbers a preprocessing record holds: it comes from a checkpoint, which may come from anyone.

Each returns the value as the plain Python type the code computes with, or raises
:class:`~bpsrm.errors.ParameterError` naming the field, what it takes and what it got.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..errors import ParameterError, shown

__all__ = ["whole_number", "real_number"]


def whole_number(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` (a bool or a float such as 2.0 is refused: a record writes ints)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise ParameterError(f"{name} must be a whole number in [{low}, {high}], got {shown(value)}")
    return int(value)


def real_number(name: str, value: Any, *, above: float | None = None) -> float:
    """``value`` as a finite float, greater than ``above`` when one is given."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not number or (above is not None and not value > above):
        expected = "a finite number" if above is None else f"a finite number > {above:g}"
        raise ParameterError(f"{name} must be {expected}, got {shown(value)}")
    return float(value)
