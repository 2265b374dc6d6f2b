"""ASL-DVS (Bi et al. 2019): 24 letters of American Sign Language recorded with a DAVIS240c.

Layout of the official set: one folder per letter (``a`` .. ``y`` without
``j``, 4,200 samples each), one MATLAB ``.mat`` file per sample holding the
vectors ``ts`` (microseconds), ``x`` (0..239), ``y`` (0..179) and ``pol``
(0/1) of a 240x180 sensor. The coordinates are used as stored (no flip).

There is no official train/test split. The split here is stratified and the
same on every machine: in each letter the files are ordered by the sha256 of
their relative path ``"<letter>/<file name>"`` and the first ``test_fraction``
of them form the test set.

Looked for (see :mod:`bpsrm.data.locate`) in the given root, ``$BPSRM_DATA``,
the user cache and system locations, in each in the folder itself or in its
``asl-dvs/``, ``ASL-DVS/`` or ``ICCV2019_DVS_dataset/`` subfolder. The files are
read by bpsrm's own bounds-checked MATLAB v5 reader (:mod:`bpsrm.data.matfile`),
so reading needs no scipy and a damaged file raises DataError instead of
crashing the interpreter. There is no automatic download.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..checks import real_number
from ..errors import DataError
from .base import check_split, register
from .events import EventFrameDataset, check_frame_options, make_events
from .locate import locate_without_download
from .matfile import Mat5, MatError
from .splits import hashed_holdout

__all__ = ["SENSOR_SIZE", "LETTERS", "read_asl_dvs", "find_asl_dvs", "split_files", "ASLDVS"]

SENSOR_SIZE = (240, 180)  # (width, height)
LETTERS = tuple(c for c in "abcdefghiklmnopqrstuvwxy")  # 24 letters, no j (and no z): both need motion
_FIELDS = ("ts", "x", "y", "pol")
_MAX_TS = 1 << 62
URL = "https://github.com/PIX2NVS/NVS2Graph"
HOW_TO_GET = (
    f"Get ASL-DVS (links in {URL}), unpack it so that a folder holds the letter folders a/ .. y/ with the .mat "
    "files, and put that folder (named asl-dvs) in one of the places above."
)


def _vector(value: np.ndarray, key: str, path: Path) -> np.ndarray:
    """Field ``key`` (as stored: any numeric storage type, MATLAB's shape) checked and flattened to int64."""
    if value.dtype.kind not in "biuf":
        raise DataError(f"{path}: field {key!r} holds {value.dtype} values, expected numbers")
    if value.ndim > 2 or (value.ndim == 2 and min(value.shape) > 1):
        raise DataError(f"{path}: field {key!r} has shape {value.shape}, expected a vector")
    value = value.reshape(-1)
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise DataError(f"{path}: field {key!r} holds NaN or infinite values")
    if value.size and (value.max() >= _MAX_TS or value.min() <= -_MAX_TS):
        raise DataError(f"{path}: field {key!r} holds values of magnitude 2**62 or more")
    if value.dtype.kind == "f" and np.any(value != np.round(value)):
        raise DataError(f"{path}: field {key!r} holds non-integer values")
    return value.astype(np.int64)


MAX_EVENTS = 1 << 24
"""The most events one sample file may hold (16 Mi; 512 MiB as events): a compressed .mat of 32 Mi equal
values is 130 KB."""


def read_asl_dvs(path: str | Path) -> np.ndarray:
    """The events (dtype :data:`~bpsrm.data.events.EVENT_DTYPE`) of one ASL-DVS ``.mat`` file.

    The file is read with :class:`bpsrm.data.matfile.Mat5` (MATLAB level 5,
    saved with -v6 or -v7, compressed or not); each field is taken in the
    numeric type it is stored in, as ``scipy.io.loadmat`` returns it. Raises
    DataError naming the file when it is not such a MATLAB file or is damaged,
    a field of ``ts, x, y, pol`` is missing or not a real numeric vector, the
    vectors differ in length or are empty, or a value lies outside the 240x180
    sensor (``pol`` must be 0/1; -1/1 is accepted and mapped to 0/1).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the .mat file ({exc.strerror or exc})") from None
    try:
        mat = Mat5(data)
    except MatError as exc:
        raise DataError(f"{path}: not a readable MATLAB .mat file ({exc})") from None
    missing = [key for key in _FIELDS if key not in mat.variables]
    if missing:
        found = sorted(mat.variables)
        raise DataError(f"{path}: missing field(s) {missing} of an ASL-DVS sample (has {found}, needs {list(_FIELDS)})")
    counts = {key: math.prod(mat.header(key).dims) for key in _FIELDS}  # from the headers: nothing read yet
    if max(counts.values()) > MAX_EVENTS:
        raise DataError(
            f"{path}: the fields hold {counts} values, more than the {MAX_EVENTS} events a sample may have "
            "(ASL-DVS samples hold thousands)"
        )
    fields = []
    for key in _FIELDS:
        try:
            fields.append(_vector(mat.array(key), key, path))
        except MatError as exc:
            raise DataError(f"{path}: {exc}") from None
    ts, x, y, pol = fields
    lengths = {key: v.shape[0] for key, v in zip(_FIELDS, (ts, x, y, pol), strict=True)}
    if len(set(lengths.values())) != 1:
        raise DataError(f"{path}: the fields differ in length {lengths}, expected one value per event in each")
    if ts.shape[0] == 0:
        raise DataError(f"{path}: holds no events")
    width, height = SENSOR_SIZE
    for key, value, limit in (("x", x, width), ("y", y, height)):
        bad = np.flatnonzero((value < 0) | (value >= limit))
        if bad.size:
            raise DataError(
                f"{path}: {bad.size} events have {key} outside the sensor's 0..{limit - 1} (240x180 pixels); "
                f"the first is event {bad[0]}: {key} = {value[bad[0]]}"
            )
    values = set(np.unique(pol).tolist())
    if values <= {-1, 1}:
        pol = (pol > 0).astype(np.int64)
    elif not values <= {0, 1}:
        raise DataError(f"{path}: pol holds {sorted(values)[:10]}, expected 0/1")
    return make_events(x, y, ts, pol)


def _letter_folders(folder: Path) -> list[Path]:
    return [folder / c for c in LETTERS if (folder / c).is_dir()]


def _is_complete(folder: Path) -> bool:
    try:
        return any(any(p.suffix == ".mat" for p in sub.iterdir()) for sub in _letter_folders(folder))
    except OSError:  # an unreadable folder is not the dataset
        return False


def find_asl_dvs(root: str | Path | None = None, download: bool = False) -> Path:
    """The folder that holds the letter folders; DataNotFoundError listing where it looked."""
    folders = ("asl-dvs", "ASL-DVS", "ICCV2019_DVS_dataset")
    return locate_without_download("ASL-DVS", root, _is_complete, folders, HOW_TO_GET, download)


def split_files(names: list[str], letter: str, test_fraction: float) -> tuple[list[str], list[str]]:
    """``(train, test)`` file names of one letter: ordered by sha256 of ``"<letter>/<name>"``, first part = test.

    The test part holds ``round(n * test_fraction)`` files, at least one and at
    most ``n - 1`` when the letter has two files or more.
    """
    rest, held = hashed_holdout([f"{letter}/{name}" for name in names], test_fraction)
    return sorted(names[i] for i in rest), sorted(names[i] for i in held)


@register
class ASLDVS(EventFrameDataset):
    """ASL-DVS as ``(frames [T, 2, 180 // downsample, 240 // downsample] float32 event counts, letter index)``.

    ``classes`` are the letter folders present (sorted); each must hold .mat
    files. The split is described in the module docstring. With ``cache`` the
    frames are built once and kept in ``<cache>/frames``.
    """

    name = "asl-dvs"
    reader = "asl-dvs"
    split_options = ("test_fraction",)

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        time_steps: int = 10,
        mode: str = "time",
        downsample: int = 1,
        test_fraction: float = 0.2,
        cache: bool = True,
    ) -> None:
        self.split = check_split("ASL-DVS", split)
        self.sensor_size, self.time_steps, self.mode, self.downsample = check_frame_options(
            SENSOR_SIZE, time_steps, mode, downsample
        )
        self.test_fraction: float = real_number("asl-dvs: test_fraction", test_fraction, above=0, below=1)
        self.location = find_asl_dvs(root, download)
        folders = _letter_folders(self.location)
        self.classes = [f.name for f in folders]
        self.files, self.targets = [], []
        for label, folder in enumerate(folders):
            names = [p.name for p in folder.iterdir() if p.suffix == ".mat" and p.is_file()]
            if not names:
                raise DataError(f"{folder}: no .mat files in this ASL-DVS letter folder")
            train, test = split_files(names, folder.name, self.test_fraction)
            chosen = train if split == "train" else test
            self.files.extend(folder / name for name in chosen)
            self.targets.extend([label] * len(chosen))
        self._prepare_frames(cache)

    def frame_options(self) -> dict[str, object]:
        """The options that determine the frames and the split (part of the cache key)."""
        return {**super().frame_options(), "test_fraction": self.test_fraction}
