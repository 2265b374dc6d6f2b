"""CWRU reader and dataset, on the real records in ../shared/data/cwru and on fixture files."""

from __future__ import annotations

import csv
import io
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.signal
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpsrm.data import get_dataset
from bpsrm.data.cwru import CWRU, CWRU_RECORDS, CWRU_SHA256, read_cwru_record
from bpsrm.errors import BpsrmError, DataError, DataNotFoundError, ParameterError

pytestmark = pytest.mark.data

# The table of the data README, written out independently of the code.
README_TABLE = {
    "normal": (97, 98, 99, 100),
    "B007": (118, 119, 120, 121),
    "B014": (185, 186, 187, 188),
    "B021": (222, 223, 224, 225),
    "IR007": (105, 106, 107, 108),
    "IR014": (169, 170, 171, 172),
    "IR021": (209, 210, 211, 212),
    "OR007@6": (130, 131, 132, 133),
    "OR014@6": (197, 198, 199, 200),
    "OR021@6": (234, 235, 236, 237),
}
TEN = ["normal", "B007", "B014", "B021", "IR007", "IR014", "IR021", "OR007@6", "OR014@6", "OR021@6"]
COARSE = {"normal": "normal", "B": "ball", "IR": "inner_race", "OR": "outer_race"}


def coarse(name: str) -> str:
    return "normal" if name == "normal" else COARSE[name[:2] if name.startswith(("IR", "OR")) else name[0]]


@pytest.fixture(scope="module")
def cwru_root(shared_data: Path) -> Path:
    return shared_data / "cwru"


