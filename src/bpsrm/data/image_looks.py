"""What a split reads of an image file, the near-duplicate groups it makes of them, and an on-disk cache of both.

An image's *look* (:class:`ImageLook`) is the sha256 of its decoded RGB pixels
and two thumbnails. Files with equal digests differ only in metadata; files
whose thumbnails are close (:data:`NEAR_MEAN_ABS`, :data:`NEAR_CORRELATION`)
are resized, cropped or recoloured copies of one photo
(:func:`near_duplicate_groups`). The weather split keeps each group on one side.

Decoding every file to look at it takes about 3.5 s for the 1,121 weather
images, in every process that builds the dataset (each fold of a
cross-validation, each final run). :func:`cached_looks` keeps the looks of a
list of files in ``<cache>/looks`` (``$BPSRM_CACHE`` or ``~/.cache/bpsrm``),
under a key made of the files' contents (sha256 of their bytes), the cache
format and Pillow's version, so that a cached look is the one this process would
compute: a changed file, another decoder or another order of the files misses
the cache and is decoded again.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image

from ..errors import DataError, ParameterError
from ..files import atomic_file
from .locate import cache_dir
from .preprocess import open_image

__all__ = [
    "ImageLook",
    "look_at",
    "pixel_digest",
    "near_duplicate_groups",
    "cached_looks",
    "looks_cache_path",
    "NEAR_MEAN_ABS",
    "NEAR_CORRELATION",
]

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
    return _look(hashlib.sha256(data).hexdigest(), data, where)


def _look(key: str, data: bytes, where: str) -> ImageLook:
    """:func:`look_at` for bytes whose sha256 (hex) is ``key``."""
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


_CACHE_FORMAT = 1  # bump when a look or the file's layout changes: old cache files then no longer match
_CACHE_ARRAYS = ("format", "pillow", "contents", "digests", "colour", "grey")


def looks_cache_path(contents: Sequence[str]) -> Path:
    """Where :func:`cached_looks` keeps the looks of files whose bytes have these sha256 digests (hex), in this
    order: ``<cache>/looks/images-<key>.npz``, the key a sha256 of the digests, the cache format and Pillow's
    version."""
    material = json.dumps({"format": _CACHE_FORMAT, "pillow": PIL.__version__, "contents": list(contents)})
    return cache_dir() / "looks" / f"images-{hashlib.sha256(material.encode()).hexdigest()[:32]}.npz"


def cached_looks(files: Sequence[tuple[bytes, str]], cache: bool = True) -> list[ImageLook]:
    """The :class:`ImageLook` of each ``(bytes, where)`` of ``files``, as :func:`look_at` gives it.

    With ``cache`` they are read from :func:`looks_cache_path` when a valid file is there, and written there
    (atomically) after decoding otherwise. A damaged file is reported with a warning and written again; a
    cache folder that cannot be written leaves the looks in memory only, with a warning. ``where`` names a
    file in the error raised when it does not decode.
    """
    contents = [hashlib.sha256(data).hexdigest() for data, _ in files]
    path = looks_cache_path(contents)
    if all(key in _LOOKS for key in contents) and not (cache and files and not path.is_file()):
        return [_LOOKS[key] for key in contents]  # known in this process (and on disk where asked)
    if cache and path.is_file():
        try:
            looks = _read_looks(path, contents)
        except (DataError, OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"image look cache {path} is damaged ({exc}); decoding the images again", stacklevel=2)
        else:
            _LOOKS.update(zip(contents, looks, strict=True))
            return looks
    looks = [_look(key, data, where) for key, (data, where) in zip(contents, files, strict=True)]
    if cache and looks:
        try:
            _write_looks(path, contents, looks)
        except OSError as exc:
            warnings.warn(
                f"cannot write the image look cache {path} ({exc}); the looks are kept in memory only", stacklevel=2
            )
    return looks


def _write_looks(path: Path, contents: Sequence[str], looks: Sequence[ImageLook]) -> None:
    with atomic_file(path) as out:
        np.savez(
            out,
            format=np.array(_CACHE_FORMAT),
            pillow=np.array(PIL.__version__),
            contents=np.array(contents),
            digests=np.array([look.digest for look in looks]),
            colour=np.stack([look.colour for look in looks]),
            grey=np.stack([look.grey for look in looks]),
        )


def _read_looks(path: Path, contents: Sequence[str]) -> list[ImageLook]:
    """The looks stored at ``path``; a DataError saying what is wrong when they are not those of ``contents``
    written by this format and this Pillow (the zip's CRC catches damaged bytes)."""
    with np.load(path, allow_pickle=False) as stored:
        if sorted(stored.files) != sorted(_CACHE_ARRAYS):
            raise DataError(f"it holds the arrays {sorted(stored.files)}, expected {sorted(_CACHE_ARRAYS)}")
        arrays = {name: stored[name] for name in _CACHE_ARRAYS}
    count = len(contents)
    if arrays["format"].shape != () or int(arrays["format"]) != _CACHE_FORMAT:
        raise DataError(f"format {arrays['format'].tolist()}, expected {_CACHE_FORMAT}")
    if arrays["pillow"].shape != () or str(arrays["pillow"]) != PIL.__version__:
        raise DataError(f"written with Pillow {arrays['pillow'].tolist()}, this is Pillow {PIL.__version__}")
    if arrays["contents"].shape != (count,) or arrays["contents"].tolist() != list(contents):
        raise DataError("it holds the looks of other files")
    digests = arrays["digests"]
    if digests.shape != (count,) or digests.dtype.kind != "U" or not all(_is_sha256(d) for d in digests.tolist()):
        raise DataError(f"its digests are not {count} sha256 hex strings")
    for name, width in (("colour", _THUMB * _THUMB * 3), ("grey", _GREY * _GREY)):
        if arrays[name].dtype != np.uint8 or arrays[name].shape != (count, width):
            raise DataError(f"{name}: {arrays[name].dtype} {arrays[name].shape}, expected uint8 ({count}, {width})")
    return [
        ImageLook(digest, colour, grey)
        for digest, colour, grey in zip(digests.tolist(), arrays["colour"], arrays["grey"], strict=True)
    ]


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
