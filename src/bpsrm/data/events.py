"""Event streams of event cameras, their binning into frames, and an on-disk cache of the frames.

An event stream is a numpy structured array of dtype :data:`EVENT_DTYPE`
with one record per event: ``x`` and ``y`` (uint16, pixel column and row),
``t`` (int64, microseconds) and ``p`` (uint8 polarity, 0 = OFF, 1 = ON).

:func:`events_to_frames` bins a stream into ``[T, 2, H, W]`` float32 event
counts (channel = polarity). Every event lands in exactly one cell, so the
frames of each polarity sum to that polarity's event count.

:class:`EventFrameDataset` is the common base of the event-camera datasets
(N-MNIST, ASL-DVS, and datasets of one's own, which name their files' format in
``reader``, e.g. ``"npy"`` for :func:`read_npy_events`): it bins every sample once and keeps the frames, stored
sparsely, in ``<cache>/frames`` under a key that hashes the dataset, the
split, the binning options and the list of files with their sizes and
modification times, so a later epoch or a later instance does not decode the
files again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checks import array, choice, whole_number
from ..errors import DataError, ParameterError, shown
from ..files import atomic_file, progress
from .base import SampleDataset
from .locate import cache_dir

__all__ = [
    "EVENT_DTYPE",
    "MODES",
    "make_events",
    "read_npy_events",
    "check_frame_options",
    "MAX_FRAME_VALUES",
    "frame_shape",
    "event_cells",
    "events_to_frames",
    "SparseFrames",
    "frames_cache_key",
    "cached_frames",
    "EventFrameDataset",
]

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
MODES = ("time", "count")

_MAGIC = b"BPSRMFRM"
_FORMAT = 2  # bump when the binning or the file layout changes: old cache files then no longer match (2: times
# with a fraction refused, where 1 truncated them)
_ALIGN = 64
_SECONDS_HINT = " (event times are whole microseconds: times in seconds are t * 1e6, rounded)"


def make_events(x: Any, y: Any, t: Any, p: Any) -> np.ndarray:
    """A structured event array of dtype :data:`EVENT_DTYPE` from four equally long 1-D sequences.

    Values must be whole numbers that fit their field (``x``, ``y`` uint16, ``t`` int64 microseconds): a float
    with a fraction (times in seconds), NaN, or a value out of range is refused, since a cast would truncate or
    wrap it onto another pixel or time. Polarity must be 0/1, bool, or -1/+1 (-1 = OFF, the convention of some
    recordings), which becomes 0/1.
    """
    columns = [
        _whole_values(name, array(f"make_events: {name}", v, ndim=(0, 1, 2), kinds="iufb").reshape(-1))
        for name, v in zip("xytp", (x, y, t, p), strict=True)
    ]
    lengths = {c.shape[0] for c in columns}
    if len(lengths) != 1:
        raise DataError(f"x, y, t, p must be equally long, got lengths {[c.shape[0] for c in columns]}")
    columns[3] = _polarity_01(columns[3])
    events = np.empty(columns[0].shape[0], dtype=EVENT_DTYPE)
    for name, column in zip("xytp", columns, strict=True):
        events[name] = column
    return events


def _whole_values(name: str, column: np.ndarray) -> np.ndarray:
    """``column`` unchanged when its values are whole numbers that fit field ``name`` (polarity also -1); a
    ParameterError naming the field otherwise."""
    if column.dtype.kind == "b" or not column.size:
        return column
    field = np.iinfo(EVENT_DTYPE[name])
    lowest = -1 if name == "p" else field.min
    if column.dtype.kind == "f":
        low, high = float(np.min(column)), float(np.max(column))  # NaN when any is NaN
        if not (lowest <= low and high < field.max + 1):
            raise ParameterError(
                f"make_events: {name} holds floats from {low:g} to {high:g}; expected finite values that fit "
                f"{EVENT_DTYPE[name]} ({field.min} to {field.max})"
            )
        fractional = column[column != np.floor(column)]
        if fractional.size:
            unit = _SECONDS_HINT if name == "t" else ""
            raise ParameterError(
                f"make_events: {name} holds values with a fraction, such as {float(fractional[0])!r}; expected whole "
                f"numbers{unit}"
            )
    low, high = int(np.min(column)), int(np.max(column))
    if low < lowest or high > field.max:
        raise ParameterError(
            f"make_events: {name} holds values from {low} to {high}; expected values that fit {EVENT_DTYPE[name]} "
            f"({field.min} to {field.max})"
        )
    return column


def _polarity_01(p: np.ndarray) -> np.ndarray:
    """Polarity -1/+1 as 0/1 (-1 is OFF); 0/1 and bool unchanged; anything else (a mix of -1 and 0, 2) refused."""
    if p.dtype.kind == "b" or not p.size or np.all((p == 0) | (p == 1)):
        return p
    if np.all((p == -1) | (p == 1)):
        return (p == 1).astype(np.uint8)
    raise ParameterError(
        f"make_events: p holds {np.unique(p)[:10].tolist()}; expected polarity 0/1, bool, or -1/+1 (-1 = OFF)"
    )


def read_npy_events(path: str | Path) -> np.ndarray:
    """The events of a ``.npy`` file that holds a structured array with fields ``x``, ``y``, ``t``
    (microseconds) and ``p`` (the layout Tonic uses; other fields are ignored), as :data:`EVENT_DTYPE`.

    Read without pickle. A DataError naming the file says what is wrong: not a ``.npy`` array, fields missing,
    no events, or values :func:`make_events` refuses (times with a fraction, coordinates out of range).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            if magic.startswith(b"PK\x03\x04"):  # an .npz archive under another name
                raise DataError(f"{path}: holds an .npz archive, expected one .npy array of events")
            if magic != b"\x93NUMPY":
                raise DataError(f"{path}: not a .npy file (it does not begin with numpy's magic bytes)")
            f.seek(0)
            data = np.load(f, allow_pickle=False)
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        if "pickle" in str(exc):  # numpy's message suggests loading it unsafely: bpsrm never does
            raise DataError(
                f"{path}: holds pickled Python objects, which bpsrm does not load (loading them could "
                "run code); expected a structured array with fields x, y, t, p"
            ) from None
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None
    names = data.dtype.names
    if names is None or not {"x", "y", "t", "p"} <= set(names):
        held = f"fields {list(names)}" if names else f"a plain {data.dtype} array of shape {data.shape}"
        raise DataError(f"{path}: holds {held}; expected a structured array with fields x, y, t, p")
    if data.size == 0:
        raise DataError(f"{path}: holds no events")
    data = data.reshape(-1)
    try:
        return make_events(data["x"], data["y"], data["t"], data["p"])
    except (ParameterError, DataError) as exc:
        raise DataError(f"{path}: {exc}") from None


