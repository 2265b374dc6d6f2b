"""Validation splits and cross-validation folds that keep groups of samples whole and classes balanced.

A *group* is a set of samples that must never lie on both sides of a split: copies of one picture under
other names, sizes or edits (the weather images' groups, :attr:`bpsrm.data.weather.Weather.groups`), windows of
one recording. Each group goes whole to one side, and each class is shared out on its own (stratified), so a fold
holds about 1/k of every class. The order in which groups are dealt comes from sha256("seed:group"): the same
on every machine, independent of the order the files were listed in.

Windows cut from one signal with a stride shorter than the window overlap their neighbours, so a split by groups
still leaves the training windows next to a held-out block sharing samples with it. :func:`drop_overlapping` takes
those out of training: a sample's *span* ``(source, start, stop)`` names the samples ``[start, stop)`` of one
source it can read (:attr:`bpsrm.data.cwru.CWRU.spans`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Hashable, Sequence

from ..checks import SEED_RANGE, items, real_number, texts, whole_number, whole_numbers
from ..errors import ParameterError, shown

__all__ = ["drop_overlapping", "group_folds", "group_holdout", "hashed_fold", "hashed_holdout", "split_digest"]


def _labels(labels: Sequence[int]) -> list[int]:
    """The class labels as a list of ints (a 1-D sequence or array of whole numbers; 1.5 is no class)."""
    return whole_numbers("splits: labels", labels).tolist()


def _class_groups(labels: list[int], groups: Sequence[Hashable] | None) -> dict[int, dict[Hashable, list[int]]]:
    """label -> {group -> its sample indices}; a group is counted in the class of its first sample.
    Without groups every sample is its own group."""
    keys: Sequence[Hashable] = range(len(labels))
    if groups is not None:
        keys = items("splits: groups", groups, "None or a sequence of group keys")
        if len(keys) != len(labels):
            raise ParameterError(f"splits: {len(keys)} group keys for {len(labels)} samples")
    first_label: dict[Hashable, int] = {}
    by_class: dict[int, dict[Hashable, list[int]]] = {}
    for index, (label, key) in enumerate(zip(labels, keys, strict=True)):
        try:
            label = first_label.setdefault(key, label)
        except TypeError:  # unhashable: a list or a dict as a key
            raise ParameterError(f"splits: group key {index} is {shown(key)}; a key must be hashable") from None
        by_class.setdefault(label, {}).setdefault(key, []).append(index)
    return by_class


def _dealing_order(members: dict[Hashable, list[int]], seed: int) -> list[Hashable]:
    seed = whole_number("splits: seed", seed, *SEED_RANGE)
    return sorted(members, key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())


def group_folds(labels: Sequence[int], groups: Sequence[Hashable] | None, folds: int, seed: int) -> list[int]:
    """The fold (0 .. folds-1) of every sample: per class, whole groups dealt in the seeded order, each to the fold
    that holds the fewest samples of that class so far (on a tie, the fewest samples in all, then the lowest
    index), so fold sizes within a class differ by at most the largest group and the classes' remainders spread
    over the folds."""
    folds = whole_number("splits: folds", folds, 2)
    labels = _labels(labels)
    fold_of = [-1] * len(labels)
    totals = [0] * folds
    for _, members in sorted(_class_groups(labels, groups).items()):
        sizes = [0] * folds
        for key in _dealing_order(members, seed):
            target = min(range(folds), key=lambda k: (sizes[k], totals[k], k))
            for index in members[key]:
                fold_of[index] = target
            sizes[target] += len(members[key])
            totals[target] += len(members[key])
    return fold_of


def group_holdout(labels: Sequence[int], groups: Sequence[Hashable] | None, fraction: float, seed: int) -> list[bool]:
    """Whether each sample is held out: per class, whole groups in the seeded order until round(fraction * n_class)
    samples are held out (a group that would overshoot is passed over). A group whose samples carry different
    labels (one picture, two labels) is never held out: it stays on the training side."""
    fraction = real_number("splits: fraction", fraction, at_least=0, below=1)
    labels = _labels(labels)
    held = [False] * len(labels)
    for _, members in sorted(_class_groups(labels, groups).items()):
        quota = round(fraction * sum(len(m) for m in members.values()))
        taken = 0
        for key in _dealing_order(members, seed):
            if taken == quota:
                break
            mixed = len({labels[i] for i in members[key]}) > 1
            if not mixed and taken + len(members[key]) <= quota:
                for index in members[key]:
                    held[index] = True
                taken += len(members[key])
    return held


def _hash_order(keys: Sequence[str]) -> list[int]:
    """Indices of ``keys`` in the order of sha256(key), ties (equal keys) by the key: the same on every machine."""
    return sorted(range(len(keys)), key=lambda i: (hashlib.sha256(keys[i].encode()).hexdigest(), keys[i]))


def hashed_fold(keys: Sequence[str], folds: int, fold: int) -> tuple[list[int], list[int]]:
    """``(rest, held)``: indices of the keys outside and inside fold ``fold`` of ``folds``, the keys dealt to the
    folds in turn in the order of sha256(key) (N-MNIST's k-fold over one class's files, keyed by relative path).
    No seed: the folds are the data's own, the same for every run."""
    folds = whole_number("splits: folds", folds, 2)
    fold = whole_number("splits: fold", fold, 0, folds - 1)
    keys = texts("splits: keys", keys)
    order = _hash_order(keys)
    held = sorted(i for rank, i in enumerate(order) if rank % folds == fold)
    taken = set(held)
    return [i for i in range(len(keys)) if i not in taken], held


