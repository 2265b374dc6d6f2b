"""Checks of the option values the public API takes: from a call, a config file, or a checkpoint's record (which
may come from anyone).

Each returns the value as the plain Python type the code computes with, or raises
:class:`~bpsrm.errors.ParameterError` naming the option, what it takes and what it got. The value is quoted by
:func:`bpsrm.errors.shown`, so a string of 10,000 characters or a whole number of 5,000 digits (whose ``repr``
raises ValueError, and whose ``float`` raises OverflowError) is refused in a line, never with a bare Python error.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

import numpy as np

from .errors import ParameterError, shown

__all__ = ["MAX_SIDE", "SIZE_LIMIT", "SEED_RANGE", "real_value", "whole_number", "real_number", "flag", "choice"]

SIZE_LIMIT = 2**31 - 1
"""The largest count (channels, time steps, a window, folds) a whole-number option takes unless it names its
own: more is a typo, and torch refuses sizes past 2**63 with a bare TypeError."""


MAX_SIDE = 1 << 14
"""The largest image or sensor side, in pixels, an option or a preprocessing record may name (and so the largest
image shift: one of a side moves every pixel out)."""

SEED_RANGE = (-(2**63), 2**63 - 1)
"""The seeds a split takes: 64-bit integers, as torch's and the config's (a longer one is a typo, and one of
4,300 digits or more cannot even be written into the text that is hashed)."""


def real_value(value: Any) -> float:
    """``value`` as a float when it is a real number (Python's or NumPy's; not a bool), ``inf`` or ``-inf`` for an
    int beyond float's range, NaN for anything else: the checks that follow refuse what is not a finite number
    with their own messages, instead of a bare OverflowError or TypeError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        negative = isinstance(value, numbers.Integral) and int(value) < 0  # only a whole number overflows float()
        return -math.inf if negative else math.inf


def _scalar(value: Any) -> Any:
    """The number a 0-d NumPy array or tensor holds (``np.array(3)``, ``torch.tensor(0.1)``); else ``value``."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


def whole_number(name: str, value: Any, low: int = 1, high: int = SIZE_LIMIT) -> int:
    """``value`` as an int in ``[low, high]``: Python's or NumPy's whole numbers, or a 0-d integer array or tensor;
    a bool and a float such as 2.0 are refused (True would count as 1, and 2.9 would be cut to 2)."""
    number = _scalar(value)
    whole = isinstance(number, numbers.Integral) and not isinstance(number, (bool, np.bool_))
    if not whole or not low <= int(number) <= high:
        raise ParameterError(f"{name} must be a whole number in [{low}, {high}], got {shown(value)}")
    return int(number)


def _interval(above: float | None, at_least: float | None, below: float | None, at_most: float | None) -> str:
    """The allowed values in words: ``a finite number``, ``a finite number > 0``, ``a number in [0, 1)``."""
    low = f"({above:g}" if above is not None else f"[{at_least:g}" if at_least is not None else None
    high = f"{below:g})" if below is not None else f"{at_most:g}]" if at_most is not None else None
    if low is not None and high is not None:
        return f"a number in {low}, {high}"
    if low is not None:
        return f"a finite number {'>' if above is not None else '>='} {low[1:]}"
    if high is not None:
        return f"a finite number {'<' if below is not None else '<='} {high[:-1]}"
    return "a finite number"


def real_number(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> float:
    """``value`` as a finite float (Python's or NumPy's reals, or a 0-d array or tensor; not a bool) within the
    bounds given: ``> above``, ``>= at_least``, ``< below``, ``<= at_most``."""
    number = real_value(_scalar(value))  # NaN for what is no real number, +-inf for an int past float's range
    fits = (
        math.isfinite(number)
        and (above is None or number > above)
        and (at_least is None or number >= at_least)
        and (below is None or number < below)
        and (at_most is None or number <= at_most)
    )
    if not fits:
        raise ParameterError(f"{name} must be {_interval(above, at_least, below, at_most)}, got {shown(value)}")
    return number


def flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool (NumPy's too); ParameterError otherwise: the string ``"false"`` and the number 2
    are true to Python's ``if``, and a flag is never read that way."""
    if not isinstance(_scalar(value), (bool, np.bool_)):
        raise ParameterError(f"{name} must be true or false, got {shown(value)}")
    return bool(value)


def choice(name: str, value: Any, choices: Collection[str]) -> str:
    """``value`` if it is one of the names ``choices`` (a string: a list or a dict is refused, not hashed)."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}, got {shown(value)}")
    return value