MAX_FRAME_VALUES = 1 << 28
"""The most values T x 2 x H x W one sample's frames may hold (1 GiB of float32): more is a typo, refused before
any file is binned (a checkpoint's record or ``-o time_steps=...`` asked bincount for terabytes)."""


def check_frame_options(
    sensor_size: Sequence[int], time_steps: int, mode: str, downsample: int = 1
) -> tuple[tuple[int, int], int, str, int]:
    """The binning options, validated: ``((W, H), time_steps, mode, downsample)``; a ParameterError otherwise
    (also for frames of more than :data:`MAX_FRAME_VALUES` values). The one check of these options: the datasets
    and :class:`~bpsrm.data.preprocess.EventPreprocess` (a checkpoint's record) both call it."""
    try:
        width, height = sensor_size
    except (TypeError, ValueError):
        raise ParameterError(f"sensor_size must be (width, height), got {shown(sensor_size)}") from None
    width, height = whole_number("sensor width", width), whole_number("sensor height", height)
    time_steps = whole_number("time_steps", time_steps)
    downsample = whole_number("downsample", downsample)
    mode = choice("mode", mode, MODES)
    if downsample > min(width, height):
        raise ParameterError(f"downsample {downsample} is larger than the sensor {width}x{height}")
    values = math.prod(frame_shape((width, height), time_steps, downsample))
    if values > MAX_FRAME_VALUES:
        raise ParameterError(
            f"time_steps={time_steps} with downsample={downsample} makes frames of {values} values per sample, "
            f"more than the {MAX_FRAME_VALUES} a sample may hold"
        )
    return (width, height), time_steps, mode, downsample


