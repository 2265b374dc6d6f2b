"""bpsrm.data.events on hand-made event streams: binning into frames checked cell by cell, the sparse
frames and their on-disk cache (damage of every kind is reported and rebuilt), the dataset base class,
and the errors for invalid input. The real N-MNIST and ASL-DVS files are read in test_data_nmnist.py
and test_data_asl_dvs.py.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsrm.data import events as ev
from bpsrm.data.events import (
    EVENT_DTYPE,
    EventFrameDataset,
    SparseFrames,
    cached_frames,
    check_frame_options,
    event_cells,
    events_to_frames,
    frame_shape,
    frames_cache_key,
    make_events,
)
from bpsrm.errors import DataError, ParameterError


@pytest.fixture(autouse=True)
def isolate(monkeypatch, tmp_path: Path) -> Path:
    """The frame cache in this test's own folder."""
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --------------------------------------------------------------------------------- event arrays ----
def test_make_events_fields_and_flattening() -> None:
    events = make_events([[0, 3]], np.array([1, 2], dtype=np.int32), (5, -7), [1, 0])
    assert events.dtype == EVENT_DTYPE and events.shape == (2,)
    assert events["x"].tolist() == [0, 3] and events["y"].tolist() == [1, 2]
    assert events["t"].tolist() == [5, -7] and events["p"].tolist() == [1, 0]
    assert make_events([], [], [], []).shape == (0,)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("t", [0.0, np.nan], r"make_events: t holds floats from nan to nan; expected finite values that fit int64"),
        ("t", [1e308], r"t holds floats from 1e\+308 to 1e\+308; expected finite values that fit int64"),
        ("t", [2.0**63], r"t holds floats from 9.22337e\+18 to 9.22337e\+18"),  # one past int64's largest
        ("x", [3.0, -1.0], r"x holds floats from -1 to 3; expected finite values that fit uint16 \(0 to 65535\)"),
        ("p", [256.0], r"p holds floats from 256 to 256; expected finite values that fit uint8 \(0 to 255\)"),
    ],
)
def test_make_events_refuses_floats_without_an_integer_value(column: str, values: list[float], message: str) -> None:
    """NumPy casts NaN, inf and out-of-range floats to an arbitrary integer (with a RuntimeWarning at most)."""
    given = {name: [0.0] * len(values) for name in "xytp"} | {column: values}
    with pytest.raises(ParameterError, match=message):
        make_events(*given.values())


def test_make_events_keeps_floats_that_fit() -> None:
    events = make_events([65535.0], [0.0], [-(2.0**63)], [1.0])  # the extremes of each field, exact as floats
    assert events[0].tolist() == (65535, 0, -(2**63), 1)


def test_make_events_unequal_lengths() -> None:
    with pytest.raises(DataError, match=r"x, y, t, p must be equally long, got lengths \[2, 1, 2, 2\]"):
        make_events([0, 1], [0], [0, 1], [0, 1])


# ------------------------------------------------------------------------------------ options ----
def test_frames_too_large_for_memory_are_refused_by_the_datasets_check_as_by_a_checkpoints() -> None:
    """The datasets' check had no bound (``bpsrm data info nmnist -o time_steps=300000`` binned every file into
    693,600,000 values a sample) where a checkpoint's record was capped: one check now, one bound."""
    from bpsrm.data.preprocess import EventPreprocess

    message = r"time_steps=300000 with downsample=1 makes frames of 693600000 values per sample, more than the 2684"
    with pytest.raises(ParameterError, match=message):
        check_frame_options((34, 34), 300000, "time")
    with pytest.raises(ParameterError, match=message):
        EventPreprocess("nmnist", (34, 34), 300000)
    assert check_frame_options((34, 34), 116000, "time") == ((34, 34), 116000, "time", 1)  # 268,192,000: allowed
    assert check_frame_options((240, 180), 40000, "time", 8)[1] == 40000  # 40,000 x 2 x 22 x 30 = 52,800,000


def test_check_frame_options_accepts_numpy_integers() -> None:
    assert check_frame_options(np.array([34, 20]), np.int64(5), "count", np.int32(2)) == ((34, 20), 5, "count", 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((34,), 5, "time", 1), r"sensor_size must be \(width, height\), got \(34,\)"),
        (((34, 0), 5, "time", 1), r"sensor height must be a whole number in \[1, 2147483647\], got 0"),
        ((34, 5, "time", 1), r"sensor_size must be \(width, height\), got 34"),
        (((34, 34), 0, "time", 1), r"time_steps must be a whole number in \[1, 2147483647\], got 0"),
        (((34, 34), 2.0, "time", 1), r"time_steps must be a whole number in \[1, 2147483647\], got 2.0"),
        (((34, 34), True, "time", 1), r"time_steps must be a whole number in \[1, 2147483647\], got True"),
        (((34, 34), "5", "time", 1), r"time_steps must be a whole number in \[1, 2147483647\], got '5'"),
        (((34, 34), 5, "spikes", 1), "mode must be one of 'time', 'count', got 'spikes'"),
        (((34, 34), 5, "time", 0), r"downsample must be a whole number in \[1, 2147483647\], got 0"),
        (((34, 20), 5, "time", 21), "downsample 21 is larger than the sensor 34x20"),
    ],
)
def test_bad_frame_options(args, message) -> None:
    with pytest.raises(ParameterError, match=message):
        check_frame_options(*args)
    with pytest.raises(ParameterError, match=message):  # the binning checks them first
        events_to_frames(make_events([0], [0], [0], [0]), *args)


