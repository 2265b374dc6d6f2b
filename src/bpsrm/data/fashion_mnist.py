"""Fashion-MNIST (Xiao et al. 2017, MIT licence, (c) Zalando SE): the four IDX files.

Looked for, in order, in: the given root, ``$BPSRM_DATA``, the user cache
``~/.cache/bpsrm``, and Debian's ``/usr/share/datasets`` (package
``dataset-fashion-mnist``); in each, in the folder itself or in its
``fashion-mnist/`` subfolder, gzipped or not.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .idx import read_idx

__all__ = ["CLASSES", "find_fashion_mnist", "load_fashion_mnist"]

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}


def _candidates(root: str | Path | None) -> list[Path]:
    places: list[Path] = []
    if root is not None:
        places.append(Path(root))
    if os.environ.get("BPSRM_DATA"):
        places.append(Path(os.environ["BPSRM_DATA"]))
    places.append(Path.home() / ".cache" / "bpsrm")
    places.append(Path("/usr/share/datasets"))
    found: list[Path] = []
    for place in places:
        found.extend([place, place / "fashion-mnist"])
    return found


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_fashion_mnist(root: str | Path | None = None) -> Path:
    """The first folder that holds all four Fashion-MNIST files; a DataError listing where it looked."""
    looked = _candidates(root)
    for folder in looked:
        if all(_file(folder, stem) for images, labels, _ in _FILES.values() for stem in (images, labels)):
            return folder
    places = "\n  ".join(str(p) for p in looked)
    raise DataError(
        "Fashion-MNIST not found. Looked for train-images-idx3-ubyte(.gz) and the three other IDX files in:\n  "
        f"{places}\nGet them from https://github.com/zalandoresearch/fashion-mnist or Debian's package "
        "dataset-fashion-mnist, and pass root=... or set BPSRM_DATA."
    )


def load_fashion_mnist(split: str, root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` int64 of ``split`` ("train" or "test")."""
    if split not in _FILES:
        raise DataError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    folder = find_fashion_mnist(root)
    image_stem, label_stem, _ = _FILES[split]
    image_path, label_path = _file(folder, image_stem), _file(folder, label_stem)
    images, labels = read_idx(image_path), read_idx(label_path)  # type: ignore[arg-type]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{image_path}: expected images [N, 28, 28], got {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{label_path}: expected {images.shape[0]} labels, got shape {labels.shape}")
    if labels.max(initial=0) > 9:
        raise DataError(f"{label_path}: labels must be 0-9, found {int(labels.max())}")
    return images, labels.astype(np.int64)
