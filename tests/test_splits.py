"""bpsrm.data.splits (folds and hold-outs with whole groups, stratified) and how training uses them:
data.val_folds / data.val_fold, and train.test: false for model-choice runs that must not read the test split."""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections import Counter

import pytest
import torch

from bpsrm.data.splits import drop_overlapping, group_folds, group_holdout, split_digest
from bpsrm.engine.config import config_from_dict
from bpsrm.engine.experiment import prepare
from bpsrm.engine.trainer import train
from bpsrm.errors import ConfigError, ParameterError
from conftest import even_shares

# 3 classes of 10, 20 and 6 samples; groups of 1 to 4 samples (keys shared across classes are distinct groups
# only by position: the key includes the class here, as a pixel digest would).
LABELS = [0] * 10 + [1] * 20 + [2] * 6
GROUPS = (
    ["a0", "a0", "a1", "a2", "a2", "a2", "a3", "a4", "a5", "a6"]
    + [f"b{i // 2}" for i in range(20)]  # ten pairs
    + ["c0", "c1", "c2", "c3", "c4", "c4"]
)


def _members(groups):
    out: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        out.setdefault(g, []).append(i)
    return out


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_folds_keep_groups_whole_and_share_out_each_class(seed: int) -> None:
    fold_of = group_folds(LABELS, GROUPS, 3, seed)
    assert sorted(set(fold_of)) == [0, 1, 2]
    for members in _members(GROUPS).values():
        assert len({fold_of[i] for i in members}) == 1
    for label, largest_group in ((0, 3), (1, 2), (2, 2)):
        sizes = Counter(fold_of[i] for i, lab in enumerate(LABELS) if lab == label)
        assert max(sizes.values()) - min(sizes.get(k, 0) for k in range(3)) <= largest_group, (label, sizes)
    # class 1: ten pairs over three folds -> 4, 3, 3 pairs: 8, 6, 6 samples
    assert sorted(Counter(fold_of[i] for i in range(10, 30)).values()) == [6, 6, 8]


def test_folds_depend_on_the_seed_and_not_on_the_listing_order() -> None:
    assert group_folds(LABELS, GROUPS, 3, 0) == group_folds(LABELS, GROUPS, 3, 0)
    assert group_folds(LABELS, GROUPS, 3, 0) != group_folds(LABELS, GROUPS, 3, 1)
    order = list(range(len(LABELS)))[::-1]
    reversed_folds = group_folds([LABELS[i] for i in order], [GROUPS[i] for i in order], 3, 0)
    by_group = {GROUPS[i]: f for i, f in zip(order, reversed_folds, strict=True)}
    straight = group_folds(LABELS, GROUPS, 3, 0)
    # a class's groups go to folds in the seeded order of their keys, whatever order they were listed in
    assert all(by_group[g] == straight[i] for i, g in enumerate(GROUPS))


def test_without_groups_every_sample_is_its_own_group() -> None:
    fold_of = group_folds([0] * 7 + [1] * 5, None, 5, 3)
    assert sorted(Counter(fold_of[:7]).values()) == [1, 1, 1, 2, 2]
    assert sorted(Counter(fold_of[7:]).values()) == [1, 1, 1, 1, 1]


def test_holdout_quota_per_class_with_whole_groups() -> None:
    held = group_holdout(LABELS, GROUPS, 0.2, 0)
    per_class = Counter(lab for lab, h in zip(LABELS, held, strict=True) if h)
    assert per_class == {0: 2, 1: 4, 2: 1}  # round(0.2 * 10), round(0.2 * 20), round(0.2 * 6)
    for members in _members(GROUPS).values():
        assert len({held[i] for i in members}) == 1


def test_a_group_with_two_labels_is_never_held_out() -> None:
    labels, groups = [0, 1, 0, 0, 1, 1], ["same", "same", "x", "y", "z", "w"]
    for seed in range(20):
        held = group_holdout(labels, groups, 0.5, seed)
        assert not held[0] and not held[1]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ParameterError, match=re.escape("folds must be a whole number in [2, 2147483647], got")):
        group_folds(LABELS, GROUPS, 1, 0)
    with pytest.raises(ParameterError, match="3 group keys for 36 samples"):
        group_folds(LABELS, ["a", "b", "c"], 3, 0)
    with pytest.raises(ParameterError, match=re.escape("fraction must be a number in [0, 1), got")):
        group_holdout(LABELS, GROUPS, 1.0, 0)


TINY = {
    "experiment": "folds",
    "seed": 4,
    "data": {"name": "fashion-mnist-demo", "limit_train": 200, "limit_test": 50},
    "model": {"spec": "4C3-TCN-SRM-MP4-FC10", "time_steps": 2},
    "train": {"epochs": 1, "batch_size": 50},
    "log": {"progress": False},
}