def test_frame_shape_is_t_polarity_rows_columns() -> None:
    assert frame_shape((5, 4), 3) == (3, 2, 4, 5)
    assert frame_shape((5, 4), 3, downsample=2) == (3, 2, 2, 2)


# ----------------------------------------------------------------------------------- binning ----
# A 3 x 2 sensor (W = 3, H = 2), events (x, y, t, p); t spans 0..10 µs.
STREAM = [(0, 0, 0, 1), (2, 1, 4, 0), (2, 1, 5, 0), (1, 0, 5, 1), (1, 0, 10, 1), (2, 1, 3, 0), (0, 1, 9, 1)]


def _stream(records=STREAM) -> np.ndarray:
    return make_events(*zip(*records, strict=True))


def test_time_mode_cell_by_cell() -> None:
    """T = 2 over 0..10 µs: bin 0 holds t < 5, bin 1 holds 5 <= t <= 10 (the last event included)."""
    frames = events_to_frames(_stream(), (3, 2), 2, mode="time")
    assert frames.dtype == np.float32 and frames.shape == (2, 2, 2, 3)
    want = np.zeros((2, 2, 2, 3), np.float32)  # [t, p, y, x]
    want[0, 1, 0, 0] = 1  # t = 0
    want[0, 0, 1, 2] = 2  # t = 3, 4
    want[1, 0, 1, 2] = 1  # t = 5
    want[1, 1, 0, 1] = 2  # t = 5, 10
    want[1, 1, 1, 0] = 1  # t = 9
    np.testing.assert_array_equal(frames, want)


def test_count_mode_cell_by_cell() -> None:
    """7 events, T = 2: runs of 4 and 3 in time order; the tie at t = 5 keeps the array order."""
    frames = events_to_frames(_stream(), (3, 2), 2, mode="count")
    want = np.zeros((2, 2, 2, 3), np.float32)
    want[0, 1, 0, 0] = 1  # t = 0
    want[0, 0, 1, 2] = 3  # t = 3, 4, 5 (the first event at t = 5)
    want[1, 1, 0, 1] = 2  # t = 5 (the second), 10
    want[1, 1, 1, 0] = 1  # t = 9
    np.testing.assert_array_equal(frames, want)


def test_count_mode_keeps_the_array_order_of_equal_times() -> None:
    """200 events with only 3 distinct timestamps: runs of 50 in (t, position) order, as a stable sort gives."""
    rng = np.random.default_rng(5)
    n = 200
    t = rng.integers(0, 3, n)
    frames = events_to_frames(make_events(np.arange(n), np.zeros(n), t, np.zeros(n)), (n, 1), 4, mode="count")
    order = sorted(range(n), key=lambda i: (t[i], i))
    for k in range(4):
        assert np.flatnonzero(frames[k, 0, 0]).tolist() == sorted(order[50 * k : 50 * (k + 1)]), k


def test_count_mode_with_fewer_events_than_bins() -> None:
    frames = events_to_frames(make_events([0, 1], [0, 0], [8, 2], [1, 1]), (2, 1), 4, mode="count")
    assert frames[:, 1, 0].tolist() == [[0, 1], [1, 0], [0, 0], [0, 0]]


def test_downsample_sums_blocks_and_spreads_the_remainder() -> None:
    """One event on each of the 5 x 4 pixels, downsample 2: cells 2 x 2, column x * 2 // 5
    (x = 0, 1, 2 -> 0; x = 3, 4 -> 1, so no pixel is dropped), row y // 2."""
    xs, ys = np.meshgrid(np.arange(5), np.arange(4))
    n = xs.size
    frames = events_to_frames(make_events(xs, ys, np.zeros(n), np.zeros(n)), (5, 4), 1, downsample=2)
    assert frames.shape == (1, 2, 2, 2)
    assert frames[0, 0].tolist() == [[6, 4], [6, 4]] and frames[0, 1].sum() == 0
    even = events_to_frames(make_events([0, 1, 2, 3, 3], [0, 1, 0, 3, 2], [0] * 5, [1] * 5), (4, 4), 1, downsample=2)
    assert even[0, 1].tolist() == [[2, 1], [0, 2]]


