"""What every bpsrm dataset provides, and the registry of datasets by name."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from ..errors import BpsrmError, DataError, ParameterError, shown
from ..user_code import SPEC_FORMS, find_class

__all__ = [
    "SampleDataset",
    "DATASETS",
    "register",
    "get_dataset",
    "check_dataset_options",
    "dataset_class",
    "check_split",
    "check_option_names",
]

SPLITS = ("train", "test")


def check_split(dataset: str, split: str) -> str:
    """``split`` if it is "train" or "test", else a DataError naming it."""
    if not isinstance(split, str) or split not in SPLITS:  # (an array's "in" asks for its truth value)
        raise DataError(
            f"{dataset}: split must be 'train' or 'test', got {shown(split)} (validation is carved from train)"
        )
    return split


class SampleDataset(Dataset):
    """Base of bpsrm's datasets: samples ``(input tensor, int label)``.

    Subclasses set ``classes`` (names, index = label), ``targets`` (the label of
    every sample, in order), ``location`` (the folder the files were found in)
    and ``input_shape`` (one sample's shape), and implement ``__getitem__``.
    """

    name: ClassVar[str] = ""
    split_options: ClassVar[tuple[str, ...]] = ()
    """The options that decide which samples a split holds (which records, files, classes, folds), as against
    how a sample is prepared: a search over configurations may not vary them (scripts/cv_select.py), or its
    variants would be validated, and later tested, on different samples."""
    independent_samples: ClassVar[bool] = True
    """False where samples are windows cut from the same recordings: neighbours are alike, so a test that counts
    samples as independent (McNemar's, in ``bpsrm compare``) gives too small a p."""
    classes: list[str]
    targets: list[int]
    location: Path
    input_shape: tuple[int, ...]
    split: str

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class name."""
        counts = Counter(self.targets)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}

    @classmethod
    def training_overlap(cls, trained: Mapping[str, Any], evaluated: Mapping[str, Any]) -> str | None:
        """Why samples of a split read with the options ``evaluated`` include samples that a model trained with the
        options ``trained`` learnt from, or None when they cannot (the default: test and train splits are apart)."""
        return None

    def info(self) -> dict[str, Any]:
        """A JSON-friendly summary: counts per class, input shape, where the files are."""
        return {
            "dataset": self.name,
            "split": self.split,
            "samples": len(self),
            "classes": self.class_counts(),
            "input_shape": list(self.input_shape),
            "location": str(self.location),
        }


DATASETS: dict[str, type[SampleDataset]] = {}


def register(cls: type[SampleDataset]) -> type[SampleDataset]:
    """Class decorator: make a dataset reachable by ``get_dataset(cls.name, ...)``."""
    DATASETS[cls.name] = cls
    return cls


ENTRY_POINT_GROUP = "bpsrm.datasets"
"""The entry-point group through which an installed package offers datasets by name."""


def dataset_class(name: str) -> type[SampleDataset]:
    """The dataset class called ``name``.

    ``name`` is a registered name ("fashion-mnist", ...; :data:`DATASETS`), a name offered by an installed
    package in the entry-point group ``bpsrm.datasets``, or a class of your own: ``package.module:ClassName``
    (importable, or a module in the current folder) or ``path/to/file.py:ClassName``. The class must
    derive from :class:`SampleDataset`.
    """
    if not isinstance(name, str):  # before the lookup: a list is unhashable
        raise ParameterError(f"a dataset name must be a string, got {type(name).__name__}")
    base = (SampleDataset, "bpsrm.data.SampleDataset")
    found = find_class(name, DATASETS, ENTRY_POINT_GROUP, "dataset", base, DataError)
    if found is not None:
        return found
    raise ParameterError(
        f"unknown dataset {shown(name)}; expected one of {sorted(DATASETS)}, a name in the {ENTRY_POINT_GROUP!r} "
        f"entry points, or a class of your own as {SPEC_FORMS}"
    )


# get_dataset's own arguments, and where each is given instead of as a dataset option
_GIVEN_ELSEWHERE = {
    "split": "the command or get_dataset's split argument",
    "root": "data.root in a config, --root on the command line",
    "download": "bpsrm data download, or get_dataset's download argument",
}


def check_option_names(options: dict[str, Any], where: str) -> None:
    """Refuse a dataset option named as one of :func:`get_dataset`'s own arguments (``split``, ``root``,
    ``download``), with a :class:`~bpsrm.errors.ParameterError` naming ``where`` it was given and where it belongs:
    passed on with the options, it would reach get_dataset twice (a TypeError), or set its download flag. Callers
    that take options from a user check them before the call (the config's ``data.options``, ``bpsrm eval -o``)."""
    for name in sorted(set(options) & set(_GIVEN_ELSEWHERE)):
        raise ParameterError(f"{where}: {shown(name)} is not a dataset option; it is given by {_GIVEN_ELSEWHERE[name]}")


def check_dataset_options(cls: type[SampleDataset], options: dict[str, Any], name: str) -> None:
    """A ParameterError naming each option in ``options`` that the dataset class ``cls`` (named ``name``) does not
    take, and the ones it takes (the parameters of its constructor besides split, root and download)."""
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "split", "root", "download")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"it takes {allowed}" if allowed else "it takes no options"
        raise ParameterError(f"dataset {shown(name)}: unknown options {shown(unknown)}; {takes}")


def get_dataset(
    name: str, split: str, root: str | Path | None = None, download: bool = False, **options: Any
) -> SampleDataset:
    """The dataset ``name`` for ``split``: a built-in one ("fashion-mnist", "weather", "nmnist", "asl-dvs",
    "cwru") or one of your own (see :func:`dataset_class`).

    ``root`` is searched first (see :mod:`bpsrm.data.locate`); ``download``
    fetches the official files into the user cache where the dataset allows it;
    ``options`` are the dataset's own (frame count, window length, ...): an
    unknown option is an error naming it.
    """
    cls = dataset_class(name)
    check_dataset_options(cls, options, name)
    if cls.__module__.startswith("bpsrm."):
        return cls(split=split, root=root, download=download, **options)  # type: ignore[call-arg]
    try:  # a dataset of the user's own: whatever its constructor raises is named as its failure, on one line
        return cls(split=split, root=root, download=download, **options)  # type: ignore[call-arg]
    except BpsrmError:
        raise
    except Exception as exc:
        raise DataError(
            f"dataset {shown(name)}: {cls.__name__}(split={shown(split)}, root=..., ...) failed with "
            f"{type(exc).__name__}: {exc} (a SampleDataset takes split, root, download and its options)"
        ) from exc
