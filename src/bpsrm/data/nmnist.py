"""N-MNIST (Orchard et al. 2015, CC BY-SA 4.0): MNIST digits seen by a moving ATIS event camera.

Layout: ``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin`` (lower-case
``train``/``test`` are accepted too), 60,000 / 10,000 files in the official
set. Each file is a sequence of 40-bit events: byte 0 = x, byte 1 = y (both
0..33, a 34x34 sensor), bit 7 of byte 2 = polarity, the low 23 bits of bytes
2-4 (big-endian) = timestamp in microseconds.

Looked for (see :mod:`bpsrm.data.locate`) in the given root, ``$BPSRM_DATA``,
the user cache and system locations, in each in the folder itself or in its
``nmnist/`` or ``N-MNIST/`` subfolder. There is no automatic download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checks import whole_number
from ..errors import DataError
from .base import check_split, register
from .events import EventFrameDataset, check_frame_options, make_events
from .locate import locate_without_download
from .splits import hashed_fold

__all__ = ["SENSOR_SIZE", "CLASSES", "decode_nmnist", "read_nmnist", "find_nmnist", "NMNIST"]

SENSOR_SIZE = (34, 34)  # (width, height)
CLASSES = tuple(str(d) for d in range(10))
URL = "https://www.garrickorchard.com/datasets/n-mnist"
_SPLIT_FOLDERS = {"train": ("Train", "train"), "test": ("Test", "test")}
HOW_TO_GET = (
    f"Get N-MNIST from {URL} (Train.zip and Test.zip), unzip both so that a folder holds Train/0..9/*.bin and "
    "Test/0..9/*.bin, and put that folder (named nmnist or N-MNIST) in one of the places above."
)


def decode_nmnist(data: bytes, source: str) -> np.ndarray:
    """The events (dtype :data:`~bpsrm.data.events.EVENT_DTYPE`) of the N-MNIST bytes ``data``.

    ``source`` names the bytes' origin in error messages. Raises DataError for
    an empty input, a length that is not a multiple of 5, and coordinates
    outside 0..33.
    """
    size = len(data)
    if size == 0:
        raise DataError(f"{source}: empty file, an N-MNIST sample holds at least one 5-byte event")
    if size % 5:
        raise DataError(
            f"{source}: {size} bytes is not a multiple of 5 (N-MNIST events are 5 bytes each): "
            "the file is truncated or not an N-MNIST file"
        )
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5)
    for column, axis in ((0, "x"), (1, "y")):
        bad = np.flatnonzero(raw[:, column] >= SENSOR_SIZE[column])
        if bad.size:
            first = int(bad[0])
            raise DataError(
                f"{source}: {bad.size} events have {axis} outside 0..{SENSOR_SIZE[column] - 1} "
                f"(the first is event {first} at byte {5 * first}: {axis} = {int(raw[first, column])}); "
                "not an N-MNIST file or a damaged one"
            )
    b2 = raw[:, 2].astype(np.int64)
    t = ((b2 & 0x7F) << 16) | (raw[:, 3].astype(np.int64) << 8) | raw[:, 4].astype(np.int64)
    return make_events(raw[:, 0], raw[:, 1], t, b2 >> 7)


def read_nmnist(path: str | Path) -> np.ndarray:
    """The events of the N-MNIST file ``path``; a DataError naming the file when it is unreadable or malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the N-MNIST file ({exc.strerror or exc})") from None
    return decode_nmnist(data, str(path))


def _split_folder(folder: Path, split: str) -> Path | None:
    for name in _SPLIT_FOLDERS[split]:
        if (folder / name).is_dir():
            return folder / name
    return None


def _is_complete(folder: Path) -> bool:
    for split in _SPLIT_FOLDERS:
        base = _split_folder(folder, split)
        if base is None or not all((base / d).is_dir() for d in CLASSES):
            return False
    return True


def find_nmnist(root: str | Path | None = None, download: bool = False) -> Path:
    """The folder that holds ``Train/`` and ``Test/`` with digit folders 0-9; DataNotFoundError listing where it looked.

    ``download=True`` changes only the message: no download is offered (no verified checksum is available).
    """
    return locate_without_download("N-MNIST", root, _is_complete, ("nmnist", "N-MNIST"), HOW_TO_GET, download)


def _relative(path: Path, root: Path) -> str:
    """``Train/3/00004.bin``-style path of a sample below the dataset folder."""
    return path.relative_to(root).as_posix()


@register
class NMNIST(EventFrameDataset):
    """N-MNIST as ``(frames [T, 2, 34, 34] float32 event counts, digit)``.

    Binning as :func:`~bpsrm.data.events.events_to_frames` does it.
    ``mode`` "time" (``T`` equal time bins) or "count" (``T`` bins of equal event
    counts). With ``cache`` the frames are built once and kept in
    ``<cache>/frames`` (``$BPSRM_CACHE`` or ``~/.cache/bpsrm``).
    """

    name = "nmnist"
    reader = "nmnist"
    split_options = ("folds", "fold")

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        time_steps: int = 10,
        mode: str = "time",
        cache: bool = True,
        folds: int | None = None,
        fold: int = 0,
    ) -> None:
        self.split = check_split("N-MNIST", split)
        if folds is not None:
            folds = whole_number("nmnist: folds (null or a count)", folds, 2)
            fold = whole_number("nmnist: fold", fold, 0, folds - 1)
        self.sensor_size, self.time_steps, self.mode, self.downsample = check_frame_options(
            SENSOR_SIZE, time_steps, mode, 1
        )
        self.location = find_nmnist(root, download)
        self.classes = list(CLASSES)
        self.files, self.targets = [], []
        splits = [split] if folds is None else ["train", "test"]
        for label, digit in enumerate(CLASSES):
            files: list[Path] = []
            for name in splits:
                base = _split_folder(self.location, name)
                assert base is not None  # guaranteed by _is_complete
                found = sorted(p for p in (base / digit).iterdir() if p.suffix == ".bin" and p.is_file())
                if not found:
                    raise DataError(f"{base / digit}: no .bin files in this N-MNIST class folder")
                files.extend(found)
            if folds is not None:
                # k-fold cross-validation over all files: per class, files in the order of the sha256 of
                # their relative path (the same on every machine), dealt to the folds in turn.
                rest, held = hashed_fold([_relative(p, self.location) for p in files], folds, fold)
                files = sorted(files[i] for i in (held if split == "test" else rest))
            self.files.extend(files)
            self.targets.extend([label] * len(files))
        self._prepare_frames(cache)