def frame_shape(sensor_size: Sequence[int], time_steps: int, downsample: int = 1) -> tuple[int, int, int, int]:
    """``(T, 2, H // downsample, W // downsample)`` for a sensor of ``(W, H)`` pixels."""
    width, height = sensor_size
    return (time_steps, 2, height // downsample, width // downsample)


def _time_bins(t: np.ndarray, time_steps: int, mode: str) -> np.ndarray:
    """The time bin (0..T-1) of every event, int64."""
    n = t.shape[0]
    if mode == "time":
        t0, t1 = int(t.min()), int(t.max())
        if t1 == t0:  # no duration: the last event (every event) belongs to the last bin
            return np.full(n, time_steps - 1, dtype=np.int64)
        # bin k holds t0 + k*D/T <= t < t0 + (k+1)*D/T (exact rational arithmetic), and the last bin also t = t1
        if t1 - t0 <= np.iinfo(np.int64).max // time_steps:
            bins = (t.astype(np.int64) - t0) * time_steps // (t1 - t0)
        else:  # a span so long that the exact product would overflow int64: float arithmetic
            bins = np.floor((t.astype(np.float64) - t0) * (time_steps / (t1 - t0))).astype(np.int64)
        return np.clip(bins, 0, time_steps - 1)
    # mode "count": in time order (stable for equal timestamps), sizes as np.array_split gives them
    base, extra = divmod(n, time_steps)
    sizes = np.full(time_steps, base, dtype=np.int64)
    sizes[:extra] += 1
    bins = np.empty(n, dtype=np.int64)
    bins[np.argsort(t, kind="stable")] = np.repeat(np.arange(time_steps, dtype=np.int64), sizes)
    return bins


def _integer_field(events: np.ndarray, name: str) -> np.ndarray:
    """Field ``name`` of a structured event array as int64; a DataError when it holds what no cast keeps
    (floats with a fraction, such as times in seconds; NaN; strings)."""
    column = events[name]
    if column.dtype.kind == "f":
        column = column.astype(np.float64)  # float16 would overflow in the comparison with 2**63
        good = np.isfinite(column) & (column == np.floor(column)) & (np.abs(column) < 2.0**63)
        if not np.all(good):
            unit = _SECONDS_HINT if name == "t" else ""
            raise DataError(f"event field {name} holds {float(column[~good][0])!r}, not a whole number{unit}")
    elif column.dtype.kind not in "biu":
        raise DataError(f"event field {name} is of dtype {column.dtype}, expected whole numbers")
    elif column.dtype == np.uint64 and column.size and int(column.max()) > np.iinfo(np.int64).max:
        raise DataError(f"event field {name} holds {int(column.max())}, more than int64 holds")
    return column.astype(np.int64)


def event_cells(
    events: np.ndarray, sensor_size: Sequence[int], time_steps: int, mode: str = "time", downsample: int = 1
) -> np.ndarray:
    """The flat index into a ``[T, 2, H', W']`` frame array of every event (int64, one per event).

    Binning as in :func:`events_to_frames`. Raises DataError when an event lies
    outside the sensor or has a polarity other than 0 or 1.
    """
    (width, height), time_steps, mode, downsample = check_frame_options(sensor_size, time_steps, mode, downsample)
    if (
        not isinstance(events, np.ndarray)
        or events.dtype.names is None
        or not {"x", "y", "t", "p"} <= set(events.dtype.names)
    ):
        raise ParameterError("events must be a structured array with fields x, y, t, p (see make_events)")
    events = events.reshape(-1)
    if events.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    x, y, t, p = (_integer_field(events, name) for name in "xytp")
    if x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height:
        raise DataError(
            f"events outside the {width}x{height} sensor: x in {x.min()}..{x.max()}, y in {y.min()}..{y.max()}"
        )
    if p.min() < 0 or p.max() > 1:
        raise DataError(f"polarity must be 0 or 1, found values {np.unique(p)[:10].tolist()}")
    _, _, out_h, out_w = frame_shape((width, height), time_steps, downsample)
    # proportional pixel binning: equals x // downsample when downsample divides the sensor; otherwise the
    # remainder pixels are spread over the cells instead of being dropped
    col = x * out_w // width
    row = y * out_h // height
    bins = _time_bins(t, time_steps, mode)
    return ((bins * 2 + p) * out_h + row) * out_w + col


def events_to_frames(
    events: np.ndarray,
    sensor_size: Sequence[int],
    time_steps: int,
    mode: str = "time",
    downsample: int = 1,
) -> np.ndarray:
    """Event counts ``[T, 2, H // downsample, W // downsample]`` float32, channel = polarity.

    ``sensor_size`` is ``(W, H)``. ``mode="time"``: ``T`` bins of equal duration
    that span ``[t_first, t_last]`` inclusive, bin ``k`` holding
    ``t_first + k*D/T <= t < t_first + (k+1)*D/T`` (``D = t_last - t_first``)
    and the last bin also ``t = t_last``, so the last event lands in the last
    bin and none is dropped (if all events share one timestamp they all go to
    the last bin). ``mode="count"``: the events in time order (stable for
    equal timestamps) are cut into ``T`` runs of ``N // T`` or ``N // T + 1``
    events, the longer runs first, as ``np.array_split`` does.
    ``downsample=k`` sums ``k x k`` pixel blocks (when ``k`` does not divide
    the sensor, pixel ``x`` goes to cell ``x * W' // W``, so no event is lost).
    Each polarity's frames sum exactly to its number of events.
    """
    (width, height), time_steps, mode, downsample = check_frame_options(sensor_size, time_steps, mode, downsample)
    shape = frame_shape((width, height), time_steps, downsample)
    cells = event_cells(events, (width, height), time_steps, mode, downsample)
    counts = np.bincount(cells, minlength=int(np.prod(shape)))
    return counts.astype(np.float32).reshape(shape)


class SparseFrames:
    """The frames of many samples kept sparsely.

    Sample ``i`` has the non-zero cells ``index[offsets[i]:offsets[i+1]]`` (flat
    indices into ``shape``) with the event counts ``count[...]`` of the same slice.
    """

    def __init__(self, shape: tuple[int, ...], offsets: np.ndarray, index: np.ndarray, count: np.ndarray) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.offsets = offsets
        self.index = index
        self.count = count
        self.source: tuple[str, list[tuple[str, str, int, int]]] | None = None  # set when memory-mapped from a file

    def __getstate__(self) -> dict[str, Any]:
        # memory-mapped frames travel (to DataLoader workers) as the file and the arrays' places in it, not the data
        if self.source is not None:
            return {"shape": self.shape, "source": self.source}
        return {"shape": self.shape, "offsets": self.offsets, "index": self.index, "count": self.count, "source": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.shape, self.source = state["shape"], state["source"]
        if self.source is None:
            self.offsets, self.index, self.count = state["offsets"], state["index"], state["count"]
            return
        path, places = self.source
        for name, dtype, offset, n in places:
            array = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(n,)) if n else np.zeros(0, dtype)
            setattr(self, name, array)

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def frames(self, i: int) -> np.ndarray:
        """The dense float32 frames of sample ``i``."""
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        dense = np.zeros(int(np.prod(self.shape)), dtype=np.float32)
        dense[self.index[start:stop]] = self.count[start:stop]
        return dense.reshape(self.shape)

    @classmethod
    def from_cells(cls, shape: tuple[int, ...], cells: Iterable[np.ndarray]) -> SparseFrames:
        """Sparse frames from each sample's per-event flat cell indices (as :func:`event_cells` gives them)."""
        if int(np.prod(shape)) > 1 << 32:
            raise ParameterError(f"frames of shape {tuple(shape)} have more than 2**32 cells: too many to cache")
        indices, counts, sizes = [], [], [0]
        for c in cells:
            unique, number = np.unique(c, return_counts=True)
            indices.append(unique.astype(np.uint32))
            counts.append(number.astype(np.uint32))
            sizes.append(unique.shape[0])
        offsets = np.cumsum(np.asarray(sizes, dtype=np.int64))
        index = np.concatenate(indices) if indices else np.zeros(0, np.uint32)
        count = np.concatenate(counts) if counts else np.zeros(0, np.uint32)
        return cls(shape, offsets, index, count)


def frames_cache_key(dataset: str, split: str, options: dict[str, Any], location: Path, files: Sequence[Path]) -> str:
    """sha256 (hex) of the dataset, split, binning options, and every file's path, size and mtime (ns)."""
    listing = []
    for path in files:
        try:
            stat = path.stat()
        except OSError as exc:
            raise DataError(f"{path}: cannot read the file's size and time ({exc.strerror or exc})") from None
        listing.append([path.relative_to(location).as_posix(), stat.st_size, stat.st_mtime_ns])
    material = {
        "format": _FORMAT,
        "dataset": dataset,
        "split": split,
        "options": options,
        "location": str(Path(location).resolve()),
        "files": listing,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _layout(samples: int, nnz: int) -> list[tuple[str, np.dtype, int]]:
    return [("offsets", np.dtype("<i8"), samples + 1), ("index", np.dtype("<u4"), nnz), ("count", np.dtype("<u4"), nnz)]


def _write_cache(path: Path, key: str, frames: SparseFrames) -> None:
    """Write ``frames`` to ``path`` atomically (a temporary file in the same folder, then os.replace)."""
    arrays = {
        "offsets": np.ascontiguousarray(frames.offsets, dtype="<i8"),
        "index": np.ascontiguousarray(frames.index, dtype="<u4"),
        "count": np.ascontiguousarray(frames.count, dtype="<u4"),
    }
    digest = hashlib.sha256()
    for name, _, _ in _layout(len(frames), frames.index.shape[0]):
        digest.update(arrays[name].data)
    header = json.dumps(
        {
            "key": key,
            "shape": list(frames.shape),
            "samples": len(frames),
            "nnz": int(frames.index.shape[0]),
            "sha256": digest.hexdigest(),
        }
    ).encode()
    start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
    with atomic_file(path) as out:
        out.write(_MAGIC + len(header).to_bytes(8, "little") + header)
        out.write(b"\0" * (start - len(_MAGIC) - 8 - len(header)))
        for name, _, _ in _layout(len(frames), frames.index.shape[0]):
            out.write(arrays[name].data)


def _read_cache(path: Path, key: str, shape: tuple[int, ...], samples: int) -> SparseFrames:
    """The frames stored at ``path``; a DataError saying what is wrong when the file is damaged or stale."""
    with open(path, "rb") as f:
        head = f.read(len(_MAGIC) + 8)
        if len(head) < len(_MAGIC) + 8 or head[: len(_MAGIC)] != _MAGIC:
            raise DataError("not a bpsrm frame cache file (bad magic)")
        length = int.from_bytes(head[len(_MAGIC) :], "little")
        if length > 1 << 20:
            raise DataError(f"header length {length} is implausible")
        try:
            header = json.loads(f.read(length).decode())
            stored_key, stored_shape = header["key"], tuple(header["shape"])
            stored_samples, nnz, checksum = int(header["samples"]), int(header["nnz"]), str(header["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"unreadable header ({exc})") from None
        if stored_key != key or stored_shape != tuple(shape) or stored_samples != samples or nnz < 0:
            raise DataError("the header does not match the dataset (key, shape or sample count differ)")
        start = -(-(len(_MAGIC) + 8 + length) // _ALIGN) * _ALIGN
        layout = _layout(samples, nnz)
        expected = start + sum(dtype.itemsize * n for _, dtype, n in layout)
        size = os.fstat(f.fileno()).st_size
        if size != expected:
            raise DataError(f"{size} bytes, expected {expected}: the file is truncated or padded")
        f.seek(start)
        digest = hashlib.sha256()
        while chunk := f.read(1 << 24):
            digest.update(chunk)
        if digest.hexdigest() != checksum:
            raise DataError("sha256 of the contents differs from the one recorded in its header")
    places, position = [], start
    for name, dtype, n in layout:
        places.append((name, dtype.str, position, n))
        position += dtype.itemsize * n
    frames = SparseFrames.__new__(SparseFrames)
    frames.__setstate__({"shape": tuple(shape), "source": (str(path), places)})
    if frames.offsets[0] != 0 or frames.offsets[-1] != nnz or np.any(np.diff(frames.offsets) < 0):
        raise DataError("inconsistent sample offsets")
    if nnz and int(frames.index.max()) >= int(np.prod(shape)):
        raise DataError("cell index outside the frame shape")
    return frames


def cached_frames(
    dataset: str,
    split: str,
    options: dict[str, Any],
    location: Path,
    files: Sequence[Path],
    shape: tuple[int, ...],
    cells_of: Callable[[Path], np.ndarray],
    cache: bool = True,
) -> SparseFrames:
    """The sparse frames of ``files``: from ``<cache>/frames`` if a valid cache file exists, else built.

    ``cells_of(path)`` gives a file's per-event flat cell indices. Building shows
    a progress bar (when tqdm is installed and stderr is a terminal) and, with
    ``cache``, writes the result atomically; a damaged cache file is reported
    with a warning and rebuilt. When the cache folder cannot be written the
    frames are kept in memory only, with a warning.
    """
    key = frames_cache_key(dataset, split, options, location, files)
    path = cache_dir() / "frames" / f"{dataset}-{split}-{key[:32]}.frames"
    if cache and path.is_file():
        try:
            return _read_cache(path, key, shape, len(files))
        except (DataError, OSError, ValueError) as exc:
            warnings.warn(f"frame cache {path} is damaged ({exc}); rebuilding it", stacklevel=4)
    frames = SparseFrames.from_cells(
        shape, (cells_of(p) for p in progress(files, desc=f"{dataset} {split}: binning", unit="file"))
    )
    if cache:
        try:
            _write_cache(path, key, frames)
        except OSError as exc:
            warnings.warn(f"cannot write the frame cache {path} ({exc}); frames are kept in memory only", stacklevel=4)
            return frames
        try:  # use the file just written (mapped, not held in memory, and light to pickle for DataLoader workers)
            return _read_cache(path, key, shape, len(files))
        except (DataError, OSError, ValueError):
            return frames
    return frames


class EventFrameDataset(SampleDataset):
    """Base of the event-camera datasets: samples ``(frames [T, 2, H, W] float32, label)``.

    Subclasses set ``files``, ``targets``, ``classes``, ``location``, ``split``,
    ``sensor_size``, ``time_steps``, ``mode``, ``downsample``, name their files'
    format in ``reader`` or implement :meth:`read_events`, then call
    :meth:`_prepare_frames`.
    """

    files: list[Path]
    sensor_size: tuple[int, int]
    time_steps: int
    mode: str
    downsample: int = 1
    reader: str | None = None
    """The format of the sample files, one of :data:`bpsrm.data.preprocess.EVENT_READERS` (``"npy"``: a
    structured array x, y, t, p per file, any sensor): :meth:`read_events` then reads them, and the checkpoint
    keeps the reader, so ``bpsrm predict`` reads new files of it. None: a format of the subclass's own, which
    implements :meth:`read_events` (``predict`` then cannot read files)."""
    _frames: SparseFrames | None = None

    def read_events(self, path: Path) -> np.ndarray:
        """The event stream of one sample file, read by :attr:`reader`."""
        from .preprocess import read_event_file

        if self.reader is None:
            raise NotImplementedError(
                f"{type(self).__name__} names no reader: set reader = 'npy' or implement read_events(path)"
            )
        return read_event_file(self.reader, path)

    def frame_options(self) -> dict[str, Any]:
        """The options that determine the frames (part of the cache key)."""
        return {
            "sensor_size": list(self.sensor_size),
            "time_steps": self.time_steps,
            "mode": self.mode,
            "downsample": self.downsample,
        }

    @property
    def preprocess(self) -> Any:
        """The :class:`~bpsrm.data.preprocess.EventPreprocess` that makes this dataset's frames from a file of
        its :attr:`reader`; None without a reader."""
        from .preprocess import EventPreprocess

        if self.reader is None:
            return None
        if type(self).read_events is not EventFrameDataset.read_events:
            raise ParameterError(
                f"{type(self).__name__} reads its files with a read_events of its own and names the reader "
                f"{self.reader!r}, which `bpsrm predict` would read new files with instead; set reader = None "
                "(predict then cannot read files) or leave reading to the reader"
            )
        return EventPreprocess(self.reader, self.sensor_size, self.time_steps, self.mode, self.downsample)

    def _cells(self, path: Path) -> np.ndarray:
        events = self.read_events(path)
        try:
            return event_cells(events, self.sensor_size, self.time_steps, self.mode, self.downsample)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None

    def _prepare_frames(self, cache: bool) -> None:
        self.input_shape = frame_shape(self.sensor_size, self.time_steps, self.downsample)
        self._frames = None
        if cache:
            self._frames = cached_frames(
                self.name,
                self.split,
                self.frame_options(),
                self.location,
                self.files,
                self.input_shape,
                self._cells,
                cache=True,
            )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = range(len(self.targets))[index]  # IndexError out of range; negative indices count from the end
        if self._frames is not None:
            frames = self._frames.frames(i)
        else:
            frames = np.bincount(self._cells(self.files[i]), minlength=int(np.prod(self.input_shape)))
            frames = frames.astype(np.float32).reshape(self.input_shape)
        return torch.from_numpy(frames), self.targets[i]
