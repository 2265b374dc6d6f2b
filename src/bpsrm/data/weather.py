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

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..checks import MAX_SIDE, SEED_RANGE, choice, real_number, whole_number
from ..errors import DataError, ParameterError
from .base import SampleDataset, check_split, register
from .locate import locate
from .preprocess import ImagePreprocess, open_image
from .splits import group_holdout

__all__ = ["Weather", "WEATHER_CLASSES", "ImageLook", "look_at", "pixel_digest", "near_duplicate_groups"]

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


NEAR_MEAN_ABS = 0.06
"""Two files are near-duplicates when their 32 x 32 colour thumbnails (box averages of the decoded RGB pixels,
in [0, 1]) differ by less than this on average, mean(|a_i - b_i|) over the 3,072 values. On the copy here the
resized copies lie below 0.019, the pairs looked at between 0.035 and 0.06 were mostly crops and edits of one
photo (a sprinkler scene with a black corner at 0.0585), and from 0.07 groups join photos of different classes.
Grouping more than needed only coarsens the split; grouping less leaks."""

NEAR_CORRELATION = 0.98
"""... or when their 16 x 16 grey thumbnails, less their mean and scaled to unit length, have a dot product
(Pearson correlation) above this: colour-edited copies whose colours moved but whose picture did not."""

_THUMB, _GREY = 32, 16

GROUPINGS = ("near", "pixels")
"""``grouping``: "near" (equal pixels and near-duplicates, the default) or "pixels" (equal pixels only: the
split of the weather runs made before 2026-12-05, kept to reproduce them)."""


@dataclass(frozen=True)
class ImageLook:
    """What the split reads of one image file: the digest of its exact pixels and two small thumbnails."""

    digest: str
    """sha256 of the decoded RGB pixels and the size: equal for files that differ only in metadata."""
    colour: np.ndarray
    """[32 * 32 * 3] uint8: the RGB image box-averaged to 32 x 32 (aspect ratio not kept)."""
    grey: np.ndarray
    """[16 * 16] uint8: the grey image box-averaged to 16 x 16."""


