"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; MIT licence, (c) 2017 Zalando SE).

The four official IDX files, gzipped or not, looked for as described in
:mod:`bpsrm.data.locate` (in the place itself or in a ``fashion-mnist/``
subfolder; Debian's ``dataset-fashion-mnist`` installs to
``/usr/share/datasets/fashion-mnist``). With ``download=True`` the files come
from the official repository over HTTPS into the user cache. Their check is
the sha256 of the *decompressed* content, because recompressed copies of the
same bytes (Debian's) exist.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import SampleDataset, check_split, register
from .download import UrlOpener, fetch
from .idx import read_idx
from .locate import cache_dir, locate
from .preprocess import ImagePreprocess

__all__ = ["CLASSES", "FashionMNIST", "find_fashion_mnist", "load_fashion_mnist"]

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
URL = "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"
# sha256 of the decompressed IDX files (equal for the upstream and Debian copies).
CONTENT_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_HOW_TO_GET = (
    "Get the four IDX files from https://github.com/zalandoresearch/fashion-mnist (data/fashion/), "
    "install Debian's package dataset-fashion-mnist, or run `bpsrm data download fashion-mnist` "
    "(download=True in Python)."
)


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete(folder: Path) -> bool:
    return all(_file(folder, stem) for pair in _FILES.values() for stem in pair)


def find_fashion_mnist(root: str | Path | None = None) -> Path:
    """The first folder that holds all four Fashion-MNIST files; a DataNotFoundError listing where it looked."""
    return locate("Fashion-MNIST", root, _complete, ("fashion-mnist", "FashionMNIST"), _HOW_TO_GET)


def _content_sha256(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: the gzip stream is damaged ({exc})") from None
    return hashlib.sha256(data).hexdigest()


def download_fashion_mnist(target: str | Path | None = None, opener: UrlOpener | None = None) -> Path:
    """Fetch the four files into ``target`` (default: the user cache), each verified; returns the folder."""
    folder = Path(target) if target is not None else cache_dir() / "fashion-mnist"
    for stem, digest in CONTENT_SHA256.items():
        fetch(URL + stem + ".gz", folder / (stem + ".gz"), digest, opener=opener, digest=_content_sha256)
    return folder


def load_fashion_mnist(
    split: str, root: str | Path | None = None, download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` int64 of ``split`` ("train" or "test")."""
    check_split("Fashion-MNIST", split)
    return _read_split(_resolve(root, download), split)


def _resolve(root: str | Path | None, download: bool) -> Path:
    """The folder with the files: found, or (with download) fetched into the user cache."""
    try:
        return find_fashion_mnist(root)
    except DataError:
        if not download:
            raise
    return download_fashion_mnist()


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_stem, label_stem = _FILES[split]
    image_path, label_path = _file(folder, image_stem), _file(folder, label_stem)
    assert image_path is not None and label_path is not None
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{image_path}: expected images [N, 28, 28], got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{label_path}: expected {images.shape[0]} labels (one per image), got shape {labels.shape}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{label_path}: labels must be 0-9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


@register
class FashionMNIST(SampleDataset):
    """Fashion-MNIST as ``(image [1, 28, 28] float32 in [0, 1], label)``."""

    name = "fashion-mnist"

    def __init__(self, split: str, root: str | Path | None = None, download: bool = False) -> None:
        check_split("Fashion-MNIST", split)
        self.location = _resolve(root, download)
        images, labels = _read_split(self.location, split)
        self.split = split
        self.images = torch.from_numpy(images.copy())
        self.targets = labels.tolist()
        self.classes = list(CLASSES)
        self.input_shape = (1, 28, 28)
        self.preprocess = ImagePreprocess(1, 28, 28)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.preprocess.to_input(self.images[index].unsqueeze(0)), self.targets[index]


@register
class FashionMNISTDemo(SampleDataset):
    """The Fashion-MNIST subset shipped inside bpsrm (5,000 train / 1,000 test, stratified; no download).

    Made by ``scripts/make_demo_subset.py``: the first 500 (train) and 100 (test)
    images of each class of the official files.
    """

    name = "fashion-mnist-demo"

    def __init__(self, split: str, root: str | Path | None = None, download: bool = False) -> None:
        from importlib import resources

        check_split("Fashion-MNIST demo subset", split)
        asset = resources.files("bpsrm") / "assets" / "fashion_mnist_demo.npz"
        try:
            with asset.open("rb") as handle, np.load(handle) as arrays:
                images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{asset}: the demo subset shipped with bpsrm cannot be read ({exc})") from None
        self.split = split
        self.location = Path(str(asset))
        self.images = torch.from_numpy(images.copy())
        self.targets = labels.astype(np.int64).tolist()
        self.classes = list(CLASSES)
        self.input_shape = (1, 28, 28)
        self.preprocess = ImagePreprocess(1, 28, 28)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.preprocess.to_input(self.images[index].unsqueeze(0)), self.targets[index]