def test_event_cells_flat_index() -> None:
    """Cell ((bin * 2 + p) * H' + row) * W' + col of a [T, 2, H', W'] array, by hand on a 4 x 3 sensor, T = 3."""
    events = make_events([3, 0, 2], [2, 0, 1], [30, 0, 10], [1, 0, 0])
    cells = event_cells(events, (4, 3), 3)
    assert cells.dtype == np.int64
    # t = 30 -> bin 2; t = 0 -> bin 0; t = 10 -> 10 * 3 // 30 = bin 1
    assert cells.tolist() == [((2 * 2 + 1) * 3 + 2) * 4 + 3, 0, ((1 * 2 + 0) * 3 + 1) * 4 + 2]
    assert cells[0] == 3 * 2 * 3 * 4 - 1  # the very last cell


def test_unsorted_times_and_one_timestamp() -> None:
    frames = events_to_frames(make_events([0, 1, 0], [0, 0, 0], [100, 0, 50], [0, 0, 0]), (2, 1), 2)
    assert frames[:, 0, 0].tolist() == [[0, 1], [2, 0]]  # t = 0 (x = 1) -> bin 0; t = 50, 100 (x = 0) -> bin 1
    same = events_to_frames(make_events([0, 1], [0, 0], [7, 7], [0, 1]), (2, 1), 3)
    assert same.sum(axis=(1, 2, 3)).tolist() == [0, 0, 2]  # no duration: all in the last bin


def test_a_span_too_long_for_exact_integers() -> None:
    """t from -2**62 to 2**62: D * T overflows int64, the float path must still bin by time."""
    t = np.array([-(2**62), -(2**61), 0, 2**62], dtype=np.int64)
    frames = events_to_frames(make_events([0, 0, 0, 0], [0] * 4, t, [1] * 4), (1, 1), 4)
    assert frames[:, 1, 0, 0].tolist() == [1, 1, 1, 1]


def test_extra_fields_and_any_array_shape_are_accepted() -> None:
    dtype = np.dtype([("t", "<i8"), ("x", "<i4"), ("y", "<i4"), ("p", "i1"), ("extra", "f4")])
    events = np.zeros((2, 1), dtype=dtype)
    events["x"] = [[1], [0]]
    events["t"] = [[0], [5]]
    events["p"] = [[1], [0]]
    frames = events_to_frames(events, (2, 1), 1)
    assert frames[0, :, 0].tolist() == [[1, 0], [0, 1]]


def test_empty_stream() -> None:
    empty = make_events([], [], [], [])
    assert event_cells(empty, (4, 3), 2).shape == (0,)
    frames = events_to_frames(empty, (4, 3), 2, mode="count")
    assert frames.shape == (2, 2, 3, 4) and frames.sum() == 0


@pytest.mark.parametrize(
    ("events", "error", "message"),
    [
        (make_events([4], [0], [0], [0]), DataError, r"events outside the 4x3 sensor: x in 4\.\.4, y in 0\.\.0"),
        (make_events([0, 1], [0, 3], [0, 1], [0, 0]), DataError, r"outside the 4x3 sensor: x in 0\.\.1, y in 0\.\.3"),
        (
            np.array([(0, 0, 0, 0), (0, 0, 1, 2)], EVENT_DTYPE),
            DataError,
            r"polarity must be 0 or 1, found values \[0, 2\]",
        ),
        (np.zeros(3), ParameterError, "events must be a structured array with fields x, y, t, p"),
        ([(0, 0, 0, 0)], ParameterError, "events must be a structured array"),
        (np.zeros(2, dtype=[("x", "u2"), ("y", "u2"), ("t", "i8")]), ParameterError, "fields x, y, t, p"),
    ],
)
def test_bad_events_are_refused(events, error, message) -> None:
    with pytest.raises(error, match=message):
        events_to_frames(events, (4, 3), 2)


def test_negative_coordinates_are_refused() -> None:
    """Signed fields from a foreign reader: a negative x is outside the sensor, not wrapped around."""
    events = np.zeros(1, dtype=[("x", "i4"), ("y", "i4"), ("t", "i8"), ("p", "i1")])
    events["x"] = -1
    with pytest.raises(DataError, match=r"outside the 4x3 sensor: x in -1\.\.-1"):
        event_cells(events, (4, 3), 2)
    events["x"], events["p"] = 0, -1
    with pytest.raises(DataError, match=r"polarity must be 0 or 1, found values \[-1\]"):
        event_cells(events, (4, 3), 2)


