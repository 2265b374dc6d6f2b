"""An experiment built from a config: the datasets and their split, the network, the encoder.

:func:`prepare` reads the data named by ``config.data``, splits its training part into training and validation
(whole groups per fold, training samples that overlap validation left out: :mod:`bpsrm.data.splits`) and builds
the network of ``config.model``; :func:`split_record` is what last.pt keeps of that split, so that a resumed run
can tell it continues on the samples it began on.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePath
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from ..data import get_dataset
from ..data.splits import drop_overlapping, group_folds, group_holdout, split_digest
from ..errors import BpsrmError, ConfigError, ShapeError
from ..network.encoding import get_encoder
from ..network.models import SpikingNetwork, build_model, physical_memory
from .config import Config, DataConfig, config_to_dict

__all__ = [
    "Experiment",
    "make_model",
    "prepare",
    "set_statistics",
    "sample_keys",
    "split_record",
    "subsample",
    "tested_subset",
    "without_augmentation",
]


@dataclass
class Experiment:
    """Everything a run needs, built from a config."""

    config: Config
    train_set: Dataset
    val_set: Dataset
    test_set: Dataset
    classes: list[str]
    sample_shape: tuple[int, ...]
    model: SpikingNetwork
    encode: Callable[[Tensor], Tensor]
    data_stats: dict[str, float]
    preprocess: dict[str, Any] | None = None
    """The dataset's way from a raw file to a sample, kept in checkpoints for predict."""
    plain_train_set: Dataset | None = None
    """The training samples without augmentation (the OOD calibration reads them)."""
    overlapping: int = 0
    """Training samples left out because they share raw samples with validation ones (overlapping windows)."""

    @cached_property
    def split(self) -> dict[str, Any]:
        """Which samples train and which validate (:func:`split_record`); last.pt keeps it for resume to check."""
        return split_record(self.train_set, self.val_set, self.overlapping)


def make_model(
    config: Config, sample_shape: tuple[int, ...], classes: int | None = None, *, saved: bool = False
) -> SpikingNetwork:
    """The network of ``config`` for samples of ``sample_shape`` (without the batch). ``saved``: the config is a
    checkpoint's, whose model must build as it was trained (a norm option it never read is let through)."""
    encode = get_encoder(config.encoder.name, config.model.time_steps)
    _refuse_beyond_memory(
        4 * math.prod(sample_shape) * config.model.time_steps,  # the probe below: one sample, float32
        f"samples of shape {tuple(sample_shape)} at model.time_steps={config.model.time_steps} need",
        " as one input",
    )
    try:
        probe = encode(torch.zeros((1, *sample_shape)))
    except ShapeError as exc:
        raise ConfigError(
            f"encoder.name={config.encoder.name!r} with model.time_steps={config.model.time_steps} does not fit "
            f"the dataset's samples of shape {tuple(sample_shape)} (the dataset and its data.options make them): "
            f"{exc}"
        ) from None
    try:
        model = build_model(
            config.model.spec,
            tuple(probe.shape[2:]),
            time_steps=config.model.time_steps,
            neuron=config.model.neuron,
            norm=config_to_dict(config.model.norm),
            readout_reduce=config.model.readout,
            check_norm_options=not saved,
        )
    except BpsrmError as exc:
        raise ConfigError(f"model: {exc}") from None
    _check_batch_memory(config, model)
    if classes is not None:
        out = model(probe).shape[-1]
        if out != classes:
            raise ConfigError(f"model.spec: the network ends with {out} outputs but the dataset has {classes} classes")
    return model


def _check_batch_memory(config: Config, model: SpikingNetwork) -> None:
    """Refuse a batch whose activations (synapse outputs, norm outputs and spikes, float32) exceed the memory."""
    batch = config.train.batch_size
    _refuse_beyond_memory(
        4 * 3 * model.activations_per_step * config.model.time_steps * batch,
        f"model.spec {config.model.spec!r} with train.batch_size={batch} and model.time_steps="
        f"{config.model.time_steps}: a batch would need",
        " of activations",
        " (a smaller batch or network fits)",
    )


