"""Multi-class Weather Dataset, MWD (Ajayi 2018, Mendeley Data doi:10.17632/4drtyfjtfy.1, CC BY 4.0).

Layout: one folder per class (``cloudy``, ``rain``, ``shine``, ``sunrise``)
holding the images. Files are read by content, not by extension (some
``.jpg`` files are PNG or GIF), and every mode (RGB, L, P, RGBA) is
converted to RGB.

There is no official split. The split made here is stratified by class, the
same on every machine, and keeps exact pixel copies together: files are grouped
by the sha256 of their decoded RGB pixels (and size), and a group always lies
whole on one side. It is not free of near-duplicates: the copy holds the same
photos again resized, cropped or colour-edited (30 of the 225 test images have a
resized copy among the training images), which this grouping does not see. The copy here holds 24 such groups (49
files): 21 are byte-identical files under different names, and in three the
bytes differ (other EXIF data) but the pixels do not (``cloudy3.jpg`` and
``cloudy115.jpg``, ``cloudy99.jpg`` and ``cloudy133.jpg``, ``cloudy24.jpg`` and
``cloudy110.jpg``). ``groups`` gives each sample's group, so that validation
splits and cross-validation folds keep them whole too.
"""

from __future__ import annotations

import hashlib
import numbers
from pathlib import Path

import torch

from ..errors import DataError, ParameterError
from .base import SampleDataset, check_split, register
from .locate import locate
from .preprocess import ImagePreprocess, open_image
from .splits import group_holdout

__all__ = ["Weather", "WEATHER_CLASSES"]

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


def pixel_digest(data: bytes, where: str) -> str:
    """sha256 of an image file's decoded RGB pixels and its size: equal for files that differ only in metadata.

    Palette images go through RGBA, as :class:`~bpsrm.data.preprocess.ImagePreprocess` decodes them. Kept per
    file content (sha256 of the bytes) for the process: a training builds the dataset three times (train,
    test, unaugmented train), and only the first decodes.
    """
    key = hashlib.sha256(data).hexdigest()
    known = _PIXEL_DIGESTS.get(key)
    if known is not None:
        return known
    try:
        with open_image(data, where) as image:
            rgb = image.convert("RGBA").convert("RGB") if image.mode == "P" else image.convert("RGB")
            digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{where} is not an image PIL can decode ({type(exc).__name__}: {exc})") from exc
    _PIXEL_DIGESTS[key] = digest
    return digest


_PIXEL_DIGESTS: dict[str, str] = {}  # sha256 of a file's bytes -> pixel_digest (a few kB for the whole dataset)


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

    ``test_fraction`` of every class goes to test, in whole groups of files
    with identical pixels (``groups``); ``seed`` picks which groups,
    deterministically.
    Decoded images are kept in memory after their first use (see
    :meth:`preload`).
    """

    name = "weather"
    split_options = ("test_fraction", "seed")

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        image_size: int = 64,
        test_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.split = check_split("weather", split)
        if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 1:
            raise ParameterError(f"weather: image_size must be a positive int, got {image_size!r}")
        if (
            isinstance(test_fraction, bool)
            or not isinstance(test_fraction, numbers.Real)
            or not 0 < float(test_fraction) < 1
        ):
            raise ParameterError(
                f"weather: test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ParameterError(f"weather: seed must be an int, got {seed!r}")
        self.image_size = int(image_size)
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.classes = list(WEATHER_CLASSES)
        self.input_shape = (3, self.image_size, self.image_size)
        self.preprocess = ImagePreprocess(3, self.image_size, self.image_size)
        self.location = locate(
            "Multi-class Weather Dataset",
            root,
            _is_complete,
            ("weather", "MWD", "Multi-class Weather Dataset"),
            _HOW_TO_GET,
        )

        # Every file, its label and the digest of its decoded pixels; each must decode.
        folders = _class_folders(self.location)
        entries: list[tuple[Path, int, str]] = []
        for label, name in enumerate(self.classes):
            for path in _class_files(folders[name]):
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise DataError(f"weather: cannot read {path} ({exc})") from exc
                entries.append((path, label, pixel_digest(data, f"weather: {path}")))

        # Files with identical pixels form a group, which lies whole on one side.
        held_out = group_holdout(
            [lab for _, lab, _ in entries], [d for _, _, d in entries], self.test_fraction, self.seed
        )
        want_test = self.split == "test"
        chosen = [entry for entry, held in zip(entries, held_out, strict=True) if held == want_test]
        self.files: list[Path] = [p for p, _, _ in chosen]
        self.targets = [lab for _, lab, _ in chosen]
        self.groups: list[str] = [d for _, _, d in chosen]  # pixel digests: samples that must stay together
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