# Moved from test_data_asl_dvs.py: binning on synthetic streams.
def test_time_bins_on_a_hand_made_stream() -> None:
    # span 0..100 µs, T = 4: bins [0, 25), [25, 50), [50, 75), [75, 100]
    t = [0, 24, 25, 49, 50, 74, 75, 99, 100]
    events = make_events([0] * 9, [0] * 9, t, [1] * 9)
    frames = events_to_frames(events, (2, 2), 4)
    assert frames[:, 1, 0, 0].tolist() == [2, 2, 2, 3] and frames[:, 0].sum() == 0
    same = make_events([1, 1], [0, 1], [7, 7], [0, 1])
    assert events_to_frames(same, (2, 2), 3)[-1].sum() == 2  # zero duration: the last bin
    assert events_to_frames(make_events([], [], [], []), (2, 2), 3).sum() == 0


def test_count_bins_follow_time_order() -> None:
    t = [50, 10, 40, 20, 30, 10]  # unordered; ties keep file order
    x = [0, 1, 2, 3, 4, 5]
    frames = events_to_frames(make_events(x, [0] * 6, t, [0] * 6), (6, 1), 4, mode="count")
    # time order (stable): x = 1 (10), 5 (10), 3 (20), 4 (30), 2 (40), 0 (50); runs of 2, 2, 1, 1
    assert [np.flatnonzero(frames[k, 0, 0]).tolist() for k in range(4)] == [[1, 5], [3, 4], [2], [0]]


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(0, 300),
    steps=st.integers(1, 12),
    mode=st.sampled_from(["time", "count"]),
    downsample=st.integers(1, 5),
    seed=st.integers(0, 2**31),
)
def test_binning_properties(n, steps, mode, downsample, seed) -> None:
    rng = np.random.default_rng(seed)
    width, height = 13, 9
    x, y, p = rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n)
    t = rng.integers(-50, 50, n) * int(rng.integers(1, 10**6))
    frames = events_to_frames(make_events(x, y, t, p), (width, height), steps, mode=mode, downsample=downsample)
    assert frames.shape == (steps, 2, height // downsample, width // downsample) and frames.dtype == np.float32
    for q in (0, 1):
        assert frames[:, q].sum() == np.count_nonzero(p == q)
    sizes = frames.sum(axis=(1, 2, 3))
    if mode == "count":
        assert sizes.tolist() == [len(c) for c in np.array_split(np.arange(n), steps)]
    elif n and t.min() == t.max():
        assert sizes[-1] == n  # zero duration: all in the last bin
    elif n:
        t0, t1 = int(t.min()), int(t.max())
        for k in range(steps):  # bin k: t0 + k*D/T <= t < t0 + (k+1)*D/T, the last bin closed; exact integers
            scaled = (t - t0) * steps
            inside = (scaled >= k * (t1 - t0)) & ((scaled < (k + 1) * (t1 - t0)) | (k == steps - 1))
            assert sizes[k] == np.count_nonzero(inside)
        assert sizes[-1] >= 1 and sizes[0] >= 1


# ----------------------------------------------------------------------------- sparse frames ----
SHAPE = (1, 2, 1, 3)  # 6 cells
CELLS = [np.array([5, 5, 1]), np.array([], dtype=np.int64), np.array([0])]
DENSE = [[0, 1, 0, 0, 0, 2], [0] * 6, [1, 0, 0, 0, 0, 0]]


def test_sparse_frames_from_cells() -> None:
    frames = SparseFrames.from_cells(SHAPE, CELLS)
    assert len(frames) == 3
    assert frames.offsets.tolist() == [0, 2, 2, 3]
    assert frames.index.tolist() == [1, 5, 0] and frames.count.tolist() == [1, 2, 1]
    for i, dense in enumerate(DENSE):
        got = frames.frames(i)
        assert got.dtype == np.float32 and got.shape == SHAPE and got.reshape(-1).tolist() == dense
    copy = pickle.loads(pickle.dumps(frames))  # in memory: the arrays travel
    assert copy.source is None and [copy.frames(i).reshape(-1).tolist() for i in range(3)] == DENSE


def test_sparse_frames_of_no_samples_and_too_many_cells() -> None:
    empty = SparseFrames.from_cells(SHAPE, [])
    assert len(empty) == 0 and empty.offsets.tolist() == [0]
    assert len(SparseFrames.from_cells((65536, 2, 32768, 1), [])) == 0  # 2**32 cells: indices fit uint32
    with pytest.raises(ParameterError, match=r"frames of shape \(65536, 2, 32768, 2\) have more than 2\*\*32 cells"):
        SparseFrames.from_cells((65536, 2, 32768, 2), [])


# ------------------------------------------------------------------------------------- cache ----
@pytest.fixture
def sample_files(tmp_path: Path) -> tuple[Path, list[Path]]:
    location = tmp_path / "data"
    (location / "a").mkdir(parents=True)
    files = [location / "a" / f"{i}.bin" for i in range(3)]
    for i, path in enumerate(files):
        path.write_bytes(bytes(i + 1))
    return location, files


def _cells_of(files: list[Path], calls: list[str] | None = None):
    by_name = {path: cells for path, cells in zip(files, CELLS, strict=True)}

    def cells_of(path: Path) -> np.ndarray:
        if calls is not None:
            calls.append(path.name)
        return by_name[path]

    return cells_of


def _build(location, files, calls=None, cache=True, options=None):
    return cached_frames("toy", "test", options or {"t": 1}, location, files, SHAPE, _cells_of(files, calls), cache)


def _dense(frames: SparseFrames) -> list[list[float]]:
    return [frames.frames(i).reshape(-1).tolist() for i in range(len(frames))]


def test_cache_key_follows_every_input(sample_files) -> None:
    location, files = sample_files
    key = frames_cache_key("toy", "test", {"t": 1}, location, files)
    assert len(key) == 64 and int(key, 16) >= 0
    assert frames_cache_key("toy", "test", {"t": 1}, location, list(files)) == key
    others = {
        frames_cache_key("other", "test", {"t": 1}, location, files),
        frames_cache_key("toy", "train", {"t": 1}, location, files),
        frames_cache_key("toy", "test", {"t": 2}, location, files),
        frames_cache_key("toy", "test", {"t": 1}, location, files[:2]),
        frames_cache_key("toy", "test", {"t": 1}, location, files[::-1]),
    }
    files[0].write_bytes(b"longer than before")
    others.add(frames_cache_key("toy", "test", {"t": 1}, location, files))
    assert len(others) == 6 and key not in others


def test_cache_key_of_a_missing_file_names_it(sample_files) -> None:
    location, files = sample_files
    gone = location / "a" / "gone.bin"
    with pytest.raises(DataError, match=rf"{re.escape(str(gone))}: cannot read the file's size and time"):
        frames_cache_key("toy", "test", {}, location, [*files, gone])


def test_built_once_then_read_from_the_cache_file(sample_files, isolate) -> None:
    location, files = sample_files
    calls: list[str] = []
    first = _build(location, files, calls)
    assert calls == ["0.bin", "1.bin", "2.bin"] and _dense(first) == DENSE
    (path,) = (isolate / "frames").iterdir()
    key = frames_cache_key("toy", "test", {"t": 1}, location, files)
    assert path.name == f"toy-test-{key[:32]}.frames"
    assert first.source is not None and first.source[0] == str(path)  # mapped from the file just written
    second = _build(location, files, calls)
    assert calls == ["0.bin", "1.bin", "2.bin"] and _dense(second) == DENSE
    blob = pickle.dumps(second)  # for DataLoader workers: the file and the places, not the arrays
    assert str(path).encode() in blob and _dense(pickle.loads(blob)) == DENSE


def test_no_cache_writes_nothing(sample_files, isolate) -> None:
    location, files = sample_files
    calls: list[str] = []
    frames = _build(location, files, calls, cache=False)
    assert _dense(frames) == DENSE and len(calls) == 3 and frames.source is None
    assert not isolate.exists()


def _damage(kind: str, raw: bytes) -> bytes:
    data = bytearray(raw)
    if kind == "magic":
        data[:8] = b"NOTFRAME"
    elif kind == "truncated":
        del data[-3:]
    elif kind == "padded":
        data += b"\0" * 4
    elif kind == "flipped":
        data[-1] ^= 0x01  # the last count: same size, only the checksum tells
    elif kind == "header-length":
        data[8:16] = (1 << 30).to_bytes(8, "little")
    elif kind == "header-json":
        data[16] = ord("[")
    else:
        data = bytearray(b"BPSR")
    return bytes(data)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("magic", r"bad magic"),
        ("truncated", r"bytes, expected \d+: the file is truncated or padded"),
        ("padded", r"the file is truncated or padded"),
        ("flipped", r"sha256 of the contents differs from the one recorded in its header"),
        ("header-length", r"header length 1073741824 is implausible"),
        ("header-json", r"unreadable header"),
        ("short", r"bad magic"),
    ],
)
def test_a_damaged_cache_file_is_reported_and_rebuilt(sample_files, isolate, kind, reason) -> None:
    location, files = sample_files
    _build(location, files)
    (path,) = (isolate / "frames").iterdir()
    path.write_bytes(_damage(kind, path.read_bytes()))
    calls: list[str] = []
    with pytest.warns(
        UserWarning, match=rf"frame cache {re.escape(str(path))} is damaged \(.*{reason}.*\); rebuilding it"
    ):
        rebuilt = _build(location, files, calls)
    assert len(calls) == 3 and _dense(rebuilt) == DENSE
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file was written anew
        assert _dense(_build(location, files, calls)) == DENSE and len(calls) == 3