def _refuse_beyond_memory(needed: int, subject: str, what: str, advice: str = "") -> None:
    """A ConfigError ``"<subject> <needed> GiB<what>; this machine has <memory> GiB of memory<advice>"`` when
    ``needed`` bytes exceed the machine's physical memory (nothing when that is unknown)."""
    memory = physical_memory()
    if memory is not None and needed > memory:
        raise ConfigError(
            f"{subject} {needed / 2**30:,.1f} GiB{what}; this machine has {memory / 2**30:,.1f} GiB of memory{advice}"
        )


def without_augmentation(options: dict[str, Any]) -> dict[str, Any]:
    """Dataset options with the dataset's own augmentation (options named ``augment_*``) switched off."""
    return {k: (0.0 if k.startswith("augment_") else v) for k, v in options.items()}


def set_statistics(dataset: Any, mean: float | None, std: float | None) -> None:
    """Normalise ``dataset`` with the training data's ``mean`` / ``std`` (its ``set_statistics`` if it has one)."""
    if hasattr(dataset, "set_statistics"):
        dataset.set_statistics(mean, std)
    else:
        dataset.mean, dataset.std = mean, std


def subsample(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """``limit`` samples of ``dataset`` drawn with ``seed`` (in their order), or all of them when it has no more."""
    if limit is None or limit >= len(dataset):  # type: ignore[arg-type]
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    return Subset(dataset, sorted(order[:limit].tolist()))


def tested_subset(test: Dataset, config: Config) -> Dataset:
    """The test samples a run of ``config`` tests: a random ``data.limit_test`` of them, drawn with its seed + 2
    (:func:`subsample`), or all of them. ``bpsrm eval --run-subset`` draws the same."""
    return subsample(test, config.data.limit_test, config.seed + 2)


def _base_and_indices(dataset: Dataset) -> tuple[Dataset, list[int]]:
    """The dataset under ``dataset``'s Subsets and the indices there of ``dataset``'s samples, in order."""
    if isinstance(dataset, Subset):
        base, inner = _base_and_indices(dataset.dataset)
        return base, [inner[i] for i in dataset.indices]
    return dataset, list(range(len(dataset)))  # type: ignore[arg-type]


def _per_sample(dataset: Dataset, name: str, walked: tuple[Dataset, list[int]] | None = None) -> list[Any] | None:
    """A dataset's per-sample list ``name`` (targets, groups, spans, files), through Subsets; None when it has
    none. ``walked``: :func:`_base_and_indices` of ``dataset`` when the caller has it already."""
    base, indices = walked or _base_and_indices(dataset)
    values = getattr(base, name, None)
    if values is None:
        return None
    values = values.tolist() if isinstance(values, Tensor) else values
    return [values[i] for i in indices]


def _validation_split(pool: Dataset, data: DataConfig, seed: int, reading: Dataset) -> tuple[list[int], list[int], int]:
    """(training, validation) indices of the training pool and the number of training samples left out for
    overlapping the validation ones: fold ``val_fold`` of ``val_folds`` (dealt with seed 0, so every seed and
    variant sees the same folds), or a ``val_fraction`` share. Both keep the dataset's ``groups`` whole and its
    classes balanced (:mod:`bpsrm.data.splits`); a dataset without groups gets the seeded random share, as before
    folds existed. A dataset with ``spans`` (windows of a signal) loses the training samples that read any sample
    of a validation one (:func:`~bpsrm.data.splits.drop_overlapping`); ``reading`` is the pool as training reads
    it (with augmentation), whose spans may be wider."""
    n = len(pool)  # type: ignore[arg-type]
    groups = _per_sample(pool, "groups")
    held_spans = _per_sample(pool, "spans")
    if held_spans is not None and groups is None:
        raise ConfigError(
            f"data: {data.name} gives spans (samples that read overlapping parts of a signal) but no groups: "
            "validation drawn sample by sample would leave most training samples overlapping it; give the dataset "
            "groups of neighbouring samples (bpsrm.data.splits)"
        )
    if data.val_folds is None and groups is None:
        n_val = round(n * data.val_fraction)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1)).tolist()
        training, validation = sorted(order[n_val:]), sorted(order[:n_val])
    else:
        labels = _per_sample(pool, "targets")
        if labels is None:
            raise ConfigError(
                f"data: {data.name} has no per-sample labels (a targets list), which stratified validation folds need"
            )
        if data.val_folds is not None or data.val_fraction > 0:  # the keys choose the validation samples
            _warn_of_located_keys(data, groups)
        if data.val_folds is not None:
            if data.val_fold >= data.val_folds:
                raise ConfigError(
                    f"data.val_fold: {data.val_fold} is not one of the {data.val_folds} folds (0..{data.val_folds - 1})"
                )
            fold_of = group_folds(labels, groups, data.val_folds, 0)
            held = [fold == data.val_fold for fold in fold_of]
        else:
            held = group_holdout(labels, groups, data.val_fraction, seed + 1)
        training, validation = [i for i in range(n) if not held[i]], [i for i in range(n) if held[i]]
    training_spans = _per_sample(reading, "spans") if held_spans is not None and validation else None
    if held_spans is None or training_spans is None:
        return training, validation, 0
    kept = drop_overlapping(training, validation, held_spans, training_spans)
    return kept, validation, len(training) - len(kept)