@pytest.fixture(scope="module")
def manifest(cwru_root: Path) -> dict[int, dict[str, str]]:
    with open(cwru_root / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {int(r["file"].removesuffix(".mat")): r for r in rows}


@pytest.fixture(scope="module")
def raw12k(cwru_root: Path, manifest) -> dict[int, np.ndarray]:
    """Every real record at 12 kHz, read and resampled here with scipy directly."""
    out = {}
    for number, row in manifest.items():
        x = scipy.io.loadmat(cwru_root / row["load"] / row["file"])[f"X{number:03d}_DE_time"].ravel().astype(float)
        if row["sample_rate_hz"] == "48000":
            x = scipy.signal.decimate(x, 4, ftype="fir", zero_phase=True)
        out[number] = x
    return out


def expected_length(row: dict[str, str]) -> int:
    n = int(row["de_samples"])
    return math.ceil(n / 4) if row["sample_rate_hz"] == "48000" else n


# ---------------------------------------------------------------- the reader on real files


def test_manifest_agrees_with_the_readme_table(manifest):
    assert len(manifest) == 28
    for number, row in manifest.items():
        assert number in README_TABLE[row["class"]]
        assert README_TABLE[row["class"]].index(number) == int(row["load"].removesuffix("HP"))
        assert CWRU_RECORDS[number] == (row["class"], int(row["load"].removesuffix("HP")))
        assert CWRU_SHA256[number] == row["original_sha256"]
    assert {n: c for c, ns in README_TABLE.items() for n in ns} == {n: c for n, (c, _) in CWRU_RECORDS.items()}


def test_key_finder_on_every_real_file(cwru_root, manifest):
    for number, row in manifest.items():
        path = cwru_root / row["load"] / row["file"]
        signal, rate = read_cwru_record(path)
        assert signal.dtype == np.float64 and signal.ndim == 1
        assert signal.size == int(row["de_samples"]), path
        assert rate == int(row["sample_rate_hz"]), path
        direct = scipy.io.loadmat(path)[f"X{number:03d}_DE_time"].ravel()
        np.testing.assert_array_equal(signal, direct)


# ---------------------------------------------------------------- the dataset on real files


def test_ten_classes_at_0hp(cwru_root, manifest):
    ds = CWRU("train", root=cwru_root)
    assert ds.classes == TEN
    assert ds.input_shape == (1, 2048)
    assert sorted(set(ds.targets)) == list(range(10))
    assert len(ds) == len(ds.windows) == len(ds.targets)
    for (number, _), label in zip(ds.windows, ds.targets, strict=True):
        assert manifest[number]["load"] == "0HP"
        assert ds.classes[label] == manifest[number]["class"]
    # Non-overlapping windows in the first 70 % of each 12 kHz record.
    per_record = {}
    for number, _ in ds.windows:
        per_record[number] = per_record.get(number, 0) + 1
    for number, count in per_record.items():
        assert count == (math.floor(0.7 * expected_length(manifest[number])) - 2048) // 2048 + 1
    x, y = ds[0]
    assert x.dtype == torch.float32 and x.shape == (1, 2048) and isinstance(y, int)


@pytest.mark.parametrize(("load", "class_set", "stride"), [(0, "10", None), ([0, 1, 2], "9", 500)])
def test_train_and_test_windows_are_disjoint(cwru_root, manifest, load, class_set, stride):
    w = 1024
    train = CWRU("train", root=cwru_root, load=load, class_set=class_set, window=w, stride=stride)
    test = CWRU("test", root=cwru_root, load=load, class_set=class_set, window=w, stride=stride)
    step = w if stride is None else stride
    for number in {n for n, _ in train.windows} | {n for n, _ in test.windows}:
        n = expected_length(manifest[number])
        tr = sorted(s for r, s in train.windows if r == number)
        te = sorted(s for r, s in test.windows if r == number)
        assert tr and te
        assert max(tr) + w <= min(te)  # no train sample is a test sample
        # Nothing crosses the 70 % border: the first floor(0.7 n) samples are train, the rest test.
        assert max(tr) + w <= math.floor(0.7 * n) <= min(te)
        assert tr[0] == 0 and max(te) + w <= n
        assert np.all(np.diff(tr) == step) and np.all(np.diff(te) == step)
        assert 0.7 * n - (max(tr) + w) < step + 1  # and no room for another train window was left


def test_normal_record_is_decimated_to_12khz(cwru_root, manifest, raw12k):
    ds = CWRU("train", root=cwru_root, normalize="none")
    assert ds.signals[97].size == math.ceil(243_938 / 4) == 60_985
    np.testing.assert_allclose(ds.signals[97], raw12k[97], rtol=0, atol=1e-12)
    for number in ds.records:
        assert ds.signals[number].size == expected_length(manifest[number])
    # With normalize="none" a sample is the raw 12 kHz slice.
    i = next(i for i, (r, _) in enumerate(ds.windows) if r == 97 and _ > 0)
    number, start = ds.windows[i]
    np.testing.assert_allclose(ds[i][0].numpy()[0], raw12k[97][start : start + 2048].astype(np.float32))


def test_normalisation_statistics_come_from_train_parts_only(cwru_root, raw12k):
    test = CWRU("test", root=cwru_root, load=0, class_set="10")
    numbers = [README_TABLE[c][0] for c in TEN]
    train_parts = np.concatenate([raw12k[n][: math.floor(0.7 * raw12k[n].size)] for n in numbers])
    mean, std = train_parts.mean(), train_parts.std()
    assert test.mean == pytest.approx(mean, rel=1e-9)
    assert test.std == pytest.approx(std, rel=1e-9)
    everything = np.concatenate([raw12k[n] for n in numbers])
    assert abs(everything.std() - std) > 1e-6 * std  # the whole records would give other statistics
    for i in (0, len(test) // 2, len(test) - 1):
        number, start = test.windows[i]
        expected = (raw12k[number][start : start + 2048] - mean) / std
        np.testing.assert_allclose(test[i][0].numpy()[0], expected, rtol=1e-5, atol=1e-5)
    train = CWRU("train", root=cwru_root, load=0, class_set="10")
    assert (train.mean, train.std) == (test.mean, test.std)


def test_window_normalisation(cwru_root):
    ds = CWRU("test", root=cwru_root, normalize="window", window=512)
    for i in (0, 7, len(ds) - 1):
        x = ds[i][0].double()
        assert abs(float(x.mean())) < 1e-5
        assert float(x.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)


def test_nine_classes_across_loads(cwru_root, manifest):
    ds = CWRU("test", root=cwru_root, load=[0, 1, 2], class_set="9")
    assert ds.classes == TEN[1:]
    seen: dict[str, set[str]] = {}
    for (number, _), label in zip(ds.windows, ds.targets, strict=True):
        assert ds.classes[label] == manifest[number]["class"]
        seen.setdefault(ds.classes[label], set()).add(manifest[number]["load"])
    assert seen == {c: {"0HP", "1HP", "2HP"} for c in TEN[1:]}


def test_a_class_set_given_as_a_number_is_the_named_one(cwru_root):
    """class_set=9 from a command line (-o class_set=9) or YAML reads as an int: the same set as "9"."""
    as_number = CWRU("test", root=cwru_root, load=1, class_set=9)
    as_name = CWRU("test", root=cwru_root, load=1, class_set="9")
    assert as_number.class_set == "9" and as_number.classes == as_name.classes == TEN[1:]
    assert as_number.windows == as_name.windows and as_number.targets == as_name.targets


def test_four_fault_types(cwru_root, manifest):
    ds = CWRU("train", root=cwru_root, class_set="4", window=4096)
    assert ds.classes == ["normal", "ball", "inner_race", "outer_race"]
    records_of: dict[str, set[int]] = {}
    for (number, _), label in zip(ds.windows, ds.targets, strict=True):
        assert ds.classes[label] == coarse(manifest[number]["class"])
        records_of.setdefault(ds.classes[label], set()).add(number)
    assert records_of == {
        "normal": {97},
        "ball": {118, 185, 222},
        "inner_race": {105, 169, 209},
        "outer_race": {130, 197, 234},
    }


def test_normal_missing_at_1hp_is_named(cwru_root, monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    with pytest.raises(DataNotFoundError, match=r"98\.mat"):
        CWRU("train", root=cwru_root, load=1, class_set="10")


# ---------------------------------------------------------------- fixture files

FS_LOW = 12_000


def isolate(monkeypatch, tmp_path: Path) -> None:
    """Keep the real user cache and $BPSRM_DATA out of the search."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BPSRM_DATA", raising=False)


def write_records(folder: Path, numbers, flat: bool = False, seconds: float = 2.0, normal=None) -> None:
    rng = np.random.default_rng(0)
    for number in numbers:
        load = next(ns.index(number) for ns in README_TABLE.values() if number in ns)
        where = folder if flat else folder / f"{load}HP"
        where.mkdir(parents=True, exist_ok=True)
        if number in README_TABLE["normal"]:
            x = normal if normal is not None else rng.standard_normal(int(4 * FS_LOW * seconds))
        else:
            x = rng.standard_normal(int(FS_LOW * seconds))
        scipy.io.savemat(
            where / f"{number}.mat",
            {f"X{number:03d}_DE_time": x.reshape(-1, 1), f"X{number:03d}RPM": np.array([[1797]])},
        )


ZERO_HP = [README_TABLE[c][0] for c in TEN]


def test_sine_keeps_its_frequency_after_resampling(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    fs = 48_000
    t = np.arange(2 * fs) / fs
    # 1500 Hz stays; 15 kHz is above the new Nyquist frequency and would alias to 3000 Hz without a filter.
    normal = np.sin(2 * np.pi * 1500 * t) + 0.5 * np.sin(2 * np.pi * 15_000 * t)
    write_records(tmp_path / "data", ZERO_HP, normal=normal)
    signal, rate = read_cwru_record(tmp_path / "data" / "0HP" / "97.mat")
    assert rate == 48_000 and signal.size == 2 * fs
    ds = CWRU("train", root=tmp_path / "data", normalize="none", window=2048)
    assert ds.signals[97].size == 2 * fs // 4
    i = next(i for i, (r, s) in enumerate(ds.windows) if r == 97 and s == 4096)
    x = ds[i][0].double().numpy()[0]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, d=1 / FS_LOW)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1500, abs=FS_LOW / 2048)
    alias = spectrum[np.argmin(np.abs(freqs - 3000))]
    assert alias < 0.01 * spectrum.max()
    assert np.abs(x).max() == pytest.approx(1.0, abs=0.02)  # the kept tone keeps its amplitude


def test_flat_and_nested_layouts_agree(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    write_records(tmp_path / "nested", ZERO_HP)
    write_records(tmp_path / "flat", ZERO_HP, flat=True)
    a = CWRU("test", root=tmp_path / "nested", window=256)
    b = CWRU("test", root=tmp_path / "flat", window=256)
    assert a.windows == b.windows and a.targets == b.targets
    assert torch.equal(a[5][0], b[5][0])


def test_found_in_cwru_subfolder_of_bpsrm_data(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    write_records(tmp_path / "store" / "cwru", ZERO_HP)
    monkeypatch.setenv("BPSRM_DATA", str(tmp_path / "store"))
    ds = CWRU("train", window=256)
    assert ds.location == tmp_path / "store" / "cwru"


def test_key_with_another_number(tmp_path):
    x = np.arange(100, dtype=float)
    scipy.io.savemat(tmp_path / "99.mat", {"X098_DE_time": x[:, None], "X098RPM": np.array([[1750]])})
    signal, rate = read_cwru_record(tmp_path / "99.mat")
    np.testing.assert_array_equal(signal, x)
    assert rate == 48_000
    # The file's own number wins over another one.
    scipy.io.savemat(tmp_path / "99.mat", {"X098_DE_time": x[:, None], "X099_DE_time": -x[:, None]})
    np.testing.assert_array_equal(read_cwru_record(tmp_path / "99.mat")[0], -x)
    # Two foreign numbers: ambiguous.
    scipy.io.savemat(tmp_path / "99.mat", {"X098_DE_time": x[:, None], "X097_DE_time": -x[:, None]})
    with pytest.raises(DataError, match=r"X097_DE_time.*X098_DE_time|X098_DE_time.*X097_DE_time"):
        read_cwru_record(tmp_path / "99.mat")


@pytest.mark.parametrize("compress", [False, True])
def test_reader_agrees_with_scipy_on_varied_files(tmp_path, compress):
    rng = np.random.default_rng(1)
    cases = {
        "float64 column": rng.standard_normal((300, 1)),
        "float32 row": rng.standard_normal((1, 300)).astype(np.float32),
        "int16 vector": rng.integers(-1000, 1000, 300).astype(np.int16),
    }
    for label, value in cases.items():
        path = tmp_path / "106.mat"
        others = {
            "X106_FE_time": rng.standard_normal((300, 1)),
            "X106RPM": np.array([[1772]], dtype=np.uint16),
            "ans": "a string",
            "meta": {"a": 1.0},
            "cells": np.array([[1.0], ["x"]], dtype=object),
        }
        scipy.io.savemat(path, {"X106_DE_time": value, **others}, do_compression=compress)
        signal, rate = read_cwru_record(path)
        assert rate == 12_000
        np.testing.assert_array_equal(signal, scipy.io.loadmat(path)["X106_DE_time"].astype(float).ravel(), label)


def mat5(order: str, elements: list[tuple[str, int, np.ndarray]]) -> bytes:
    """A MATLAB v5 file written by hand after the format spec: (name, storage type, values) per array."""
    data = b"MATLAB 5.0 MAT-file, written by the test".ljust(116) + bytes(8) + struct.pack(order + "H", 0x0100)
    data += b"IM" if order == "<" else b"MI"

    def element(mdtype: int, payload: bytes) -> bytes:
        return struct.pack(order + "II", mdtype, len(payload)) + payload + bytes(-len(payload) % 8)

    for name, storage, values in elements:
        body = element(6, struct.pack(order + "II", 6, 0))  # array flags: class double
        body += element(5, struct.pack(order + "ii", values.size, 1))
        body += element(1, name.encode())
        body += element(storage, values.astype(order + {9: "f8", 3: "i2"}[storage]).tobytes())
        data += element(14, body)
    return data


def test_reader_on_hand_written_files(tmp_path):
    x = np.arange(-50, 50, dtype=float)
    # MATLAB stores integral doubles in a smaller type (here int16); scipy and the reader both widen them.
    for storage in (9, 3):
        (tmp_path / "107.mat").write_bytes(mat5("<", [("X107_DE_time", storage, x), ("X107RPM", 9, np.array([1.0]))]))
        np.testing.assert_array_equal(scipy.io.loadmat(tmp_path / "107.mat")["X107_DE_time"].ravel(), x)
        np.testing.assert_array_equal(read_cwru_record(tmp_path / "107.mat")[0], x)
        # The same file written big-endian.
        (tmp_path / "107.mat").write_bytes(mat5(">", [("X107_DE_time", storage, x)]))
        np.testing.assert_array_equal(read_cwru_record(tmp_path / "107.mat")[0], x)


def test_complex_flag_without_imaginary_part(tmp_path):
    # One flipped bit (the complex flag of X105_DE_time): scipy.io.loadmat 1.17 dies of a segmentation fault here.
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"X105_DE_time": np.linspace(0, 1, 40)[:, None], "X105RPM": np.array([[1797]])})
    data = bytearray(buffer.getvalue())
    assert data[0x88:0x98] == struct.pack("<IIII", 6, 8, 6, 0)  # array flags element: miUINT32, 8 bytes, class double
    data[0x91] |= 0x08
    (tmp_path / "105.mat").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"105\.mat.*complex"):
        read_cwru_record(tmp_path / "105.mat")


def test_unsupported_mat_versions(tmp_path):
    (tmp_path / "108.mat").write_bytes(
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(512) + b"\x89HDF\r\n" + bytes(600)
    )
    with pytest.raises(DataError, match=r"108\.mat.*v7\.3"):
        read_cwru_record(tmp_path / "108.mat")
    scipy.io.savemat(tmp_path / "109.mat", {"X109_DE_time": np.ones((20, 1))}, format="4")
    with pytest.raises(DataError, match=r"109\.mat.*v4"):
        read_cwru_record(tmp_path / "109.mat")


def test_mat_without_drive_end_key_lists_the_keys(tmp_path):
    scipy.io.savemat(tmp_path / "105.mat", {"X105_FE_time": np.ones((50, 1)), "X105RPM": np.array([[1797]])})
    with pytest.raises(DataError, match=r"105\.mat") as info:
        read_cwru_record(tmp_path / "105.mat")
    assert "X105_FE_time" in str(info.value) and "X105RPM" in str(info.value)


def test_text_file_named_mat(tmp_path):
    (tmp_path / "105.mat").write_text("this is not a MATLAB file\n" * 20)
    with pytest.raises(DataError, match=r"105\.mat"):
        read_cwru_record(tmp_path / "105.mat")


@pytest.mark.parametrize(
    ("value", "problem"),
    [(np.zeros((0, 1)), "empty"), (np.array([[1.0], [np.nan]]), "non-finite"), (np.ones((3, 4)), "vector")],
)
def test_bad_signals(tmp_path, value, problem):
    scipy.io.savemat(tmp_path / "118.mat", {"X118_DE_time": value})
    with pytest.raises(DataError, match=problem):
        read_cwru_record(tmp_path / "118.mat")


def test_missing_records_are_named(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    write_records(tmp_path / "data", [n for n in ZERO_HP if n not in (130, 222)])
    with pytest.raises(DataNotFoundError) as info:
        CWRU("train", root=tmp_path / "data", window=256)
    message = str(info.value)
    assert "130.mat" in message and "222.mat" in message and "0 HP" in message
    assert "118.mat" not in message.split("Partial")[-1]
    # Class set "4": ball has other records at 0 HP, so the folder is found but 222 is still named.
    with pytest.raises(DataNotFoundError, match=r"222\.mat \(B021, 0 HP\)"):
        CWRU("train", root=tmp_path / "data", window=256, class_set="4")
    # A load without any record.
    with pytest.raises(DataNotFoundError, match=r"119\.mat"):
        CWRU("train", root=tmp_path / "data", window=256, load=[0, 1], class_set="9")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("load", 4),
        ("load", -1),
        ("load", [0, 7]),
        ("load", "0"),
        ("load", True),
        ("load", []),
        ("class_set", "3"),
        ("class_set", 3),
        ("class_set", True),
        ("class_set", ["10"]),
        ("window", 8),
        ("window", 100.0),
        ("stride", 0),
        ("train_fraction", 0.0),
        ("train_fraction", 1.0),
        ("train_fraction", 1.5),
        ("normalize", "zscore"),
    ],
)
def test_bad_options(tmp_path, monkeypatch, option, value):
    isolate(monkeypatch, tmp_path)
    with pytest.raises(ParameterError) as info:
        CWRU("train", root=tmp_path, **{option: value})
    assert option in str(info.value) and repr(value) in str(info.value)


def test_bad_split_and_window_too_long(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    with pytest.raises(DataError, match="'val'"):
        CWRU("val", root=tmp_path)
    write_records(tmp_path / "data", ZERO_HP, seconds=0.5)
    with pytest.raises(ParameterError, match="window=8192"):
        CWRU("test", root=tmp_path / "data", window=8192)


def _valid_mat_bytes(compress: bool) -> bytes:
    buffer = io.BytesIO()
    content = {"X105_DE_time": np.linspace(0, 1, 200)[:, None], "X105RPM": np.array([[1797]])}
    scipy.io.savemat(buffer, content, do_compression=compress)
    return buffer.getvalue()


VALID = (_valid_mat_bytes(False), _valid_mat_bytes(True))


@st.composite
def damaged_mat(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=600), damaged_mat()))
def test_random_bytes_raise_only_bpsrm_errors(tmp_path, data):
    # scipy.io.loadmat itself crashes the interpreter on some of these (found with a seeded 20,000-file run).
    path = tmp_path / "105.mat"
    path.write_bytes(data)
    try:
        signal, _ = read_cwru_record(path)
    except BpsrmError:
        return
    assert signal.ndim == 1 and signal.size > 0 and np.all(np.isfinite(signal))


@pytest.mark.parametrize("augment_speed", [0.0, 0.2])
def test_validation_windows_overlap_no_training_window(cwru_root, manifest, augment_speed):
    """The configured CWRU split (windows of 2,048 every 512 samples, 10% for validation): validation takes whole
    stretches of neighbouring windows, and every training window that shares a sample with a validation window,
    counted here pair by pair, is left out."""
    from bpsrm.data.vibration import jitter_span
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.experiment import prepare

    options = {"load": 0, "window": 2048, "stride": 512, "normalize": "window", "augment_speed": augment_speed}
    config = config_from_dict(
        {
            "experiment": "cwru-split",
            "data": {"name": "cwru", "root": str(cwru_root.parent), "options": options, "val_fraction": 0.1},
            "model": {"spec": "4C7-SRM-MP4-FC10", "time_steps": 2},
        }
    )
    experiment = prepare(config)
    pool = experiment.val_set.dataset
    windows = pool.windows
    val = experiment.val_set.indices
    train = experiment.train_set.indices
    val_spans = [(windows[i][0], windows[i][1], windows[i][1] + 2048) for i in val]
    # What a training window may read: the window itself, or (augmented) up to round(2048 * 1.2) samples from its
    # start, moved back at the end of its record's part (test_vibration checks jitter_span against the reads).
    training_pool = experiment.train_set.dataset
    assert training_pool.augmented == (augment_speed > 0)

    def overlaps(i: int) -> bool:
        record, start = windows[i]
        a, b = jitter_span(start, 2048, *training_pool.bounds[record], 1 + augment_speed)
        return any(r == record and a < d and c < b for r, c, d in val_spans)

    others = [i for i in range(len(windows)) if i not in set(val)]
    assert [i for i in others if not overlaps(i)] == train
    assert experiment.overlapping == len(others) - len(train) > 0
    assert experiment.overlapping < 0.1 * len(windows)  # whole stretches: few neighbours lost
    # Validation holds whole stretches: a twentieth of a record's training part (its first 70%) ...
    length = {record: math.floor(0.7 * expected_length(manifest[record])) for record, _ in windows}
    stretch_of = {i: (r, start // math.ceil(length[r] / 20)) for i, (r, start) in enumerate(windows)}
    held = {stretch_of[i] for i in val}
    assert sorted(val) == sorted(i for i in range(len(windows)) if stretch_of[i] in held)
    # ... and about 10% of every class, never more.
    targets = pool.targets
    for label in range(10):
        n_class = sum(t == label for t in targets)
        assert 0 < sum(targets[i] == label for i in val) <= round(0.1 * n_class)


def test_the_drive_end_variable_rule_of_training_and_predict() -> None:
    """One rule (bpsrm.data.cwru.drive_end_variable) for the training reader and bpsrm predict: the X<n>_DE_time
    numbered after the file, else the only one, else none."""
    from pathlib import Path

    from bpsrm.data.cwru import drive_end_variable

    neighbours = ["X106_DE_time", "X105_FE_time", "X105_DE_time", "X106RPM"]
    assert drive_end_variable(neighbours, Path("cwru/1HP/105.mat")) == "X105_DE_time"
    assert drive_end_variable(neighbours, Path("pump.mat")) is None  # two, none numbered after the file
    assert drive_end_variable(["X118_DE_time", "X118_FE_time"], Path("pump.mat")) == "X118_DE_time"
    assert drive_end_variable(["X118_FE_time", "X118_BA_time"], Path("118.mat")) is None
    assert drive_end_variable(["X97_DE_time"], Path("097.mat")) == "X97_DE_time"


def test_a_copy_that_lacks_a_record_leads_with_what_it_lacks(shared_data, tmp_path, monkeypatch) -> None:
    """One record missing: the error began "CWRU not found. Looked in:" and named the missing file on its last
    line, after the list of folders (helper-61)."""
    monkeypatch.delenv("BPSRM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "copy"
    (copy / "0HP").mkdir(parents=True)
    for path in (shared_data / "cwru" / "0HP").glob("*.mat"):
        if path.name != "97.mat":
            (copy / "0HP" / path.name).symlink_to(path)
    with pytest.raises(DataNotFoundError) as caught:
        get_dataset("cwru", "train", root=copy, load=0)
    first = str(caught.value).splitlines()[0]
    assert first.startswith("CWRU for ") and first.endswith(f"{copy} lacks 97.mat (normal, 0 HP)")
    assert "(the search: CWRU not found. Looked in:" in str(caught.value)


def test_a_load_the_copy_does_not_have_is_named_not_the_whole_dataset(shared_data, tmp_path, monkeypatch) -> None:
    """`bpsrm eval ... -o load=3` on the shared copy (0-2 HP) said "CWRU not found. Looked in: ...": no record of
    the request was there, so the copy did not count as partial. It now leads with what the copy lacks."""
    monkeypatch.delenv("BPSRM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "copy"
    (copy / "0HP").mkdir(parents=True)
    (copy / "0HP" / "105.mat").symlink_to(shared_data / "cwru" / "0HP" / "105.mat")
    with pytest.raises(DataNotFoundError) as caught:
        get_dataset("cwru", "train", root=copy, load=3, class_set="9")
    first = str(caught.value).splitlines()[0]
    assert first.startswith(f"CWRU for load=[3] class_set='9': {copy} lacks 121.mat (B007, 3 HP), 188.mat (B014, 3 HP)")


def test_whole_records_of_a_trained_load_are_no_test_figure() -> None:
    """`bpsrm eval ... -o load=0 -o whole=true` of a model trained on load 0 reported 99.9% on windows of which 70%
    were its training data, without a word."""
    message = CWRU.training_overlap({"load": [0, 1]}, {"load": [1, 2], "whole": True})
    assert message is not None and message.startswith("whole=true reads every window of load 1, which the model")
    assert CWRU.training_overlap({"load": 0}, {"load": 0, "whole": False}) is None  # the test part of load 0
    assert CWRU.training_overlap({"load": 0}, {"load": 2, "whole": True}) is None  # a load it never saw
    assert CWRU.training_overlap({}, {"whole": True}) is not None  # both at the default load 0
    # a test part that starts inside the trained part (the model trained on the first 70% of each record)
    lower = CWRU.training_overlap({"load": 0}, {"load": 0, "train_fraction": 0.2})
    assert lower is not None and lower.startswith("train_fraction=0.2 starts the test part of load 0 at 0.2")
    assert "trained on the first 0.7" in lower
    assert CWRU.training_overlap({"load": 0, "train_fraction": 0.5}, {"load": 0, "train_fraction": 0.6}) is None
    assert CWRU.training_overlap({"load": 0}, {"load": 1, "train_fraction": 0.2}) is None