def test_a_cache_file_of_other_frames_is_refused(sample_files, isolate) -> None:
    location, files = sample_files
    _build(location, files)
    (path,) = (isolate / "frames").iterdir()
    key = frames_cache_key("toy", "test", {"t": 1}, location, files)
    assert _dense(ev._read_cache(path, key, SHAPE, 3)) == DENSE
    for wrong in ((path, "0" * 64, SHAPE, 3), (path, key, (1, 2, 1, 4), 3), (path, key, SHAPE, 2)):
        with pytest.raises(DataError, match="the header does not match the dataset"):
            ev._read_cache(*wrong)


def test_an_unwritable_cache_keeps_the_frames_in_memory(sample_files, tmp_path, monkeypatch) -> None:
    location, files = sample_files
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BPSRM_CACHE", str(blocker / "cache"))
    with pytest.warns(UserWarning, match=r"cannot write the frame cache .*; frames are kept in memory only"):
        frames = _build(location, files)
    assert _dense(frames) == DENSE and frames.source is None


# ----------------------------------------------------------------------------- dataset base ----
class ToyEvents(EventFrameDataset):
    """Three samples on a 3 x 2 sensor, their streams held in memory, keyed by file name."""

    name = "toy-events"

    def __init__(self, location: Path, streams: dict[str, np.ndarray], cache: bool, time_steps: int = 2) -> None:
        self.location, self.split = location, "test"
        self.files = sorted(location.glob("*.ev"))
        self.targets = [i % 2 for i in range(len(self.files))]
        self.classes = ["even", "odd"]
        self.sensor_size, self.time_steps, self.mode, self.downsample = (3, 2), time_steps, "time", 1
        self.streams = streams
        self._prepare_frames(cache)

    def read_events(self, path: Path) -> np.ndarray:
        return self.streams[path.name]


