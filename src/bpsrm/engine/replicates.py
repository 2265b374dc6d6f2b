"""Summaries of one experiment over its replicates (seeds or cross-validation folds).

For replicate figures x_1 .. x_n:

    mean = (x_1 + ... + x_n) / n
    sd   = sqrt(((x_1 - mean)^2 + ... + (x_n - mean)^2) / (n - 1))

the sample standard deviation (Bessel's correction), as ``statistics.stdev``.
One replicate gives no estimate of spread: its sd is 0 and it is shown as a
single figure, not as "x ± 0.00".
"""

from __future__ import annotations

import operator
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..checks import items, path, real_number
from ..errors import ConfigError, ParameterError, shown

__all__ = [
    "mean_sd",
    "format_percent",
    "check_distinct",
    "REPLICATE_KINDS",
    "replicate_name",
    "replicate_index",
    "replicate_folders",
]

# A replicate's run folder is named by its kind and number: results/<experiment>/seed0/, results/nmnist-cv5/fold3/.
REPLICATE_KINDS = ("seed", "fold")
_REPLICATE_NAME = re.compile(r"(seed|fold)(0|[1-9][0-9]*)")


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of ``values``; the sd of a single value is 0."""
    values = [real_number(f"mean_sd: value {i}", v) for i, v in enumerate(items("mean_sd: values", values))]
    if len(values) == 0:
        raise ParameterError("mean_sd: no values (expected the figures of one or more replicates)")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def format_percent(mean: float, sd: float, n: int) -> str:
    """A fraction's mean and sd in percent with two decimals: "92.92 ± 0.11%"; "92.92%" when ``n`` is 1."""
    if n == 1:
        return f"{100 * mean:.2f}%"
    return f"{100 * mean:.2f} ± {100 * sd:.2f}%"


def check_distinct(replicates: Sequence[int], option: str) -> list[int]:
    """``replicates`` (seeds or folds) as a list, refused with a :class:`~bpsrm.errors.ConfigError` naming
    ``option`` when one is named twice: a replicate counted twice would weigh double in the mean and shrink the sd,
    and two trainings of one seed would write to one run folder."""
    twice = sorted(value for value, times in Counter(replicates).items() if times > 1)
    if twice:
        given = " ".join(str(value) for value in replicates)
        raise ConfigError(f"{option} names {', '.join(map(str, twice))} more than once ({given}); give each once")
    return list(replicates)


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or kind not in REPLICATE_KINDS:
        raise ConfigError(f"replicate kind {shown(kind)}: expected one of {', '.join(REPLICATE_KINDS)}")


def replicate_name(kind: str, index: int) -> str:
    """The run folder name of replicate ``index`` (any integer type, NumPy's too): ``seed<S>`` or ``fold<K>``, the
    one spelling of the Python scripts; a :class:`~bpsrm.errors.ConfigError` for a negative or non-whole one."""
    _check_kind(kind)
    try:
        number = operator.index(index)
    except TypeError:
        number = -1
    if isinstance(index, bool) or not 0 <= number < 2**63:  # a seed, as torch's: 64 bits
        raise ConfigError(f"{kind} {shown(index)}: expected a whole number >= 0 of at most 64 bits")
    return f"{kind}{number}"


def replicate_index(name: str) -> int | None:
    """The number of a replicate folder's name (``seed12`` -> 12, ``fold3`` -> 3); None for any other name."""
    match = _REPLICATE_NAME.fullmatch(name)
    return int(match.group(2)) if match else None


def replicate_folders(parent: Path, kind: str) -> list[Path]:
    """The folders under ``parent`` named ``<kind><number>`` (``seed0``, ``seed1``, ...), in the order of their
    numbers, so that ``seed10`` comes after ``seed2``; none when ``parent`` is not a folder. Other names (a
    ``seed0-old`` kept aside) are not replicates."""
    _check_kind(kind)
    parent = path("replicate_folders: parent", parent)
    if not parent.is_dir():
        return []
    found = [
        (int(m.group(2)), p)
        for p in parent.iterdir()
        if p.is_dir() and (m := _REPLICATE_NAME.fullmatch(p.name)) and m.group(1) == kind
    ]
    return [p for _, p in sorted(found)]
