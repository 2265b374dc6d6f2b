"""Paired comparison of two trained models on the same test samples: McNemar's exact test.

Two models A and B classify the same n samples. Only the discordant samples tell them apart:

    b = #{samples A gets right and B gets wrong}
    c = #{samples B gets right and A gets wrong}

Under the null hypothesis that both are equally accurate on this population, each discordant sample is
A's or B's with probability 1/2, so b ~ Binomial(b + c, 1/2), and the exact two-sided p-value is

    p = min(1, 2 * sum_{k=0}^{min(b, c)} C(b + c, k) / 2^(b + c)),    p = 1 when b + c = 0.

The test is paired by sample: it says whether *these two trained models* differ on this test set beyond
the chance of which samples were drawn, not whether their training recipes differ beyond the spread of
seeds (that needs several seeds: the ablation tables give both, see scripts/results_table.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["McNemar", "exact_mcnemar_p", "mcnemar"]


@dataclass(frozen=True)
class McNemar:
    """The discordant counts of two models on the same samples and the exact two-sided p-value."""

    samples: int
    """n, the samples both models classified."""
    only_first: int
    """b: samples the first model gets right and the second wrong."""
    only_second: int
    """c: samples the second model gets right and the first wrong."""
    p: float
    """The exact two-sided p-value of :func:`exact_mcnemar_p`."""

    @property
    def difference(self) -> float:
        """The second model's accuracy minus the first's, as a fraction: (c - b) / n."""
        return (self.only_second - self.only_first) / self.samples if self.samples else 0.0


def exact_mcnemar_p(only_first: int, only_second: int) -> float:
    """p = min(1, 2 * sum_{k <= min(b, c)} C(b + c, k) / 2^(b + c)) for b = ``only_first``, c = ``only_second``
    (1 when b + c = 0), computed in exact integers (no underflow for b + c in the tens of thousands)."""
    if only_first < 0 or only_second < 0:
        raise ValueError(f"discordant counts must be >= 0, got b = {only_first}, c = {only_second}")
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail, term = 0, 1  # term = C(n, k), built from C(n, k - 1): C(n, k) = C(n, k - 1) * (n - k + 1) / k, exact
    for k in range(min(only_first, only_second) + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return min(1.0, 2 * tail / 2**n)


def mcnemar(
    labels: Sequence[int] | np.ndarray, first: Sequence[int] | np.ndarray, second: Sequence[int] | np.ndarray
) -> McNemar:
    """McNemar's exact test of two models' predicted classes ``first`` and ``second`` of the samples whose true
    classes are ``labels`` (three 1-D arrays of one length, sample i at index i in all three)."""
    arrays = [np.asarray(a) for a in (labels, first, second)]
    shapes = [a.shape for a in arrays]
    if any(len(shape) != 1 for shape in shapes) or len(set(shapes)) != 1:
        raise ValueError(f"labels, first and second must be 1-D arrays of one length, got shapes {shapes}")
    truth, a, b = arrays
    right_a, right_b = a == truth, b == truth
    only_first = int(np.count_nonzero(right_a & ~right_b))
    only_second = int(np.count_nonzero(right_b & ~right_a))
    return McNemar(truth.shape[0], only_first, only_second, exact_mcnemar_p(only_first, only_second))