@pytest.fixture
def toy_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path / "toy"
    root.mkdir()
    streams = {
        "0.ev": _stream(),
        "1.ev": make_events([2], [1], [3], [0]),
        "2.ev": make_events([], [], [], []),
    }
    for name in streams:
        (root / name).write_bytes(name.encode())
    return root, streams


@pytest.mark.parametrize("cache", [True, False])
def test_dataset_samples(toy_root, isolate, cache: bool) -> None:
    root, streams = toy_root
    data = ToyEvents(root, streams, cache)
    assert data.input_shape == (2, 2, 2, 3) and len(data) == 3
    assert data.frame_options() == {"sensor_size": [3, 2], "time_steps": 2, "mode": "time", "downsample": 1}
    frames, label = data[0]
    assert isinstance(frames, torch.Tensor) and frames.dtype == torch.float32 and label == 0
    # sample 0 is the stream of test_time_mode_cell_by_cell
    assert frames[1, 1].tolist() == [[0, 2, 0], [1, 0, 0]] and frames[0, 0].tolist() == [[0, 0, 0], [0, 0, 2]]
    one, label = data[1]
    assert label == 1 and one.sum().item() == 1 and one[1, 0, 1, 2].item() == 1  # one event: the last bin
    last, label = data[-1]
    assert label == 0 and last.sum().item() == 0 and last.shape == (2, 2, 2, 3)
    with pytest.raises(IndexError):
        data[3]
    assert (isolate / "frames").is_dir() == cache


@pytest.mark.parametrize("cache", [True, False])
def test_dataset_names_the_file_of_a_bad_stream(toy_root, cache: bool) -> None:
    root, streams = toy_root
    streams["1.ev"] = make_events([3], [0], [0], [0])  # x = 3 on a sensor 3 wide
    message = rf"^{re.escape(str(root / '1.ev'))}: events outside the 3x2 sensor"
    with pytest.raises(DataError, match=message):
        ToyEvents(root, streams, cache)[1]


