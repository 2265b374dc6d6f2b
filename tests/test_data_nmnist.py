"""The N-MNIST reader, the event binning and the frame cache, on the real subset in ../shared/data/nmnist.

Expected values come from the data README (counts) or from plain-Python
computations written here (decoding, binning), never from the code under test.
"""

from __future__ import annotations

import pickle
import random
import shutil
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bpsrm.data.nmnist as nmnist_module
from bpsrm.data.base import get_dataset
from bpsrm.data.events import events_to_frames
from bpsrm.data.nmnist import NMNIST, decode_nmnist, read_nmnist
from bpsrm.errors import BpsrmError, DataError, DataNotFoundError, ParameterError
from conftest import even_shares

pytestmark = pytest.mark.data

# shared/data/README.md, section nmnist/
TRAIN_COUNTS = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
TEST_COUNTS = [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]


@pytest.fixture
def nmnist_root(shared_data: Path) -> Path:
    return shared_data / "nmnist"


@pytest.fixture(autouse=True)
def isolate(monkeypatch, tmp_path: Path) -> Path:
    """Nothing is read from or written to the user's own cache or data folders."""
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BPSRM_DATA", raising=False)
    return tmp_path / "cache"


def some_files(root: Path, k: int = 6) -> list[Path]:
    files = sorted(root.glob("T*/*/*.bin"))
    return random.Random(0).sample(files, k)


def plain_decode(data: bytes) -> list[tuple[int, int, int, int]]:
    """(x, y, t, p) of each 5-byte record, one record at a time."""
    out = []
    for i in range(0, len(data), 5):
        b = data[i : i + 5]
        x, y = b[0], b[1]
        p = 1 if b[2] & 0x80 else 0
        t = (b[2] & 0x7F) * 65536 + b[3] * 256 + b[4]
        out.append((x, y, t, p))
    return out


def plain_frames(events: list[tuple[int, int, int, int]], steps: int, mode: str) -> np.ndarray:
    """Frames [T, 2, 34, 34] by looping over events; time bins with exact fractions, count bins by array_split."""
    frames = np.zeros((steps, 2, 34, 34))
    if mode == "time":
        t0 = min(e[2] for e in events)
        t1 = max(e[2] for e in events)
        width = Fraction(t1 - t0, steps)
        for x, y, t, p in events:
            k = 0
            while k < steps - 1 and t >= t0 + (k + 1) * width:
                k += 1
            frames[k, p, y, x] += 1
    else:
        order = sorted(range(len(events)), key=lambda i: events[i][2])  # sorted() is stable
        for k, chunk in enumerate(np.array_split(np.array(order), steps)):
            for i in chunk:
                x, y, _, p = events[i]
                frames[k, p, y, x] += 1
    return frames


# --- the real files -------------------------------------------------------------------------------------------


def test_counts_match_the_data_readme(nmnist_root) -> None:
    train = NMNIST("train", root=nmnist_root)
    test = NMNIST("test", root=nmnist_root.parent)  # found in the nmnist/ subfolder too
    assert len(train) == 1000 and len(test) == 100
    assert list(train.class_counts().values()) == TRAIN_COUNTS
    assert list(test.class_counts().values()) == TEST_COUNTS
    assert train.classes == [str(d) for d in range(10)]
    assert train.input_shape == (10, 2, 34, 34)
    assert test.location == nmnist_root


def test_samples_are_sorted_paths_with_their_digit(nmnist_root) -> None:
    data = NMNIST("test", root=nmnist_root, cache=False)
    expected = sorted(nmnist_root.glob("Test/*/*.bin"), key=lambda p: p.relative_to(nmnist_root).as_posix())
    assert data.files == expected
    assert data.targets == [int(p.parent.name) for p in expected]
    frames, label = data[3]
    assert isinstance(frames, torch.Tensor) and frames.dtype == torch.float32 and frames.shape == (10, 2, 34, 34)
    assert label == data.targets[3] and isinstance(label, int)
    with pytest.raises(IndexError):
        data[100]


def test_decoding_equals_a_plain_decode(nmnist_root) -> None:
    for path in some_files(nmnist_root, 3):
        data = path.read_bytes()
        events = read_nmnist(path)
        expected = plain_decode(data)
        assert len(events) == len(data) // 5
        got = list(
            zip(events["x"].tolist(), events["y"].tolist(), events["t"].tolist(), events["p"].tolist(), strict=True)
        )
        assert got == expected
        assert events.dtype["t"] == np.int64 and events.dtype["x"] == np.uint16 and events.dtype["p"] == np.uint8