def _config(**data):
    return config_from_dict({**TINY, "data": {**TINY["data"], **data}})


def test_the_validation_folds_partition_the_training_pool() -> None:
    seen: list[int] = []
    per_fold: list[Counter[int]] = []
    for fold in range(4):
        experiment = prepare(_config(val_folds=4, val_fold=fold))
        train_idx, val_idx = experiment.train_set.indices, experiment.val_set.indices
        assert not set(train_idx) & set(val_idx) and len(train_idx) + len(val_idx) == 200
        per_fold.append(Counter(experiment.val_set[i][1] for i in range(len(val_idx))))
        seen += val_idx
    assert sorted(seen) == list(range(200))  # each sample validates exactly once
    pool = sum(per_fold, Counter())  # the folds partition the pool, so their labels are the pool's
    assert len(pool) == 10
    for label, count in pool.items():  # stratified: each class dealt evenly, its folds differ by at most one
        assert {fold[label] for fold in per_fold} <= even_shares(count, 4), (label, count, per_fold)
    with pytest.raises(ConfigError, match=r"data.val_fold: 4 is not one of the 4 folds \(0..3\)"):
        prepare(_config(val_folds=4, val_fold=4))


def test_train_test_false_never_reads_the_test_split(tmp_path, monkeypatch) -> None:
    """The final evaluation runs on the validation data; the test set is not iterated at all."""
    import bpsrm.engine.experiment as experiment
    import bpsrm.engine.trainer as trainer

    read: list[int] = []
    original = trainer.evaluate_model

    def spy(model, dataset, *args, **kwargs):
        read.append(len(dataset))
        return original(model, dataset, *args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate_model", spy)
    test_reads: list[int] = []
    real_get_dataset = experiment.get_dataset

    def counting_get_dataset(name, split, **options):
        dataset = real_get_dataset(name, split, **options)
        if split == "test":
            original_getitem = type(dataset).__getitem__

            class Counted(type(dataset)):  # the same dataset, every read of a sample recorded
                def __getitem__(self, index):
                    test_reads.append(index)
                    return original_getitem(self, index)

            dataset.__class__ = Counted
        return dataset

    monkeypatch.setattr(experiment, "get_dataset", counting_get_dataset)
    config = config_from_dict(
        {**TINY, "data": {**TINY["data"], "val_folds": 5}, "train": {**TINY["train"], "test": False}}
    )
    n_val = len(prepare(config).val_set)
    assert n_val != 50  # the test subset's size: a read of it would show
    train(config, tmp_path / "run", log=lambda _: None)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "validation" and metrics["test_accuracy"] is None and metrics["test_samples"] == 0
    assert read == [n_val, n_val]  # the epoch's validation, then the final evaluation: both of the validation fold
    assert test_reads == []  # not one test sample read (the raster and membrane plots take a validation sample)
    assert sum(sum(row) for row in metrics["confusion_matrix"]) == n_val
    accuracy = torch.tensor(metrics["confusion_matrix"]).trace().item() / n_val
    assert accuracy == pytest.approx(metrics["best_val_accuracy"])
    # the spy sees test reads when there are some: the same run with train.test (the default) reads all 50
    train(config_from_dict({**TINY, "data": {**TINY["data"], "val_folds": 5}}), tmp_path / "tested", log=lambda _: None)
    assert len(set(test_reads)) == 50


def test_the_remainders_of_the_classes_spread_over_the_folds() -> None:
    """10 classes of 21 samples in 4 folds: 210 samples, folds of 52 or 53 (not 60 in fold 0 and 50 elsewhere)."""
    fold_of = group_folds([c for c in range(10) for _ in range(21)], None, 4, 0)
    assert sorted(Counter(fold_of).values()) == [52, 52, 53, 53]


def test_fold_keys_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"data\.val_folds and data\.val_options both choose the validation data"):
        prepare(_config(val_folds=3, val_options={"limit": 1}))
    with pytest.raises(ConfigError, match=r"data.val_fold: 2 without data.val_folds"):
        prepare(_config(val_fold=2))


def test_drop_overlapping_by_hand() -> None:
    # Windows of 4 samples, stride 2, on source "r"; one window of source "q" at the same positions.
    spans = [("r", 0, 4), ("r", 2, 6), ("r", 4, 8), ("r", 6, 10), ("r", 8, 12), ("r", 10, 14), ("q", 4, 8)]
    # Held: window 3 ([6, 10)). [4, 8) and [8, 12) share samples 6-7 and 8-9 with it; [2, 6) and [10, 14) only
    # touch it (samples 2-5 and 10-13); "q" is another signal.
    assert drop_overlapping([0, 1, 2, 4, 5, 6], [3], spans, spans) == [0, 1, 5, 6]
    # Two held windows that touch each other ([0, 4) and [4, 8)) cover [0, 8): [6, 10) overlaps, [8, 12) not.
    assert drop_overlapping([1, 3, 4, 5, 6], [0, 2], spans, spans) == [4, 5, 6]
    # Wider training spans (a window stretched by augmentation reads one more sample each side).
    wide = [(source, start - 1, stop + 1) for source, start, stop in spans]
    assert drop_overlapping([0, 1, 2, 4, 5, 6], [3], spans, wide) == [0, 6]
    assert drop_overlapping([0, 1], [], spans, spans) == [0, 1]
    with pytest.raises(ParameterError, match="6 training spans"):
        drop_overlapping([0], [1], spans, spans[:6])