# ------------------------------------------------------- events of one's own: values no cast keeps ----
@pytest.mark.parametrize(
    ("columns", "message"),
    [
        # times in seconds: truncation made every t 1 (all events in the last bin)
        (([0, 1], [0, 0], [1.0, 1.1], [0, 1]), r"t holds values with a fraction, such as 1\.1; .*t \* 1e6"),
        (([-1], [0], [0], [0]), r"x holds values from -1 to -1; expected values that fit uint16 \(0 to 65535\)"),
        (([65536], [0], [0], [0]), r"x holds values from 65536 to 65536"),  # wrapped to pixel 0 before
        (([0], [70000], [0], [0]), r"y holds values from 70000 to 70000"),
        (([0, 0], [0, 0], [0, 1], [-1, 0]), r"p holds \[-1, 0\]; expected polarity 0/1, bool, or -1/\+1 \(-1 = OFF\)"),
        (([0, 0], [0, 0], [0, 1], [0, 2]), r"p holds \[0, 2\]; expected polarity 0/1, bool, or -1/\+1"),
        (([0], [0], [0], [2.5]), r"p holds values with a fraction, such as 2\.5; expected whole numbers$"),
    ],
)
def test_make_events_refuses_values_a_cast_would_change(columns: tuple[list[float], ...], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        make_events(*columns)


def test_make_events_reads_polarity_minus_one_as_off() -> None:
    assert make_events([0, 1, 2], [0, 0, 0], [0, 1, 2], [-1, 1, -1])["p"].tolist() == [0, 1, 0]
    assert make_events([0, 1], [0, 0], [0, 1], [-1.0, 1.0])["p"].tolist() == [0, 1]
    assert make_events([0, 1], [0, 0], [0, 1], [True, False])["p"].tolist() == [1, 0]


def _tonic_events(t: list[float], t_dtype: str = "<i8") -> np.ndarray:
    """A stream in Tonic's layout (int16 x/y, bool p), in another field order than EVENT_DTYPE."""
    dtype = np.dtype([("t", t_dtype), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
    events = np.zeros(len(t), dtype=dtype)
    events["t"], events["x"], events["y"] = t, np.arange(len(t)) % 4, np.arange(len(t)) % 3
    events["p"] = np.arange(len(t)) % 2 == 1
    return events


@pytest.mark.parametrize(
    ("t", "message"),
    [
        ([np.nan, 5.0], r"event field t holds nan, not a whole number"),
        ([0.2, 0.9], r"t holds 0\.2, not a whole number"),
    ],
)
def test_float_times_with_no_whole_value_are_refused_by_the_binning(t: list[float], message: str) -> None:
    with pytest.raises(DataError, match=message):
        events_to_frames(_tonic_events(t, "<f8"), (4, 3), 4)


def test_whole_float_times_bin_as_integers_do() -> None:
    # t = 0, 10, 20, 30 us over 4 bins of 7.5 us: bins 0, 1, 2, 3 (the last event in the last bin); by hand
    frames = events_to_frames(_tonic_events([0.0, 10.0, 20.0, 30.0], "<f8"), (4, 3), 4)
    expected = np.zeros((4, 2, 3, 4), np.float32)
    for k, (x, y, p) in enumerate([(0, 0, 0), (1, 1, 1), (2, 2, 0), (3, 0, 1)]):
        expected[k, p, y, x] = 1
    np.testing.assert_array_equal(frames, expected)
    np.testing.assert_array_equal(events_to_frames(_tonic_events([0, 10, 20, 30]), (4, 3), 4), expected)


def test_read_npy_events_reads_tonic_layout(tmp_path: Path) -> None:
    path = tmp_path / "sample.npy"
    np.save(path, _tonic_events([5, 25, 15]))
    events = ev.read_npy_events(path)
    assert events.dtype == EVENT_DTYPE
    assert events["x"].tolist() == [0, 1, 2] and events["y"].tolist() == [0, 1, 2]
    assert events["t"].tolist() == [5, 25, 15] and events["p"].tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.zeros((3, 4)), r"holds a plain float64 array of shape \(3, 4\); expected a structured array with fields"),
        (np.zeros(2, dtype=[("x", "<u2"), ("y", "<u2"), ("ts", "<i8")]), r"holds fields \['x', 'y', 'ts'\]"),
        (_tonic_events([]), r"holds no events"),
        (_tonic_events([0.0, 0.5], "<f8"), r"make_events: t holds values with a fraction, such as 0\.5"),
        (np.array([{"x": 1}], dtype=object), r"holds pickled Python objects, which bpsrm does not load"),
    ],
)
def test_read_npy_events_names_the_file_and_the_problem(tmp_path: Path, content: np.ndarray, message: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, content, allow_pickle=True)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + message):
        ev.read_npy_events(path)


def test_read_npy_events_refuses_an_npz_archive_and_garbage(tmp_path: Path) -> None:
    archive = tmp_path / "archive.npy"
    with open(archive, "wb") as f:
        np.savez(f, events=_tonic_events([1, 2]))
    with pytest.raises(DataError, match=r"archive\.npy: holds an \.npz archive, expected one \.npy array of events"):
        ev.read_npy_events(archive)
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy")
    with pytest.raises(DataError, match=r"garbage\.npy: not a \.npy file \(it does not begin with numpy's magic"):
        ev.read_npy_events(garbage)