def hashed_holdout(keys: Sequence[str], fraction: float) -> tuple[list[int], list[int]]:
    """``(rest, held)``: the first ``floor(n * fraction + 0.5)`` keys in the order of sha256(key) are held out, at
    least one and at most n - 1 when there are two keys or more (ASL-DVS's test split of one letter's files)."""
    fraction = real_number("splits: fraction", fraction, at_least=0, below=1)
    keys = texts("splits: keys", keys)
    order = _hash_order(keys)
    n = len(order)
    n_held = int(n * fraction + 0.5)
    if n >= 2:
        n_held = min(max(n_held, 1), n - 1)
    return sorted(order[n_held:]), sorted(order[:n_held])


Span = tuple[Hashable, int, int]
"""``(source, start, stop)``: a sample reads samples ``start .. stop - 1`` of ``source``."""


def _merged(intervals: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sorted, disjoint ``[start, stop)`` intervals covering the same samples, as (starts, stops)."""
    starts: list[int] = []
    stops: list[int] = []
    for start, stop in sorted(intervals):
        if starts and start <= stops[-1]:
            stops[-1] = max(stops[-1], stop)
        else:
            starts.append(start)
            stops.append(stop)
    return starts, stops


def drop_overlapping(
    training: Sequence[int], held: Sequence[int], held_spans: Sequence[Span], training_spans: Sequence[Span]
) -> list[int]:
    """The indices of ``training`` whose span shares no sample with the span of any ``held`` index.

    ``[a, b)`` and ``[c, d)`` of one source overlap iff ``a < d`` and ``c < b``; spans of different sources never
    do. ``held_spans`` and ``training_spans`` are per-sample lists of the whole pool (two lists, because the
    training side may read wider spans, e.g. windows stretched by augmentation)."""
    if len(held_spans) != len(training_spans):
        raise ParameterError(f"splits: {len(held_spans)} held-out spans but {len(training_spans)} training spans")
    by_source: dict[Hashable, list[tuple[int, int]]] = {}
    for index in held:
        source, start, stop = held_spans[index]
        by_source.setdefault(source, []).append((int(start), int(stop)))
    merged = {source: _merged(intervals) for source, intervals in by_source.items()}
    kept: list[int] = []
    for index in training:
        source, start, stop = training_spans[index]
        if source in merged:
            starts, stops = merged[source]
            last = bisect.bisect_left(starts, stop) - 1  # the last held interval that starts before `stop`
            if last >= 0 and stops[last] > start:
                continue
        kept.append(index)
    return kept


def split_digest(training: Sequence[str], validation: Sequence[str]) -> str:
    """Which samples train and which validate, in their order, as the SHA-256 hex digest of the JSON text
    ``{"train":[k1,k2,...],"val":[...]}`` of their keys (strings that name a sample: its index, label, group,
    file): equal digests mean the same split (up to a hash collision).

    A run keeps it in its checkpoint so that a resumed run can tell that it continues on the split it began on."""
    named = {
        side: [str(k) for k in items(f"split_digest: {side}", keys)]
        for side, keys in (("train", training), ("val", validation))
    }
    text = json.dumps(named, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