def test_drop_overlapping_against_every_pair() -> None:
    """Random intervals on three sources, against the plain all-pairs check (a < d and c < b)."""
    generator = torch.Generator().manual_seed(3)
    for _ in range(50):
        n = 40
        sources = torch.randint(0, 3, (n,), generator=generator).tolist()
        starts = torch.randint(0, 100, (n,), generator=generator).tolist()
        lengths = torch.randint(1, 12, (n,), generator=generator).tolist()
        spans = [(f"s{src}", a, a + length) for src, a, length in zip(sources, starts, lengths, strict=True)]
        held = [i for i in range(n) if torch.rand((), generator=generator) < 0.2]
        training = [i for i in range(n) if i not in held]
        expected = [
            i
            for i in training
            if not any(
                spans[i][0] == spans[j][0] and spans[i][1] < spans[j][2] and spans[j][1] < spans[i][2] for j in held
            )
        ]
        assert drop_overlapping(training, held, spans, spans) == expected


def _with_spans(monkeypatch, groups: bool) -> None:
    """The demo images as if each read samples [i, i + 3) of one signal (neighbours overlap by two), with or
    without groups of four neighbours."""
    from bpsrm.data import get_dataset

    cls = type(get_dataset("fashion-mnist-demo", "train"))
    monkeypatch.setattr(
        cls, "spans", property(lambda self: [("signal", i, i + 3) for i in range(len(self))]), raising=False
    )
    if groups:
        monkeypatch.setattr(
            cls, "groups", property(lambda self: [f"g{i // 4}" for i in range(len(self))]), raising=False
        )


def test_spans_without_groups_are_refused(monkeypatch) -> None:
    _with_spans(monkeypatch, groups=False)
    with pytest.raises(ConfigError, match=r"fashion-mnist-demo gives spans .* but no groups"):
        prepare(_config(val_fraction=0.1))


def test_training_samples_overlapping_validation_are_left_out(monkeypatch) -> None:
    """Through limit_train's Subset: the pool's own indices name the samples, and a training sample i (reading
    i .. i + 2) is kept iff no validation sample j has |i - j| < 3."""
    _with_spans(monkeypatch, groups=True)
    experiment = prepare(_config(val_fraction=0.2))
    pool = experiment.val_set.dataset  # the limit_train Subset of 200 samples
    original = [pool.indices[i] for i in range(len(pool))]  # sample i of the pool reads original[i] .. + 2
    val = {original[i] for i in experiment.val_set.indices}
    kept = [original[i] for i in experiment.train_set.indices]
    others = [original[i] for i in range(len(pool)) if original[i] not in val]
    assert kept == [i for i in others if all(abs(i - j) >= 3 for j in val)]
    assert experiment.overlapping == len(others) - len(kept) > 0


def test_split_digest_names_the_samples_on_each_side_in_order() -> None:
    import hashlib

    assert split_digest(["2|a", "0|b"], ["1|a"]) == hashlib.sha256(b'{"train":["2|a","0|b"],"val":["1|a"]}').hexdigest()
    digests = {
        split_digest(["2", "0"], ["1"]),
        split_digest(["0", "2"], ["1"]),  # another order of training samples
        split_digest(["2", "1"], ["0"]),  # a sample moved across
        split_digest(["2", "0", "1"], []),
        split_digest(["2,0"], ["1"]),  # keys with commas are told apart
        split_digest(["2", "0"], ["1|other label"]),
    }
    assert len(digests) == 6


class _Listed(torch.utils.data.Dataset):
    """Four samples that tell their labels, groups and files without being read."""

    def __init__(self) -> None:
        self.targets = [1, 0, 1, 2]
        self.groups = ["g0", "g0", "g1", "g2"]
        self.files = ["/data/a/x/1.bin", "/data/a/y/2.bin", "/data/b/x/3.bin", "/data/b/z/4.bin"]

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):
        raise AssertionError("sample_keys reads no sample")


