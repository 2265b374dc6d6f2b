"""Multi-class Weather Dataset, MWD (Ajayi 2018, Mendeley Data doi:10.17632/4drtyfjtfy.1, CC BY 4.0).

Layout: one folder per class (``cloudy``, ``rain``, ``shine``, ``sunrise``)
holding the images. Files are read by content, not by extension (some
``.jpg`` files are PNG or GIF), and every mode (RGB, L, P, RGBA) is
converted to RGB.

There is no official split. The split made here is stratified by class, the
same on every machine, and keeps every copy of a photo on one side: files with
equal decoded RGB pixels (sha256 of pixels and size), and near-duplicates
(resized, cropped or colour-edited copies, :func:`near_duplicate_groups`), form
a group, which always lies whole on one side. Grouping by equal pixels alone
(``grouping="pixels"``, the split of the runs before 2026-12-05) left 30 of the
225 test images with a resized copy among the training images. The copy here holds 24 such groups (49
files): 21 are byte-identical files under different names, and in three the
bytes differ (other EXIF data) but the pixels do not (``cloudy3.jpg`` and
``cloudy115.jpg``, ``cloudy99.jpg`` and ``cloudy133.jpg``, ``cloudy24.jpg`` and
``cloudy110.jpg``). ``groups`` gives each sample's group, so that validation
splits and cross-validation folds keep them whole too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checks import MAX_SIDE, SEED_RANGE, choice, flag, real_number, whole_number
from ..errors import DataError
from .base import SampleDataset, check_split, register
from .image_looks import (
    NEAR_CORRELATION,
    NEAR_MEAN_ABS,
    ImageLook,
    cached_looks,
    look_at,
    near_duplicate_groups,
    pixel_digest,
)
from .locate import locate
from .preprocess import ImagePreprocess
from .splits import group_holdout

__all__ = [
    "Weather",
    "WEATHER_CLASSES",
    # from bpsrm.data.image_looks, where the split's looks and groups are made
    "ImageLook",
    "look_at",
    "pixel_digest",
    "near_duplicate_groups",
    "NEAR_MEAN_ABS",
    "NEAR_CORRELATION",
]

WEATHER_CLASSES = ["cloudy", "rain", "shine", "sunrise"]
_HOW_TO_GET = (
    "Get the Multi-class Weather Dataset from https://data.mendeley.com/datasets/4drtyfjtfy/1 "
    "(doi:10.17632/4drtyfjtfy.1) and lay it out as one folder per class: cloudy/, rain/, shine/, sunrise/. "
    "download=True cannot fetch it: bpsrm knows no verified checksum of the official archive."
)


def _class_folders(folder: Path) -> dict[str, Path]:
    """Class name -> its folder inside ``folder`` (names matched case-insensitively)."""
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and entry.name.lower() in WEATHER_CLASSES:
            found.setdefault(entry.name.lower(), entry)
    return found


def _is_complete(folder: Path) -> bool:
    try:
        return len(_class_folders(folder)) == len(WEATHER_CLASSES)
    except OSError:
        return False


GROUPINGS = ("near", "pixels")
"""``grouping``: "near" (equal pixels and near-duplicates, the default) or "pixels" (equal pixels only: the
split of the weather runs made before 2026-12-05, kept to reproduce them)."""


def _class_files(folder: Path) -> list[Path]:
    files = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue  # hidden files (.DS_Store, ._foo.jpg) are not samples
        if not entry.is_file():
            raise DataError(f"weather: unexpected entry {entry} in a class folder (expected image files only)")
        files.append(entry)
    if not files:
        raise DataError(f"weather: class folder {folder} holds no images")
    return files


@register
class Weather(SampleDataset):
    """The MWD images as ``(float32 [3, image_size, image_size] in [0, 1], label)``.

    ``test_fraction`` of every class goes to test, in whole groups of copies of
    one photo (``groups``: equal pixels and near-duplicates, or with ``grouping``
    "pixels" equal pixels only, the earlier rule); ``seed`` picks which groups,
    deterministically.
    Decoded images are kept in memory after their first use (see
    :meth:`preload`). With ``cache`` what the split reads of every file (its
    pixel digest and thumbnails) is kept in ``<cache>/looks``
    (``$BPSRM_CACHE`` or ``~/.cache/bpsrm``): a later process builds the split
    without decoding every image again
    (:func:`~bpsrm.data.image_looks.cached_looks`).
    """

    name = "weather"
    split_options = ("test_fraction", "seed", "grouping")

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        image_size: int = 64,
        test_fraction: float = 0.2,
        seed: int = 0,
        grouping: str = "near",
        cache: bool = True,
    ) -> None:
        self.split = check_split("weather", split)
        self.image_size = whole_number("weather: image_size", image_size, 1, MAX_SIDE)
        self.test_fraction = real_number("weather: test_fraction", test_fraction, above=0, below=1)
        self.seed = whole_number("weather: seed", seed, *SEED_RANGE)
        self.grouping = choice("weather: grouping", grouping, GROUPINGS)
        self.classes = list(WEATHER_CLASSES)
        self.input_shape = (3, self.image_size, self.image_size)
        self.preprocess: ImagePreprocess = ImagePreprocess(3, self.image_size, self.image_size)
        self.location = locate(
            "Multi-class Weather Dataset",
            root,
            _is_complete,
            ("weather", "MWD", "Multi-class Weather Dataset"),
            _HOW_TO_GET,
        )

        # Every file, its label and what the split reads of its decoded pixels; each must decode.
        folders = _class_folders(self.location)
        paths: list[Path] = []
        labels: list[int] = []
        contents: list[tuple[bytes, str]] = []
        for label, name in enumerate(self.classes):
            for path in _class_files(folders[name]):
                try:
                    contents.append((path.read_bytes(), f"weather: {path}"))
                except OSError as exc:
                    raise DataError(f"weather: cannot read {path} ({exc})") from exc
                paths.append(path)
                labels.append(label)
        looks: list[ImageLook] = cached_looks(contents, flag("weather: cache", cache))
        del contents

        # Copies of one photo form a group, which lies whole on one side.
        groups = near_duplicate_groups(looks) if grouping == "near" else [look.digest for look in looks]
        held_out = group_holdout(labels, groups, self.test_fraction, self.seed)
        chosen = [i for i, held in enumerate(held_out) if held == (self.split == "test")]
        self.files: list[Path] = [paths[i] for i in chosen]
        self.targets = [labels[i] for i in chosen]
        self.groups: list[str] = [groups[i] for i in chosen]  # copies of one photo: samples that stay together
        self._images: dict[int, torch.Tensor] = {}

    def _image(self, index: int) -> torch.Tensor:
        image = self._images.get(index)
        if image is None:
            path = self.files[index]
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise DataError(f"weather: cannot read {path} ({exc})") from exc
            image = self._images[index] = self.preprocess.decode(data, f"weather: {path}")
        return image

    def preload(self, progress: bool = True) -> None:
        """Decode every image of this split now (with a progress bar if tqdm is installed and ``progress``)."""
        from ..files import progress as bar

        for index in bar(range(len(self)), desc=f"weather {self.split}", unit="img", enabled=progress):
            self._image(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"weather: index {index} out of range for {len(self)} samples")
        return self.preprocess.to_input(self._image(index)), self.targets[index]