def _warn_of_located_keys(data: DataConfig, groups: list[Any] | None) -> None:
    """A warning when a dataset's group keys name where its data lies (absolute paths, or paths under
    ``data.root``): the validation split is drawn from the keys' text (:mod:`bpsrm.data.splits`), so the same data
    would split otherwise wherever its folder lies."""
    root = PurePath(str(data.root)).as_posix().rstrip("/") + "/" if data.root not in (None, "", ".") else None

    def located(key: Any) -> bool:
        text = PurePath(str(key)).as_posix() if isinstance(key, (str, PurePath)) else ""
        return os.path.isabs(text) or (root is not None and text.startswith(root))

    key = next((str(key) for key in groups or [] if located(key)), None)
    if key is not None:
        warnings.warn(
            f"data: {data.name} keys its groups by paths that say where the data lies ({key!r}, ...): the "
            "validation split is drawn from the keys' text, so the same data splits differently wherever it lies; "
            "key them by paths relative to the dataset's root",
            stacklevel=2,
        )


def _check_validation_use(config: Config, samples: int) -> None:
    """A ConfigError when the config needs validation data (to choose the epoch, or to evaluate on with
    ``train.test: false``) and the split leaves none, saying which setting left none and what to change."""
    if samples:
        return
    data = config.data
    if data.val_options is not None:
        why, fix = "the dataset with data.val_options holds no samples", "give data.val_options that select samples"
    elif data.val_folds is not None:
        why, fix = f"fold {data.val_fold} of data.val_folds {data.val_folds} holds none", "give more training samples"
    elif data.val_fraction > 0:
        why = f"a data.val_fraction {data.val_fraction:g} share of the training samples, or of their groups, is none"
        fix = "give more training samples or a larger data.val_fraction"
    else:
        why, fix = "data.val_fraction is 0 and no data.val_options", "set data.val_fraction > 0"
    if config.train.select == "best_val":
        raise ConfigError(
            f"data: no validation data ({why}) to choose the best epoch on; {fix}, or train.select: last for a "
            "fixed schedule"
        )
    if not config.train.test:
        raise ConfigError(
            f"train.test: false evaluates the trained model on the validation data, but there is none ({why}); "
            f"{fix}, or train.test: true"
        )


