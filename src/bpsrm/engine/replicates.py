"""Summaries of one experiment over its replicates (seeds or cross-validation folds).

For replicate figures x_1 .. x_n:

    mean = (x_1 + ... + x_n) / n
    sd   = sqrt(((x_1 - mean)^2 + ... + (x_n - mean)^2) / (n - 1))

the sample standard deviation (Bessel's correction), as ``statistics.stdev``.
One replicate gives no estimate of spread: its sd is 0 and it is shown as a
single figure, not as "x ± 0.00".
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError

__all__ = ["mean_sd", "format_percent", "check_distinct", "REPLICATE_KINDS", "replicate_name", "replicate_folders"]

# A replicate's run folder is named by its kind and number: results/<experiment>/seed0/, results/nmnist-cv5/fold3/.
REPLICATE_KINDS = ("seed", "fold")


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of ``values``; the sd of a single value is 0."""
    if len(values) == 0:
        raise ValueError("mean_sd: no values (expected the figures of one or more replicates)")
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
    if kind not in REPLICATE_KINDS:
        raise ValueError(f"replicate kind {kind!r}: expected one of {', '.join(REPLICATE_KINDS)}")


def replicate_name(kind: str, index: int) -> str:
    """The run folder name of replicate ``index``: ``seed<S>`` or ``fold<K>``, the one spelling of every script."""
    _check_kind(kind)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"replicate {kind} {index!r}: expected a whole number >= 0")
    return f"{kind}{index}"


def replicate_folders(parent: Path, kind: str) -> list[Path]:
    """The folders under ``parent`` named ``<kind><number>`` (``seed0``, ``seed1``, ...), in the order of their
    numbers, so that ``seed10`` comes after ``seed2``; none when ``parent`` is not a folder. Other names (a
    ``seed0-old`` kept aside) are not replicates."""
    _check_kind(kind)
    if not parent.is_dir():
        return []
    pattern = re.compile(rf"{kind}(0|[1-9][0-9]*)")
    found = [(int(m.group(1)), p) for p in parent.iterdir() if p.is_dir() and (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]
