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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import path, whole_number, whole_numbers
from ..errors import BpsrmError, DataError, ParameterError
from . import run_folder

__all__ = ["McNemar", "RunPair", "compare_runs", "exact_mcnemar_p", "independent_samples", "mcnemar", "run_predictions"]


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


EXACT_UP_TO = 20_000
"""The most discordant samples whose p :func:`exact_mcnemar_p` sums in exact integers (about 0.1 s; the time grows
as the square of the count: 3 s at 100,000, and 5 minutes at a million). Beyond, it sums in floats."""


def _tail_in_floats(n: int, m: int) -> float:
    """sum_{k <= m} C(n, k) / 2^n for m <= n / 2, in floats: the largest term C(n, m) / 2^n from ``math.lgamma``,
    times 1 + C(n, m-1) / C(n, m) + C(n, m-2) / C(n, m) + ..., each ratio from the last by k / (n - k + 1),
    until a term no longer moves the sum. The relative error is that of the lgamma difference, about
    3 * n * log(n) * 1e-16: 2e-9 at a million discordant samples, 1e-5 at two billion (enough for a p-value).
    The loop ends after about 4.4 * sqrt(n) terms where m is near n / 2 (18 ms at 2**32)."""
    log_term = math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1) - n * math.log(2)
    total, ratio = 0.0, 1.0
    for k in range(m, -1, -1):
        total += ratio
        ratio *= k / (n - k + 1)  # C(n, k - 1) / C(n, k)
        if ratio < 1e-17 * total:
            break
    return math.exp(log_term) * total


def exact_mcnemar_p(only_first: int, only_second: int) -> float:
    """p = min(1, 2 * sum_{k <= min(b, c)} C(b + c, k) / 2^(b + c)) for b = ``only_first``, c = ``only_second``
    (1 when b + c = 0), computed in exact integers up to :data:`EXACT_UP_TO` discordant samples (no underflow),
    in floats beyond (:func:`_tail_in_floats`: a relative error of 2e-9 at a million). When b and c differ by
    at most one the tail holds half the mass or more, and p is 1 exactly."""
    only_first = whole_number("exact_mcnemar_p: only_first (b)", only_first, 0)
    only_second = whole_number("exact_mcnemar_p: only_second (c)", only_second, 0)
    n, m = only_first + only_second, min(only_first, only_second)
    if n == 0 or 2 * m + 1 >= n:
        return 1.0  # no discordant sample; or b = c, or they differ by one: the tail holds half the mass or more
    if n > EXACT_UP_TO:
        return min(1.0, 2 * _tail_in_floats(n, m))
    tail, term = 0, 1  # term = C(n, k), built from C(n, k - 1): C(n, k) = C(n, k - 1) * (n - k + 1) / k, exact
    for k in range(m + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return min(1.0, 2 * tail / 2**n)


def mcnemar(
    labels: Sequence[int] | np.ndarray, first: Sequence[int] | np.ndarray, second: Sequence[int] | np.ndarray
) -> McNemar:
    """McNemar's exact test of two models' predicted classes ``first`` and ``second`` of the samples whose true
    classes are ``labels`` (three 1-D arrays of one length, sample i at index i in all three)."""
    given = {"labels": labels, "first": first, "second": second}
    arrays = [whole_numbers(f"mcnemar: {name}", value) for name, value in given.items()]
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ParameterError(f"mcnemar: labels, first and second must be equally long, got lengths {lengths}")
    truth, a, b = arrays
    right_a, right_b = a == truth, b == truth
    only_first = int(np.count_nonzero(right_a & ~right_b))
    only_second = int(np.count_nonzero(right_b & ~right_a))
    return McNemar(truth.shape[0], only_first, only_second, exact_mcnemar_p(only_first, only_second))


def run_predictions(run: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A run folder's predictions.npz as (labels, predictions, its metrics.json), checked against that metrics.json
    (:func:`_checked_run`)."""
    labels, predictions, metrics, _ = _checked_run(run)
    return labels, predictions, metrics


def _checked_run(run: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any], str | None]:
    """A run folder's predictions.npz as (labels, predictions, its metrics.json, the test files' digest or None),
    each file read once and checked against that metrics.json: the same confusion matrix (so the same count and
    accuracy on either split), so that a file left by an earlier training of the folder is not taken for this
    run's. :class:`~bpsrm.engine.run_folder.Missing` when the folder has no predictions.npz (a run from before it
    existed)."""
    run = path("run_predictions: run", run)
    if not run.is_dir():
        raise DataError(f"{run}: not a run folder (expected a folder holding predictions.npz and metrics.json)")
    labels, predictions, digest = run_folder.read_prediction_record(run)
    if labels.size == 0:
        raise DataError(f"{run / run_folder.PREDICTIONS_NPZ}: holds no samples (expected one per held-out sample)")
    if min(int(labels.min()), int(predictions.min())) < 0:  # class indices, with or without a matrix to check
        raise DataError(f"{run / run_folder.PREDICTIONS_NPZ}: holds negative class indices (expected 0, 1, ...)")
    try:
        metrics = run_folder.read_metrics(run, required=True)
    except run_folder.Missing:
        raise DataError(
            f"{run / run_folder.METRICS_JSON}: missing beside predictions.npz (the run stopped while finishing?)"
        ) from None
    try:
        recorded = run_folder.confusion_matrix(metrics, run)  # checked: square, whole counts
    except run_folder.Missing:
        recorded = None  # nothing to check against
    if recorded is not None:
        classes = len(recorded)
        inside = bool(np.all((labels >= 0) & (labels < classes) & (predictions >= 0) & (predictions < classes)))
        counted = np.bincount(labels * classes + predictions, minlength=classes * classes) if inside else None
        if counted is None or not np.array_equal(counted.reshape(classes, classes), recorded):
            raise DataError(
                f"{run / run_folder.PREDICTIONS_NPZ}: its {labels.size} labels and predictions do not give the "
                f"confusion matrix of {run_folder.METRICS_JSON}; expected this run's predictions (a file left by an "
                "earlier training of the folder?)"
            )
    return labels, predictions, metrics, digest


@dataclass(frozen=True)
class RunPair:
    """Two runs compared sample by sample on the split both were evaluated on."""

    first: Path
    second: Path
    split: str
    first_accuracy: float
    second_accuracy: float
    test: McNemar
    dataset: str | None = None
    """The dataset both were evaluated on, as their metrics.json names it."""

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain data (``bpsrm compare`` prints it as JSON)."""
        warning = self.correlation_warning()  # once: it may import the user's dataset file
        return {
            "first": str(self.first),
            "second": str(self.second),
            "split": self.split,
            "samples": self.test.samples,
            "first_accuracy": self.first_accuracy,
            "second_accuracy": self.second_accuracy,
            "difference_points": 100 * self.test.difference,
            "only_first_right": self.test.only_first,
            "only_second_right": self.test.only_second,
            "mcnemar_p": self.test.p,
            **({"warning": warning} if warning is not None else {}),
        }

    def correlation_warning(self) -> str | None:
        """Why McNemar's p says too much here (samples that are windows of a few recordings), or None."""
        if self.dataset is None or independent_samples(self.dataset):
            return None
        return (
            f"the {self.dataset} samples are windows cut from a few recordings: neighbours are alike, and McNemar's "
            "test, which counts them as independent, gives too small a p; read a difference across seeds instead, "
            "with a paired t-test of each seed's difference (the README's rule for such data takes that test alone)"
        )