def look_at(data: bytes, where: str) -> ImageLook:
    """The :class:`ImageLook` of an image file's bytes. Palette images go through RGBA, as
    :class:`~bpsrm.data.preprocess.ImagePreprocess` decodes them. Kept per file content (sha256 of the bytes) for
    the process: a training builds the dataset three times (train, test, unaugmented train), and only the first
    decodes (about 3.5 kB a file)."""
    key = hashlib.sha256(data).hexdigest()
    known = _LOOKS.get(key)
    if known is not None:
        return known
    try:
        with open_image(data, where) as image:
            rgb = image.convert("RGBA").convert("RGB") if image.mode == "P" else image.convert("RGB")
            digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()
            colour = np.asarray(rgb.resize((_THUMB, _THUMB), Image.Resampling.BOX), dtype=np.uint8).reshape(-1)
            grey = np.asarray(rgb.convert("L").resize((_GREY, _GREY), Image.Resampling.BOX), dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{where} is not an image PIL can decode ({type(exc).__name__}: {exc})") from exc
    look = _LOOKS[key] = ImageLook(digest, colour, grey.reshape(-1))
    return look


_LOOKS: dict[str, ImageLook] = {}  # sha256 of a file's bytes -> its look


def pixel_digest(data: bytes, where: str) -> str:
    """sha256 of an image file's decoded RGB pixels and its size: equal for files that differ only in metadata."""
    return look_at(data, where).digest


def near_duplicate_groups(looks: list[ImageLook]) -> list[str]:
    """One group name per image: near-duplicates by :data:`NEAR_MEAN_ABS` or :data:`NEAR_CORRELATION` (images
    with equal pixels among them: their thumbnails are equal) share a group, and so do chains of them (connected
    components). A group is named by the smallest pixel digest in it, so the names do not depend on the order of
    the files."""
    count = len(looks)
    if count == 0:
        return []
    key = tuple(look.digest for look in looks)
    known = _GROUPS.get(key)
    if known is not None:
        return list(known)
    colour = torch.from_numpy(np.stack([look.colour for look in looks]).astype(np.int32))  # [count, 32 * 32 * 3]
    grey = torch.from_numpy(np.stack([look.grey for look in looks]).astype(np.float64))
    grey = grey - grey.mean(1, keepdim=True)
    grey = grey / grey.norm(dim=1, keepdim=True).clamp_min(1e-12)  # a flat image correlates with nothing
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start, near in _near_blocks(colour, grey):
        later = torch.arange(count)[None, :] > torch.arange(start, start + near.shape[0])[:, None]
        for i, j in torch.nonzero(near & later).tolist():  # each pair once
            parent[root(start + i)] = root(j)
    names: dict[int, str] = {}
    for i, look in enumerate(looks):
        r = root(i)
        names[r] = min(names.get(r, look.digest), look.digest)
    groups = [names[root(i)] for i in range(count)]
    _GROUPS[key] = tuple(groups)
    return groups


def _near_blocks(colour: torch.Tensor, grey: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """For each block of up to 256 images from ``start``, the ``[rows, count]`` boolean matrix of the near pairs
    among them and all images: grey thumbnails (centred, unit length) correlated above :data:`NEAR_CORRELATION`,
    or colour thumbnails (``[count, 3072]`` integers 0..255) within :data:`NEAR_MEAN_ABS` of the full scale on
    average, $\\sum_d |a_d - b_d| < 0.06 \\cdot 255 \\cdot 3072$.

    The colour sums are exact (integers below $2^{24}$, exact in float32 too). Their float32 mean, which decided
    before, read a sum of exactly 47,002 (mean 0.0600005) as below the limit; no pair of the shared copy lies within
    30 of it. The sums over 4 x 4 blocks of each channel bound the distance from below
    ($\\sum_B |\\sum_{d \\in B} (a_d - b_d)| \\le \\sum_d |a_d - b_d|$), so only the pairs whose 192 block sums are
    that close are compared in full; where that is most of a block's pairs (many near copies), its full distances
    are taken at once, as cheap as before."""
    count, width = colour.shape
    if width != _THUMB * _THUMB * 3:
        raise ParameterError(f"near_duplicate_groups: colour thumbnails of {width} values, expected {_THUMB**2 * 3}")
    limit = NEAR_MEAN_ABS * 255 * width
    whole = colour.to(torch.float32)
    blocks = colour.view(count, _THUMB // 4, 4, _THUMB // 4, 4, 3).sum((2, 4)).reshape(count, -1).to(torch.float32)
    for start in range(0, count, 256):  # [256, count] blocks: the distances fit in a few MB at once
        stop = min(start + 256, count)
        near = grey[start:stop] @ grey.T > NEAR_CORRELATION
        candidates = torch.nonzero((torch.cdist(blocks[start:stop], blocks, p=1) < limit) & ~near)
        if 8 * candidates.shape[0] > near.numel():
            near |= torch.cdist(whole[start:stop], whole, p=1) < limit
        else:
            for part in candidates.split(1024):  # [1024, 3072] differences at a time
                rows, columns = part[:, 0], part[:, 1]
                near[rows, columns] = (colour[rows + start] - colour[columns]).abs().sum(1) < limit
        yield start, near


_GROUPS: dict[tuple[str, ...], tuple[str, ...]] = {}  # the files' digests -> their groups (one entry per dataset)


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
    :meth:`preload`).
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
        looks: list[ImageLook] = []
        for label, name in enumerate(self.classes):
            for path in _class_files(folders[name]):
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise DataError(f"weather: cannot read {path} ({exc})") from exc
                paths.append(path)
                labels.append(label)
                looks.append(look_at(data, f"weather: {path}"))

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
