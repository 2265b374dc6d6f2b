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
``asl-dvs/``, ``ASL-DVS/`` or ``ICCV2019_DVS_dataset/`` subfolder. Reading needs
scipy (the ``data`` extra). There is no automatic download.
"""

from __future__ import annotations

import hashlib
import io
import math
import numbers
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError, DataNotFoundError, ParameterError
from .base import check_split, register
from .events import EventFrameDataset, check_frame_options, make_events
from .locate import locate

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


def _vector(mat: dict, key: str, path: Path) -> np.ndarray:
    value = np.asarray(mat[key])
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


_MAT5_NUMERIC_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 12, 13})  # miINT8 .. miUINT64, the codes scipy can read
_MX_NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS .. mxUINT64_CLASS
_MAT5_MATRIX, _MAT5_COMPRESSED = 14, 15


def _mat5_tag(buf: memoryview, pos: int, order: str) -> tuple[int, int, int, int] | None:
    """``(data type, data start, data bytes, next element)`` of the element at ``pos``; None if it is no tag."""
    if pos + 8 > len(buf):
        return None
    word, count = struct.unpack_from(order + "II", buf, pos)
    if word >> 16:  # small data element: type and size in one word, data in the next 4 bytes
        return (word & 0xFFFF, pos + 4, word >> 16, pos + 8) if word >> 16 <= 4 else None
    return word, pos + 8, count, pos + 8 + count + (-count % 8)


def _inflate(body: memoryview) -> memoryview:
    """As much of a zlib stream as decompresses (the part before any damage)."""
    decompressor, parts = zlib.decompressobj(), []
    try:
        for start in range(0, len(body), 4096):
            parts.append(decompressor.decompress(body[start : start + 4096]))
    except zlib.error:
        pass
    return memoryview(b"".join(parts))


def check_mat5_data_types(data: bytes, path: Path, names: tuple[str, ...]) -> None:
    """Refuse a MATLAB v5 file whose variables ``names`` hold data of a type code scipy cannot read.

    scipy (1.17 and earlier) indexes a table with the data type code of a
    numeric element without checking it, so a damaged file can crash the
    interpreter instead of raising (scipy PRs 25349, 25829). This walks the
    file as scipy's v5 reader does, up to the tag of each wanted variable's
    data, and raises DataError for a non-numeric variable or an unknown code.
    Anything else odd is left to scipy, which raises for it.
    """
    if len(data) < 128 or 0 in data[:4]:
        return  # not a v5 file (scipy reads it as v4, or refuses it)
    if data[124 + (data[126] == ord("I"))] != 1:
        return  # not version 1 (v5): v7.3 or unknown, which scipy refuses
    order = "<" if data[126:128] == b"IM" else ">"
    buf, pos = memoryview(data), 128
    while pos + 8 <= len(buf):
        kind, count = struct.unpack_from(order + "II", buf, pos)
        stream, pos = buf[pos + 8 :], pos + 8 + count  # scipy reads a variable on from its tag, then seeks
        if kind == _MAT5_COMPRESSED:
            stream = _inflate(stream[:count])
            if len(stream) < 8:
                continue
            kind = struct.unpack_from(order + "I", stream, 0)[0]
            stream = stream[8:]
        if kind != _MAT5_MATRIX or len(stream) < 16:
            continue  # scipy raises
        flags = struct.unpack_from(order + "I", stream, 8)[0]
        mx_class, parts = flags & 0xFF, 2 if flags >> 11 & 1 else 1
        dims = _mat5_tag(stream, 16, order)
        name_tag = _mat5_tag(stream, dims[3], order) if dims else None
        if name_tag is None or mx_class == 17:  # truncated, or an opaque object (no name): not a wanted variable
            continue
        name = bytes(stream[name_tag[1] : name_tag[1] + name_tag[2]]).decode("latin1")
        if name not in names:
            continue
        if mx_class not in _MX_NUMERIC_CLASSES:
            raise DataError(f"{path}: variable {name!r} is not a numeric array (MATLAB class code {mx_class})")
        at = name_tag[3]
        for _ in range(parts):
            tag = _mat5_tag(stream, at, order)
            if tag is None:
                break
            if tag[0] not in _MAT5_NUMERIC_TYPES:
                raise DataError(f"{path}: variable {name!r} holds data of unknown MATLAB type code {tag[0]} (damaged)")
            at = tag[3]


def read_asl_dvs(path: str | Path) -> np.ndarray:
    """The events (dtype :data:`~bpsrm.data.events.EVENT_DTYPE`) of one ASL-DVS ``.mat`` file.

    Raises DataError naming the file when it cannot be read as a MATLAB file, a
    field of ``ts, x, y, pol`` is missing or not a numeric vector, the vectors
    differ in length or are empty, or a value lies outside the 240x180 sensor
    (``pol`` must be 0/1; -1/1 is accepted and mapped to 0/1).
    """
    path = Path(path)
    try:
        import scipy.io
    except ImportError:  # pragma: no cover - scipy is in the data extra
        raise DataError(f"{path}: reading ASL-DVS .mat files needs scipy: pip install 'bpsrm[data]'") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the .mat file ({exc.strerror or exc})") from None
    check_mat5_data_types(data, path, _FIELDS)
    try:
        mat = scipy.io.loadmat(io.BytesIO(data), variable_names=_FIELDS)
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5) files
        raise DataError(f"{path}: unsupported .mat format ({exc})") from None
    except Exception as exc:  # scipy raises many kinds of error on damaged or foreign files
        raise DataError(f"{path}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    missing = [key for key in _FIELDS if key not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{path}: missing field(s) {missing} of an ASL-DVS sample (has {found}, needs {list(_FIELDS)})")
    ts, x, y, pol = (_vector(mat, key, path) for key in _FIELDS)
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
    try:
        return locate("ASL-DVS", root, _is_complete, ("asl-dvs", "ASL-DVS", "ICCV2019_DVS_dataset"), HOW_TO_GET)
    except DataNotFoundError as exc:
        if not download:
            raise
        raise DataNotFoundError(
            f"{exc}\nAutomatic download is not offered for ASL-DVS (no verified checksum of the official files is "
            "available): download it by hand as described above."
        ) from None


def split_files(names: list[str], letter: str, test_fraction: float) -> tuple[list[str], list[str]]:
    """``(train, test)`` file names of one letter: ordered by sha256 of ``"<letter>/<name>"``, first part = test.

    The test part holds ``round(n * test_fraction)`` files, at least one and at
    most ``n - 1`` when the letter has two files or more.
    """
    ordered = sorted(names, key=lambda name: (hashlib.sha256(f"{letter}/{name}".encode()).hexdigest(), name))
    n = len(ordered)
    n_test = math.floor(n * test_fraction + 0.5)
    if n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    return sorted(ordered[n_test:]), sorted(ordered[:n_test])


@register
class ASLDVS(EventFrameDataset):
    """ASL-DVS as ``(frames [T, 2, 180 // downsample, 240 // downsample] float32 event counts, letter index)``.

    ``classes`` are the letter folders present (sorted); each must hold .mat
    files. The split is described in the module docstring. With ``cache`` the
    frames are built once and kept in ``<cache>/frames``.
    """

    name = "asl-dvs"

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
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0 < test_fraction < 1:
            raise ParameterError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
        self.test_fraction = float(test_fraction)
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

    def read_events(self, path: Path) -> np.ndarray:
        """The events of one ASL-DVS file."""
        return read_asl_dvs(path)