def independent_samples(dataset: str) -> bool:
    """Whether the test samples of ``dataset`` (a registered name, an entry point, or a class of the user's own,
    "path/to/file.py:Class") count as independent for McNemar's test: its class's ``independent_samples`` (CWRU's
    windows of a few recordings do not). A dataset this machine cannot find counts as independent: nothing is known
    of its samples."""
    from ..data.base import dataset_class

    try:
        return bool(getattr(dataset_class(dataset), "independent_samples", True))
    except BpsrmError:
        return True


def compare_runs(first: Path, second: Path) -> RunPair:
    """McNemar's exact test of two run folders' models on the samples both were evaluated on (their
    predictions.npz, :func:`run_predictions`): a :class:`~bpsrm.errors.DataError` naming both when they were
    evaluated on different samples (another split, count or order of labels)."""
    first, second = path("compare_runs: first", first), path("compare_runs: second", second)
    (labels, a, one, digest), (other, b, two, other_digest) = _checked_run(first), _checked_run(second)
    if first.resolve() == second.resolve():
        raise DataError(
            f"{first} and {second} are the same run folder; a paired comparison needs two runs (McNemar's test of a "
            "model against itself has no discordant samples and says nothing)"
        )
    split, other_split = str(one.get("evaluated_on", "test")), str(two.get("evaluated_on", "test"))
    same_data = (one.get("dataset"), one.get("classes")) == (two.get("dataset"), two.get("classes"))
    if split != other_split or not same_data or not np.array_equal(labels, other):
        differ = (
            f"the {split} split against the {other_split} split"
            if split != other_split
            else f"dataset {one.get('dataset')!r} against {two.get('dataset')!r}, or other classes"
            if not same_data
            else f"{labels.size} and {other.size} samples"
            if labels.size != other.size
            else f"labels differ first at sample {int(np.argmax(labels != other))}"
        )
        raise DataError(
            f"{first} and {second} were evaluated on different samples ({differ}); a paired comparison needs two "
            "runs tested on the same split (the same data, split options and seed of the split)"
        )
    if digest is not None and other_digest is not None and digest != other_digest:
        raise DataError(
            f"{first} and {second} were evaluated on the same labels but on files of other contents (their "
            f"predictions.npz record the sha256 of the {split} files: {digest[:12]}... and {other_digest[:12]}...; "
            "another data.root?); a paired comparison needs two runs tested on the same samples"
        )
    return RunPair(
        first,
        second,
        split,
        float(np.mean(labels == a)),
        float(np.mean(labels == b)),
        mcnemar(labels, a, b),
        one.get("dataset") if isinstance(one.get("dataset"), str) else None,
    )
