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
import os
from collections.abc import Collection, Mapping, Set
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BpsrmError, ParameterError, shown

__all__ = [
    "MAX_SIDE",
    "SIZE_LIMIT",
    "SEED_RANGE",
    "real_value",
    "whole_number",
    "real_number",
    "flag",
    "choice",
    "described",
    "items",
    "array",
    "whole_numbers",
    "texts",
    "path",
]

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


_NOT_ARRAYS = (str, bytes, bytearray, Mapping, Set)
"""What NumPy would make a 0-d array of (or an array of a mapping's keys): never the data an array argument holds."""

_KIND_WORDS = {"iu": "whole numbers", "iuf": "real numbers", "iufb": "numbers or booleans"}


def described(value: Any) -> str:
    """What an argument was, for a message: ``None``, ``a dict``, ``an int64 array of shape (2, 3)``, ``a uint8
    array of shape (3,)``."""
    if value is None:
        return "None"
    dtype, shape = getattr(value, "dtype", None), getattr(value, "shape", None)
    if dtype is not None and shape is not None:
        text = f"{str(dtype).removeprefix('torch.')} array of shape {tuple(shape)}"
    else:
        text = type(value).__name__
    return f"{'an' if text[0] in 'aeio' else 'a'} {text}"  # a uint8, a unicode string: u sounds as "you"


def items(name: str, value: Any, what: str = "a sequence") -> list[Any]:
    """``value`` as a list when it is a sized, ordered collection (a list, tuple, range, 1-D array or tensor); a
    string, bytes, a mapping, a set, None or a number is refused (``what`` says what was expected). An array's or
    a tensor's items come as Python's numbers and strings (``tolist``): a 0-d tensor hashes by its identity, so
    two equal ones would be two keys."""
    listable = hasattr(value, "__len__") and hasattr(value, "__iter__")
    if value is None or isinstance(value, _NOT_ARRAYS) or not listable:
        raise ParameterError(f"{name} must be {what}, got {described(value)}")
    try:
        listed = value.tolist() if callable(getattr(value, "tolist", None)) else list(value)
    except (TypeError, RuntimeError):  # a 0-d array or tensor has __len__ and __iter__, and refuses both
        raise ParameterError(f"{name} must be {what}, got {described(value)}") from None
    if not isinstance(listed, list):  # tolist of a 0-d array is its one number
        raise ParameterError(f"{name} must be {what}, got {described(value)}")
    return listed


def _axes(counts: tuple[int, ...] | None) -> str:
    if counts is None:
        return "an array"
    named = [f"{count}-D" for count in counts]
    return f"a {', '.join(named[:-1])} or {named[-1]} array" if len(named) > 1 else f"a {named[0]} array"


def array(
    name: str, value: Any, *, ndim: int | tuple[int, ...] | None, kinds: str = "iuf", words: str | None = None
) -> np.ndarray:
    """``value`` (a list, tuple, range, NumPy array or CPU tensor) as a NumPy array of ``ndim`` axes (one of the
    counts ``ndim`` lists; any count from 1 for None) whose dtype kind is one of ``kinds`` (NumPy's letters:
    ``i``/``u`` whole numbers, ``f`` floats, ``b`` booleans; a bool is no number here). An empty list is an
    empty array of the kind expected. A string, bytes, a mapping, a set or None is refused, not made a 0-d array,
    and so is a ragged list (NumPy's ValueError) or a tensor that needs grad or lives on a GPU (torch's reason is
    quoted). ``words`` names the items in messages (by default from ``kinds``: "real numbers")."""
    counts = (ndim,) if isinstance(ndim, int) else ndim  # None: any count from 1
    expected = f"{name} must be {_axes(counts)} of {words or _KIND_WORDS.get(kinds, f'dtype kind {kinds!r}')}"
    if value is None or isinstance(value, _NOT_ARRAYS):
        raise ParameterError(f"{expected}, got {described(value)}")
    try:
        result = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        reason = shown(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise ParameterError(f"{expected}, got {described(value)} ({reason})") from None
    if result.size == 0 and result.dtype.kind not in kinds and getattr(value, "dtype", None) is None:
        result = result.astype(np.int64 if "f" not in kinds else np.float64)  # [] is float64 to NumPy
    fits = result.ndim >= 1 if counts is None else result.ndim in counts
    if not fits or result.dtype.kind not in kinds:
        raise ParameterError(f"{expected}, got {described(result)}")
    return result


def whole_numbers(name: str, value: Any) -> np.ndarray:
    """``value`` as a 1-D int64 array: whole numbers, or floats that hold whole numbers (``1.0``, as labels read
    from a CSV file are); ``1.5``, NaN and booleans are refused (``int`` would cut 1.5 to the class 1)."""
    values = array(name, value, ndim=1, kinds="iuf", words="whole numbers")
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (np.abs(values) < 2.0**63) & (values == np.round(values))
        if not whole.all():
            first = int(np.argmin(whole))
            raise ParameterError(f"{name} must hold whole numbers, item {first} is {float(values[first])!r}")
    return values.astype(np.int64, copy=False)


def texts(name: str, value: Any) -> list[str]:
    """``value`` as a list of strings: a list, tuple or 1-D array whose items are all ``str`` (a lone string is
    refused: its characters would be the items)."""
    listed = items(name, value, "a sequence of strings")
    odd = next((item for item in listed if not isinstance(item, str)), None)
    if odd is not None:
        raise ParameterError(f"{name} must be a sequence of strings, one of them is {shown(odd)}")
    return listed


def path(name: str, value: Any, error: type[BpsrmError] = ParameterError) -> Path:
    """``value`` as a Path when it is a str or an ``os.PathLike``; ``error`` naming ``name`` otherwise (None, an
    int, bytes: ``Path`` raised a bare TypeError)."""
    if not isinstance(value, (str, os.PathLike)):
        raise error(f"{name} is named by a str or a path, got {described(value)}")
    return Path(value)