def test_sample_keys_name_index_label_group_and_file_through_subsets() -> None:
    from bpsrm.engine.experiment import sample_keys

    inner = torch.utils.data.Subset(_Listed(), [3, 1, 2])
    assert sample_keys(torch.utils.data.Subset(inner, [2, 0])) == ["2|1|g1|x/3.bin", "3|2|g2|z/4.bin"]
    plain = torch.utils.data.TensorDataset(torch.zeros(2, 1))
    assert sample_keys(plain) == ["0|||", "1|||"]  # a dataset that tells nothing: its indices alone


def test_hashed_folds_deal_in_digest_order_and_cover_every_key_once() -> None:
    """hashed_fold: rank r of sha256(key) goes to fold r % k (checked against digests computed here), the folds
    are disjoint, cover every key and differ in size by at most one; a fold outside 0..k-1 is refused."""
    import hashlib

    from bpsrm.data.splits import hashed_fold

    keys = [f"{digit}/{i:05d}.bin" for digit in "01" for i in range(11)]
    digests = sorted(hashlib.sha256(k.encode()).hexdigest() for k in keys)
    held_by_fold = [hashed_fold(keys, 4, fold)[1] for fold in range(4)]
    for fold, held in enumerate(held_by_fold):
        assert {hashlib.sha256(keys[i].encode()).hexdigest() for i in held} == set(digests[fold::4])
        assert sorted(hashed_fold(keys, 4, fold)[0] + held) == list(range(len(keys)))
    assert sorted(i for held in held_by_fold for i in held) == list(range(len(keys)))
    assert {len(h) for h in held_by_fold} == {5, 6}  # 22 keys in 4 folds
    with pytest.raises(ParameterError, match=re.escape("fold must be a whole number in [0, 3], got 4")):
        hashed_fold(keys, 4, 4)


def test_hashed_holdout_rounds_half_up_and_keeps_both_sides() -> None:
    """hashed_holdout: floor(n * fraction + 0.5) keys held out, the first by digest; at least one and at most
    n - 1 once there are two keys; a single key stays on the training side at a small fraction."""
    import hashlib

    from bpsrm.data.splits import hashed_holdout

    keys = [f"a/{i}.mat" for i in range(10)]
    first = sorted(range(10), key=lambda i: hashlib.sha256(keys[i].encode()).hexdigest())
    assert hashed_holdout(keys, 0.25) == (sorted(first[3:]), sorted(first[:3]))  # 2.5 rounds up to 3
    assert len(hashed_holdout(keys, 0.24)[1]) == 2
    assert len(hashed_holdout(keys[:2], 0.1)[1]) == 1 and len(hashed_holdout(keys[:2], 0.9)[1]) == 1
    assert hashed_holdout(keys[:1], 0.2) == ([0], [])


@pytest.mark.parametrize(
    ("prefix", "root", "warned"),
    [
        ("/data/field/", None, True),  # an absolute path
        ("runs/recordings/", "runs/recordings", True),  # the root joined with the file: docs/examples' own case
        ("runs/recordings/", "./runs/recordings/", True),
        ("healthy/", "runs/recordings", False),  # relative to the root
        ("field/", None, False),
    ],
)
def test_group_keys_that_say_where_the_data_lies_are_warned_of(monkeypatch, prefix, root, warned) -> None:
    """docs/examples/my_recordings.py keyed windows by ``root / state / file``: its split changed with the folder
    the recordings lay in, and nothing said so."""
    from bpsrm.data import get_dataset

    cls = type(get_dataset("fashion-mnist-demo", "train"))
    monkeypatch.setattr(
        cls, "groups", property(lambda self: [f"{prefix}r{i // 4}.csv" for i in range(len(self))]), raising=False
    )
    config = _config(val_fraction=0.2)
    if root is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=root))
        monkeypatch.setattr(cls, "__init__", _ignoring_root(cls.__init__))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepare(config)
    said = [str(w.message) for w in caught if "groups by paths" in str(w.message)]
    if warned:
        (message,) = said  # the first key of the pool (limit_train's subset of the 1,000 demo images)
        assert message.startswith(
            f"data: fashion-mnist-demo keys its groups by paths that say where the data lies ('{prefix}r"
        )
        assert message.endswith(
            ".csv', ...): the validation split is drawn from the keys' text, so the same data splits differently "
            "wherever it lies; key them by paths relative to the dataset's root"
        )
    else:
        assert said == []
    with warnings.catch_warnings(record=True) as caught:  # no validation drawn: the keys choose nothing
        warnings.simplefilter("always")
        data, train = (
            dataclasses.replace(config.data, val_fraction=0.0),
            dataclasses.replace(config.train, select="last"),
        )
        prepare(dataclasses.replace(config, data=data, train=train))
    assert not [w for w in caught if "groups by paths" in str(w.message)]


def _ignoring_root(init):
    """The demo reader's ``__init__`` with the root it is given dropped (its images ship with bpsrm)."""

    def wrapped(self, split, root=None, **options):
        init(self, split, **options)

    return wrapped