def prepare(config: Config, *, saved: bool = False) -> Experiment:
    """Datasets (with the validation split carved from train), encoder and model of ``config``; ``saved``: the
    config is a run's own (a resume), whose model builds as it was trained (:func:`make_model`)."""
    data = config.data
    full_train = get_dataset(data.name, "train", root=data.root, **data.options)
    test: Dataset = get_dataset(data.name, "test", root=data.root, **without_augmentation(data.options))
    # Validation and the OOD calibration read the training samples as they are, never augmented.
    plain_options = without_augmentation(data.options)
    plain_train = full_train
    if plain_options != data.options:
        plain_train = get_dataset(data.name, "train", root=data.root, **plain_options)
    train_pool = subsample(full_train, data.limit_train, config.seed)
    plain_pool = subsample(plain_train, data.limit_train, config.seed)
    n = len(train_pool)  # type: ignore[arg-type]
    if data.val_folds is not None and data.val_options is not None:
        raise ConfigError("data.val_folds and data.val_options both choose the validation data; give one of them")
    if data.val_folds is None and data.val_fold != 0:
        raise ConfigError(f"data.val_fold: {data.val_fold} without data.val_folds (the number of folds); give both")
    overlapping = 0
    if data.val_options is not None:
        # Model choice on other data (e.g. another bearing load): its test split, never the final one.
        val_set: Dataset = get_dataset(data.name, "test", root=data.root, **{**data.options, **data.val_options})
        if list(val_set.classes) != list(full_train.classes):  # type: ignore[attr-defined]
            raise ConfigError("data.val_options: the validation data has other classes than the training data")
        if getattr(full_train, "mean", None) is not None:  # statistics of the training data
            set_statistics(val_set, full_train.mean, full_train.std)  # type: ignore[attr-defined]
        train_set: Dataset = train_pool
        plain_set: Dataset = plain_pool
    else:
        train_indices, val_indices, overlapping = _validation_split(plain_pool, data, config.seed, train_pool)
        val_set = Subset(plain_pool, val_indices)
        train_set = Subset(train_pool, train_indices)
        plain_set = Subset(plain_pool, train_indices)
    _check_validation_use(config, len(val_set))  # type: ignore[arg-type]
    test = tested_subset(test, config)
    if len(train_set) == 0:  # type: ignore[arg-type]
        raise ConfigError(f"data: no training samples left after the validation split ({n} samples in all)")
    sample_shape = tuple(full_train[0][0].shape)
    model = make_model(config, sample_shape, len(full_train.classes), saved=saved)
    encode = get_encoder(config.encoder.name, config.model.time_steps)
    stats = {k: float(getattr(full_train, k)) for k in ("mean", "std") if getattr(full_train, k, None) is not None}
    preprocess = getattr(full_train, "preprocess", None)
    return Experiment(
        config,
        train_set,
        val_set,
        test,
        list(full_train.classes),
        sample_shape,
        model,
        encode,
        stats,
        preprocess.to_dict() if preprocess is not None else None,
        plain_set,
        overlapping,
    )


def split_record(train_set: Dataset, val_set: Dataset, overlapping: int = 0) -> dict[str, Any]:
    """The record of a run's split that last.pt keeps: its sizes and the
    :func:`~bpsrm.data.splits.split_digest` of the samples' keys (:func:`sample_keys`)."""
    training, validation = sample_keys(train_set), sample_keys(val_set)
    return {
        "train": len(training),
        "val": len(validation),
        "left_out": overlapping,
        "sha256": split_digest(training, validation),
    }


def sample_keys(dataset: Dataset) -> list[str]:
    """Each sample of ``dataset`` as ``"index|label|group|file"``: its index in the dataset under the Subsets
    (the training split of ``data.name``; validation on other data, ``data.val_options``, counts from 0) and what
    that dataset tells of it without reading it: its label (``targets``), ``groups`` (the weather images'
    groups of copies, CWRU's stretches) and file (the last two parts of its path, so that moving the data folder keeps
    the keys). A field the dataset lacks is empty. Other data at the same indices gives other keys as far as
    these fields tell it apart."""
    walked = _base_and_indices(dataset)
    indices = walked[1]
    fields = [_per_sample(dataset, name, walked) for name in ("targets", "groups", "files")]
    labels, groups, files = ([""] * len(indices) if values is None else values for values in fields)
    return [
        f"{index}|{label}|{group}|{'/'.join(PurePath(str(path)).parts[-2:]) if path != '' else ''}"
        for index, label, group, path in zip(indices, labels, groups, files, strict=True)
    ]