def test_the_npy_reader_takes_any_sensor_and_bins_a_file_by_hand(tmp_path: Path) -> None:
    from bpsrm.data.preprocess import EventPreprocess

    path = tmp_path / "sample.npy"
    np.save(path, _tonic_events([0, 10, 20, 30]))
    frames = EventPreprocess("npy", (4, 3), time_steps=2).from_file(path)
    expected = torch.zeros(1, 2, 2, 3, 4)
    for k, (x, y, p) in enumerate([(0, 0, 0), (1, 1, 1), (2, 2, 0), (3, 0, 1)]):  # 2 bins of 15 us: k // 2
        expected[0, k // 2, p, y, x] = 1
    torch.testing.assert_close(frames, expected, rtol=0, atol=0)
    with pytest.raises(ParameterError, match=r"sensor_size \(4, 3\) is not the nmnist sensor's \(34, 34\)"):
        EventPreprocess("nmnist", (4, 3))
    with pytest.raises(
        ParameterError, match=r"event reader must be one of \['asl-dvs', 'nmnist', 'npy'\], got 'aedat'"
    ):
        EventPreprocess("aedat", (4, 3))


class NpyEvents(EventFrameDataset):
    """A dataset of one's own that names its reader: one .npy file per sample, no read_events of its own."""

    name = "my-dvs"
    reader = "npy"

    def __init__(self, location: Path) -> None:
        self.location, self.split = location, "train"
        self.files = sorted(location.glob("*.npy"))
        self.targets, self.classes = [0] * len(self.files), ["only"]
        self.sensor_size, self.time_steps, self.mode, self.downsample = (4, 3), 2, "time", 1
        self._prepare_frames(cache=False)


def test_a_dataset_of_ones_own_reads_with_its_reader_and_keeps_it_for_predict(tmp_path: Path) -> None:
    """The preprocess named the class's name as an event reader: any name but nmnist and asl-dvs was refused
    when training began ("event reader must be one of ['asl-dvs', 'nmnist'], got 'my-dvs'")."""
    np.save(tmp_path / "a.npy", _tonic_events([0, 10, 20, 30]))
    dataset = NpyEvents(tmp_path)
    assert dataset.preprocess.to_dict()["reader"] == "npy"
    assert dataset[0][0].sum().item() == 4 and dataset[0][0][1].sum().item() == 2  # the last two in bin 1
    torch.testing.assert_close(dataset.preprocess.from_file(tmp_path / "a.npy")[0], dataset[0][0])


def test_a_dataset_without_a_reader_keeps_no_preprocess(toy_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, streams = toy_root
    assert ToyEvents(root, streams, cache=False).preprocess is None


@pytest.mark.parametrize(
    ("reader", "sensor", "given", "expected"),
    [
        ("nmnist", (34, 34), "x.mat", "event files of its reader 'nmnist' (.bin)"),
        ("asl-dvs", (240, 180), "x.bin", "event files of its reader 'asl-dvs' (.mat)"),
        ("npy", (4, 3), "x.bin", "event files of its reader 'npy' (.npy)"),
    ],
)
def test_predict_names_the_one_event_format_a_model_reads(
    tmp_path: Path, reader: str, sensor: tuple[int, int], given: str, expected: str
) -> None:
    """An N-MNIST model given a .mat file said it takes ".bin for N-MNIST, .mat for ASL-DVS"."""
    from types import SimpleNamespace

    from bpsrm.data.preprocess import EventPreprocess
    from bpsrm.deploy.prediction import file_input

    trained = SimpleNamespace(
        preprocess=EventPreprocess(reader, sensor), config=SimpleNamespace(data=SimpleNamespace(name=reader))
    )
    (tmp_path / given).write_bytes(b"")
    with pytest.raises(DataError, match=re.escape(f"it takes {expected}") + "$"):
        file_input(trained, tmp_path / given)  # type: ignore[arg-type]


def test_float16_times_are_checked_without_an_overflow_warning() -> None:
    events = _tonic_events([0.0, 8.0], "<f2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float16 compared with 2**63 overflowed in the cast
        assert events_to_frames(events, (4, 3), 2).sum() == 2


class FilteredNpyEvents(NpyEvents):
    """A subclass that reads its files its own way (drops OFF events) but inherits a reader."""

    def read_events(self, path: Path) -> np.ndarray:
        events = ev.read_npy_events(path)
        return events[events["p"] == 1]


def test_a_reader_beside_a_read_events_of_ones_own_is_refused(tmp_path: Path) -> None:
    """predict would have read new files with the reader, not with the class's read_events: other inputs."""
    np.save(tmp_path / "a.npy", _tonic_events([0, 10, 20, 30]))
    dataset = FilteredNpyEvents(tmp_path)
    assert dataset[0][0].sum().item() == 2  # training reads with the class's own read_events
    with pytest.raises(
        ParameterError,
        match=r"FilteredNpyEvents reads its files with a read_events of its own and "
        r"names the reader 'npy'.*set reader = None",
    ):
        dataset.preprocess  # noqa: B018


def test_a_reader_reads_before_the_binning_options_are_set(tmp_path: Path) -> None:
    """A dataset of any sensor may read a file to learn the sensor size before it sets sensor_size."""
    np.save(tmp_path / "a.npy", _tonic_events([0, 10, 20, 30]))
    dataset = NpyEvents.__new__(NpyEvents)
    assert dataset.read_events(tmp_path / "a.npy")["x"].max() == 3
