"""What every bpsrm dataset provides, and the registry of datasets by name."""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from ..errors import DataError, ParameterError

__all__ = ["SampleDataset", "DATASETS", "register", "get_dataset", "check_split"]

SPLITS = ("train", "test")


def check_split(dataset: str, split: str) -> str:
    """``split`` if it is "train" or "test", else a DataError naming it."""
    if split not in SPLITS:
        raise DataError(f"{dataset}: split must be 'train' or 'test', got {split!r} (validation is carved from train)")
    return split


class SampleDataset(Dataset):
    """Base of bpsrm's datasets: samples ``(input tensor, int label)``.

    Subclasses set ``classes`` (names, index = label), ``targets`` (the label of
    every sample, in order), ``location`` (the folder the files were found in)
    and ``input_shape`` (one sample's shape), and implement ``__getitem__``.
    """

    name: ClassVar[str] = ""
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


def get_dataset(
    name: str, split: str, root: str | Path | None = None, download: bool = False, **options: Any
) -> SampleDataset:
    """The dataset ``name`` ("fashion-mnist", "weather", "nmnist", "asl-dvs", "cwru") for ``split``.

    ``root`` is searched first (see :mod:`bpsrm.data.locate`); ``download``
    fetches the official files into the user cache where the dataset allows it;
    ``options`` are the dataset's own (frame count, window length, ...): an
    unknown option is an error naming it.
    """
    cls = DATASETS.get(name)
    if cls is None:
        raise ParameterError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "split", "root", "download")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"it takes {allowed}" if allowed else "it takes no options"
        raise ParameterError(f"dataset {name!r}: unknown options {unknown}; {takes}")
    return cls(split=split, root=root, download=download, **options)  # type: ignore[call-arg]
