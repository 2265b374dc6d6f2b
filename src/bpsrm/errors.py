"""The errors a user of bpsrm can meet.

Every error raised on purpose by bpsrm is a :class:`BpsrmError`. The
subclasses also derive from the matching built-in exception, so code that
already catches ``ValueError`` or ``TypeError`` keeps working.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "shown",
    "BpsrmError",
    "ShapeError",
    "ParameterError",
    "SpecError",
    "DataError",
    "DataNotFoundError",
    "ChecksumError",
    "ConfigError",
    "CheckpointError",
]


class BpsrmError(Exception):
    """Base class of every error that bpsrm raises on purpose."""


class ShapeError(BpsrmError, ValueError):
    """A tensor has a shape other than the one expected."""


class ParameterError(BpsrmError, ValueError):
    """A parameter (a time constant, a name, a width) is out of range or unknown."""


class SpecError(BpsrmError, ValueError):
    """A network spec string cannot be parsed or built."""


class DataError(BpsrmError, ValueError):
    """A data file is missing, unreadable or malformed."""


class DataNotFoundError(DataError):
    """A dataset was not found in any of the places searched."""


class ChecksumError(DataError):
    """A file's sha256 differs from the one expected."""


class ConfigError(BpsrmError, ValueError):
    """A configuration key is unknown or its value is of the wrong type or out of range."""


class CheckpointError(BpsrmError):
    """A checkpoint cannot be read, is unsafe, or belongs to another architecture."""


class RunFolderError(BpsrmError):
    """A run folder cannot be used as asked: it holds a finished run, or another process trains into it."""


class NonFiniteError(BpsrmError, ValueError):
    """NaN or Inf where a finite number is needed: the input of a neuron, a loss, a gradient."""


class _Short(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 1000:  # repr itself refuses more than 4,300 digits (ValueError)
            return f"<a {'negative ' if x < 0 else ''}whole number of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_SHOWN = _Short()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxdict, _SHOWN.maxset = 3, 8, 8, 8, 8
_SHOWN.maxstring, _SHOWN.maxlong, _SHOWN.maxother = 80, 40, 80


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short (``reprlib``). An untrusted value may be small
    in memory and huge as text: a YAML or pickle "billion laughs" list (2 references to a list of 2 references,
    40 levels deep) has a repr of 2**40 items, which ``f"{value!r:.80}"`` would build in full before cutting it."""
    return _SHOWN.repr(value)