def test_event_counts_match_the_manifest(nmnist_root) -> None:
    rows = [line.split("\t") for line in (nmnist_root / "MANIFEST.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 1100
    for name, _, size, events, _ in random.Random(1).sample(rows, 20):
        assert len(read_nmnist(nmnist_root / name)) == int(events) == int(size) // 5


@pytest.mark.parametrize("mode", ["time", "count"])
def test_frames_sum_to_the_events_per_polarity(nmnist_root, mode) -> None:
    for path in some_files(nmnist_root):
        records = plain_decode(path.read_bytes())
        frames = events_to_frames(read_nmnist(path), (34, 34), 10, mode=mode)
        assert frames.shape == (10, 2, 34, 34) and frames.dtype == np.float32
        for p in (0, 1):
            assert frames[:, p].sum() == sum(1 for r in records if r[3] == p)


@pytest.mark.parametrize("mode", ["time", "count"])
def test_frames_equal_a_plain_binning(nmnist_root, mode) -> None:
    for path in some_files(nmnist_root, 2):
        records = plain_decode(path.read_bytes())
        for steps in (1, 7, 10):
            frames = events_to_frames(read_nmnist(path), (34, 34), steps, mode=mode)
            np.testing.assert_array_equal(frames, plain_frames(records, steps, mode))


def test_time_mode_puts_the_last_event_in_the_last_bin(nmnist_root) -> None:
    for path in some_files(nmnist_root):
        records = plain_decode(path.read_bytes())
        t0, t1 = records[0][2], records[-1][2]  # timestamps do not decrease (data README)
        frames = events_to_frames(read_nmnist(path), (34, 34), 10, mode="time")
        last = [r for r in records if 10 * (r[2] - t0) >= 9 * (t1 - t0)]  # t >= t0 + 9/10 of the span
        assert frames[-1].sum() == len(last) >= 1
        x, y, _, p = records[-1]
        assert frames[-1, p, y, x] >= 1


def test_count_mode_bins_differ_by_at_most_one(nmnist_root) -> None:
    for path in some_files(nmnist_root):
        n = len(path.read_bytes()) // 5
        for steps in (3, 10, 17):
            sizes = events_to_frames(read_nmnist(path), (34, 34), steps, mode="count").sum(axis=(1, 2, 3))
            assert sizes.max() - sizes.min() <= 1 and sizes.sum() == n
            assert sizes.tolist() == [len(c) for c in np.array_split(np.arange(n), steps)]


def test_dataset_frames_equal_direct_binning(nmnist_root) -> None:
    data = NMNIST("test", root=nmnist_root, time_steps=5, mode="count")
    for i in (0, 42, 99):
        records = plain_decode(data.files[i].read_bytes())
        np.testing.assert_array_equal(data[i][0].numpy(), plain_frames(records, 5, "count"))


def test_get_dataset_passes_the_options(nmnist_root) -> None:
    data = get_dataset("nmnist", "test", root=nmnist_root, time_steps=4, mode="count", cache=False)
    assert isinstance(data, NMNIST) and data.input_shape == (4, 2, 34, 34) and data[0][0].shape == (4, 2, 34, 34)


# --- the frame cache ------------------------------------------------------------------------------------------


def forbid_decoding(monkeypatch) -> None:
    def refuse(data: bytes, source: str):
        raise AssertionError(f"decoded {source} although the cache should have been used")

    monkeypatch.setattr(nmnist_module, "decode_nmnist", refuse)


def test_second_instance_reads_the_cache(nmnist_root, isolate, monkeypatch) -> None:
    first = NMNIST("test", root=nmnist_root)
    cached = list((isolate / "frames").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("nmnist-test-")
    forbid_decoding(monkeypatch)
    second = NMNIST("test", root=nmnist_root)
    for i in range(len(first)):
        assert torch.equal(first[i][0], second[i][0]) and first[i][1] == second[i][1]
    with pytest.raises(AssertionError, match="decoded"):  # another option needs another cache file
        NMNIST("test", root=nmnist_root, time_steps=5)


def test_a_changed_option_or_file_makes_a_new_cache_key(nmnist_root, isolate, tmp_path) -> None:
    NMNIST("test", root=nmnist_root)
    NMNIST("test", root=nmnist_root, mode="count")
    NMNIST("test", root=nmnist_root, time_steps=5)
    assert len(list((isolate / "frames").iterdir())) == 3
    NMNIST("test", root=nmnist_root)
    assert len(list((isolate / "frames").iterdir())) == 3
    copy = tmp_path / "copy"
    shutil.copytree(nmnist_root / "Test", copy / "Test")
    shutil.copytree(nmnist_root / "Test", copy / "Train")
    NMNIST("test", root=copy)
    assert len(list((isolate / "frames").iterdir())) == 4
    victim = copy / "Test" / "0" / "00004.bin"
    victim.write_bytes(victim.read_bytes()[:-5])  # one event fewer: size and mtime change
    data = NMNIST("test", root=copy)
    assert len(list((isolate / "frames").iterdir())) == 5
    assert data[0][0].sum() == len(victim.read_bytes()) // 5


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_corrupt_cache_file_is_rebuilt(nmnist_root, isolate, damage) -> None:
    reference = NMNIST("test", root=nmnist_root, cache=False)
    NMNIST("test", root=nmnist_root)
    (path,) = (isolate / "frames").iterdir()
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x10  # same size: only the checksum can tell
    elif damage == "truncate":
        raw = raw[: len(raw) - 7]
    else:
        raw = bytearray(b"not a cache file")
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="damaged"):
        rebuilt = NMNIST("test", root=nmnist_root)
    for i in range(len(reference)):
        assert torch.equal(rebuilt[i][0], reference[i][0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is valid again: no warning
        NMNIST("test", root=nmnist_root)
    assert (isolate / "frames").is_dir() and [p.name for p in (isolate / "frames").iterdir()] == [path.name]


def test_pickled_dataset_maps_the_cache_file(nmnist_root) -> None:
    # DataLoader workers started by spawn/forkserver receive the dataset pickled: not the frames, only the file
    data = NMNIST("train", root=nmnist_root)
    blob = pickle.dumps(data)
    assert len(blob) < 200_000  # the frames of 1,000 samples take about 15 MB
    copy = pickle.loads(blob)
    for i in (0, 500, 999):
        assert torch.equal(copy[i][0], data[i][0]) and copy[i][1] == data[i][1]
    memory = NMNIST("test", root=nmnist_root, cache=False)
    assert torch.equal(pickle.loads(pickle.dumps(memory))[7][0], memory[7][0])


def test_cache_false_writes_nothing(nmnist_root, isolate) -> None:
    NMNIST("test", root=nmnist_root, cache=False)
    assert not isolate.exists()


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.fixture
def real_bytes(nmnist_root) -> bytes:
    return (nmnist_root / "Test" / "0" / "00004.bin").read_bytes()


def test_truncated_file(tmp_path, real_bytes) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(real_bytes[:-2])
    with pytest.raises(DataError, match="not a multiple of 5") as info:
        read_nmnist(path)
    assert str(path) in str(info.value) and str(len(real_bytes) - 2) in str(info.value)


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as info:
        read_nmnist(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("column", "axis"), [(0, "x"), (1, "y")])
def test_coordinate_out_of_range(tmp_path, real_bytes, column, axis) -> None:
    raw = bytearray(real_bytes)
    raw[5 * 3 + column] = 34
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as info:
        read_nmnist(path)
    message = str(info.value)
    assert str(path) in message and f"{axis} outside 0..33" in message and "event 3" in message


def test_unreadable_file(tmp_path) -> None:
    with pytest.raises(DataError, match="cannot read") as info:
        read_nmnist(tmp_path / "absent.bin")
    assert "absent.bin" in str(info.value)


def small_copy(nmnist_root: Path, target: Path, train: str = "Train", test: str = "Test") -> Path:
    """The first two train files of each digit of the real data, copied into both splits of ``target``."""
    for dst in (train, test):
        for d in range(10):
            (target / dst / str(d)).mkdir(parents=True)
            for path in sorted((nmnist_root / "Train" / str(d)).glob("*.bin"))[:2]:
                shutil.copy(path, target / dst / str(d) / path.name)
    return target


def test_lower_case_split_folders(nmnist_root, tmp_path) -> None:
    root = small_copy(nmnist_root, tmp_path / "lower", "train", "test")
    data = NMNIST("train", root=root)
    assert len(data) == 20 and data.targets == [d for d in range(10) for _ in range(2)]


def test_empty_class_folder(nmnist_root, tmp_path) -> None:
    root = small_copy(nmnist_root, tmp_path / "n")
    for path in (root / "Train" / "3").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"no \.bin files") as info:
        NMNIST("train", root=root)
    assert str(root / "Train" / "3") in str(info.value)
    assert len(NMNIST("test", root=root)) == 20


def test_a_bad_file_in_the_dataset_is_named(nmnist_root, tmp_path) -> None:
    root = small_copy(nmnist_root, tmp_path / "n")
    bad = next((root / "Test" / "7").iterdir())
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(DataError, match="multiple of 5") as info:
        NMNIST("test", root=root)
    assert str(bad) in str(info.value)


def test_missing_dataset_lists_where_it_looked(tmp_path, isolate) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as info:
        NMNIST("train", root=root)
    message = str(info.value)
    for place in (root, root / "nmnist", root / "N-MNIST", isolate, isolate / "nmnist"):
        assert f"  {place}\n" in message
    assert "garrickorchard.com" in message


def test_download_is_refused(tmp_path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        NMNIST("train", root=tmp_path / "nowhere", download=True)
    message = str(info.value)
    assert "Automatic download is not offered for N-MNIST" in message and "no verified checksum" in message
    assert "https://www.garrickorchard.com/datasets/n-mnist" in message and str(tmp_path / "nowhere") in message


@pytest.mark.parametrize(
    ("options", "fragment"),
    [({"time_steps": 0}, "time_steps"), ({"mode": "rate"}, "mode"), ({"time_steps": 2.5}, "time_steps")],
)
def test_bad_options(nmnist_root, options, fragment) -> None:
    with pytest.raises(BpsrmError, match=fragment):
        NMNIST("train", root=nmnist_root, **options)
    with pytest.raises(DataError, match="split"):
        NMNIST("validation", root=nmnist_root)


# --- robustness -----------------------------------------------------------------------------------------------


def mutate(data: bytes, seed: int, kind: str) -> bytes:
    rng = random.Random(seed)
    raw = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    elif kind == "cut":
        raw = raw[: rng.randrange(len(raw) + 1)]
    elif kind == "insert":
        position = rng.randrange(len(raw) + 1)
        raw[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 7)))
    return bytes(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.tuples(st.integers(0, 2**32), st.sampled_from(["flip", "cut", "insert"])),
    )
)
def test_decode_never_escapes_with_a_foreign_error(real_bytes, data) -> None:
    payload = data if isinstance(data, bytes) else mutate(real_bytes, *data)
    try:
        events = decode_nmnist(payload, "fuzz")
    except BpsrmError as exc:
        assert "fuzz" in str(exc)
        return
    assert len(events) == len(payload) // 5 and len(payload) % 5 == 0
    assert events["x"].max() <= 33 and events["y"].max() <= 33
    frames = events_to_frames(events, (34, 34), 10)
    assert frames.sum() == len(events)


def test_five_fold_cross_validation_over_all_samples(shared_data) -> None:
    """folds=5: the 1,100 samples (Train + Test) dealt to five stratified folds, each the test split once."""
    root = shared_data / "nmnist"
    seen: list[str] = []
    for k in range(5):
        test = NMNIST("test", root=root, folds=5, fold=k, cache=False)
        train = NMNIST("train", root=root, folds=5, fold=k, cache=False)
        assert len(test) + len(train) == 1100
        assert not set(map(str, test.files)) & set(map(str, train.files))
        counts = np.bincount(test.targets, minlength=10)
        for digit, total in enumerate(np.add(TRAIN_COUNTS, TEST_COUNTS)):  # stratified: each digit dealt evenly
            assert counts[digit] in even_shares(int(total), 5), (k, digit, counts[digit], total)
        seen.extend(map(str, test.files))
    assert len(seen) == len(set(seen)) == 1100
    with pytest.raises(ParameterError, match=r"fold must be a whole number in \[0, 4\], got 5"):
        NMNIST("test", root=root, folds=5, fold=5)
