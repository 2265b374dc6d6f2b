"""ASL-DVS on fixture .mat files written here in the official layout (the binning itself: test_events.py).

No copy of ASL-DVS is reachable, so the fixtures follow the format of the data
README: one folder per letter, one .mat per sample with ts, x, y, pol (240x180).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpsrm.data.asl_dvs import ASLDVS, read_asl_dvs
from bpsrm.data.base import get_dataset
from bpsrm.data.events import EVENT_DTYPE
from bpsrm.errors import BpsrmError, DataError, DataNotFoundError, ParameterError

LETTERS = ["b", "k", "y"]
PER_LETTER = 5


@pytest.fixture(autouse=True)
def isolate(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BPSRM_DATA", raising=False)
    return tmp_path / "cache"


def sample(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """One sample's fields as the official files hold them: column vectors, ts in µs, pol 0/1."""
    return {
        "ts": np.sort(rng.integers(0, 200_000, n)).reshape(-1, 1),
        "x": rng.integers(0, 240, n).astype(np.uint8).reshape(-1, 1),
        "y": rng.integers(0, 180, n).astype(np.uint8).reshape(-1, 1),
        "pol": rng.integers(0, 2, n).astype(np.uint8).reshape(-1, 1),
    }


def write_root(root: Path, order: list[tuple[str, int]], seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Write letter/<letter>_<k>.mat for each (letter, k) in ``order``; the fields by relative path."""
    written = {}
    for letter, k in order:
        rng = np.random.default_rng([seed, ord(letter), k])
        fields = sample(rng, int(rng.integers(20, 120)))
        (root / letter).mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(root / letter / f"{letter}_{k:04d}.mat", fields)
        written[f"{letter}/{letter}_{k:04d}.mat"] = fields
    return written


ORDER = [(letter, k) for letter in LETTERS for k in range(1, PER_LETTER + 1)]


@pytest.fixture
def asl_root(tmp_path) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    root = tmp_path / "asl"
    return root, write_root(root, ORDER)


def relative(data: ASLDVS) -> list[str]:
    return [p.relative_to(data.location).as_posix() for p in data.files]


def expected_split(names_by_letter: dict[str, list[str]], fraction: float) -> tuple[set[str], set[str]]:
    """Per letter: sort by sha256 of "letter/name", the first round(n * fraction) are test."""
    train, test = set(), set()
    for letter, names in names_by_letter.items():
        ranked = sorted(names, key=lambda n: hashlib.sha256(f"{letter}/{n}".encode()).hexdigest())
        k = int(len(ranked) * fraction + 0.5)
        test |= {f"{letter}/{n}" for n in ranked[:k]}
        train |= {f"{letter}/{n}" for n in ranked[k:]}
    return train, test


# --- dataset --------------------------------------------------------------------------------------------------


def test_classes_and_counts(asl_root) -> None:
    root, _ = asl_root
    train, test = ASLDVS("train", root=root), ASLDVS("test", root=root)
    assert train.classes == test.classes == LETTERS
    assert train.class_counts() == {"b": 4, "k": 4, "y": 4} and test.class_counts() == {"b": 1, "k": 1, "y": 1}
    assert train.input_shape == (10, 2, 180, 240)
    frames, label = test[2]
    assert frames.dtype == torch.float32 and frames.shape == (10, 2, 180, 240) and label == 2


def test_found_in_a_named_subfolder(tmp_path) -> None:
    write_root(tmp_path / "data" / "asl-dvs", ORDER[:2])
    assert ASLDVS("train", root=tmp_path / "data").location == tmp_path / "data" / "asl-dvs"


def test_split_is_stratified_disjoint_and_covers_all(asl_root) -> None:
    root, written = asl_root
    train, test = ASLDVS("train", root=root), ASLDVS("test", root=root)
    a, b = set(relative(train)), set(relative(test))
    assert not a & b and a | b == set(written)
    names = {letter: [f"{letter}_{k:04d}.mat" for k in range(1, PER_LETTER + 1)] for letter in LETTERS}
    assert (a, b) == expected_split(names, 0.2)
    assert train.targets == [LETTERS.index(p.split("/")[0]) for p in relative(train)]


def test_split_fraction(tmp_path) -> None:
    order = [(letter, k) for letter in ("a", "c") for k in range(20)]
    write_root(tmp_path / "r", order)
    names = {letter: [f"{letter}_{k:04d}.mat" for k in range(20)] for letter in ("a", "c")}
    for fraction in (0.1, 0.25, 0.5):
        test = ASLDVS("test", root=tmp_path / "r", test_fraction=fraction, cache=False)
        assert set(relative(test)) == expected_split(names, fraction)[1]
        assert len(test) == 2 * round(20 * fraction)


def test_split_does_not_depend_on_listing_order(tmp_path) -> None:
    shuffled = ORDER[:]
    random.Random(3).shuffle(shuffled)
    write_root(tmp_path / "one", ORDER)
    write_root(tmp_path / "two", shuffled[::-1])
    for split in ("train", "test"):
        one = ASLDVS(split, root=tmp_path / "one", cache=False)
        two = ASLDVS(split, root=tmp_path / "two", cache=False)
        assert relative(one) == relative(two) and one.targets == two.targets


@pytest.mark.parametrize("mode", ["time", "count"])
def test_frames_sum_to_event_counts(asl_root, mode) -> None:
    root, written = asl_root
    data = ASLDVS("train", root=root, time_steps=4, mode=mode)
    for i, name in enumerate(relative(data)):
        fields = written[name]
        frames = data[i][0].numpy()
        for p in (0, 1):
            assert frames[:, p].sum() == np.count_nonzero(fields["pol"] == p)
        x, y, p = int(fields["x"][-1, 0]), int(fields["y"][-1, 0]), int(fields["pol"][-1, 0])
        if mode == "time":  # the latest event is in the last bin
            assert frames[-1, p, y, x] >= 1


@pytest.mark.parametrize("downsample", [1, 2, 4, 7])
def test_downsample_shape_and_sums(asl_root, downsample) -> None:
    root, written = asl_root
    data = ASLDVS("test", root=root, time_steps=3, downsample=downsample)
    h, w = 180 // downsample, 240 // downsample
    assert data.input_shape == (3, 2, h, w)
    frames = data[0][0].numpy()
    fields = written[relative(data)[0]]
    assert frames.shape == (3, 2, h, w) and frames.sum() == fields["x"].size
    if 240 % downsample == 0 and 180 % downsample == 0:  # block sums of the full-size frames
        full = ASLDVS("test", root=root, time_steps=3)[0][0].numpy()
        blocks = full.reshape(3, 2, h, downsample, w, downsample).sum(axis=(3, 5))
        np.testing.assert_array_equal(frames, blocks)


def test_cache_is_used_by_a_second_instance(asl_root, isolate, monkeypatch) -> None:
    root, _ = asl_root
    first = ASLDVS("train", root=root, downsample=2)
    import bpsrm.data.asl_dvs as module

    def refuse(path):
        raise AssertionError(f"read {path} although the cache should have been used")

    monkeypatch.setattr(module, "read_asl_dvs", refuse)
    second = ASLDVS("train", root=root, downsample=2)
    assert all(torch.equal(first[i][0], second[i][0]) for i in range(len(first)))
    with pytest.raises(AssertionError, match="read"):
        ASLDVS("train", root=root, downsample=3)


def test_empty_letter_folder(asl_root) -> None:
    root, _ = asl_root
    (root / "f").mkdir()
    with pytest.raises(DataError, match=r"no \.mat files") as info:
        ASLDVS("train", root=root)
    assert str(root / "f") in str(info.value)


def test_missing_and_download(tmp_path, isolate) -> None:
    with pytest.raises(DataNotFoundError) as info:
        ASLDVS("train", root=tmp_path / "none")
    assert f"  {tmp_path / 'none'}\n" in str(info.value) and f"  {isolate}\n" in str(info.value)
    with pytest.raises(DataNotFoundError, match="Automatic download is not offered for ASL-DVS"):
        ASLDVS("train", root=tmp_path / "none", download=True)


@pytest.mark.parametrize("options", [{"test_fraction": 0.0}, {"test_fraction": 1}, {"downsample": 0}, {"mode": "x"}])
def test_bad_options(asl_root, options) -> None:
    with pytest.raises(ParameterError):
        ASLDVS("train", root=asl_root[0], **options)


def test_get_dataset(asl_root) -> None:
    data = get_dataset("asl-dvs", "test", root=asl_root[0], time_steps=2, downsample=5, cache=False)
    assert isinstance(data, ASLDVS) and data[0][0].shape == (2, 2, 36, 48)


# --- bad files ------------------------------------------------------------------------------------------------


def bad_fields(kind: str) -> dict[str, np.ndarray]:
    fields = sample(np.random.default_rng(5), 30)
    if kind == "missing pol":
        del fields["pol"]
    elif kind == "lengths":
        fields["y"] = fields["y"][:-1]
    elif kind == "x range":
        fields["x"] = fields["x"].astype(np.int32)
        fields["x"][7] = 240
    elif kind == "y negative":
        fields["y"] = fields["y"].astype(np.int32)
        fields["y"][0] = -1
    elif kind == "pol":
        fields["pol"][3] = 2
    elif kind == "fraction":
        fields["ts"] = fields["ts"] + 0.5
    elif kind == "text":
        fields["x"] = np.array(["abc"])
    elif kind == "empty":
        fields = {k: np.zeros((0, 1)) for k in fields}
    return fields


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("missing pol", "missing field(s) ['pol']"),
        ("lengths", "differ in length"),
        ("x range", "1 events have x outside the sensor's 0..239 (240x180 pixels); the first is event 7: x = 240"),
        ("y negative", "the first is event 0: y = -1"),
        ("pol", "pol holds [0, 1, 2]"),
        ("fraction", "non-integer"),
        ("text", "is not a numeric array (MATLAB class code 4)"),
        ("empty", "no events"),
    ],
)
def test_bad_mat_names_file_and_problem(tmp_path, kind, fragment) -> None:
    path = tmp_path / "a" / "a_0001.mat"
    path.parent.mkdir()
    scipy.io.savemat(path, bad_fields(kind))
    with pytest.raises(DataError) as info:
        read_asl_dvs(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_text_file_named_mat(tmp_path) -> None:
    path = tmp_path / "note.mat"
    path.write_text("this is not a MATLAB file\n" * 10)
    with pytest.raises(DataError, match=r"not a readable MATLAB \.mat file") as info:
        read_asl_dvs(path)
    assert str(path) in str(info.value)


def test_bad_file_in_dataset_is_named(asl_root) -> None:
    root, _ = asl_root
    victim = root / "k" / "k_0003.mat"
    scipy.io.savemat(victim, bad_fields("missing pol"))
    names = {letter: [f"{letter}_{k:04d}.mat" for k in range(1, PER_LETTER + 1)] for letter in LETTERS}
    split = "test" if "k/k_0003.mat" in expected_split(names, 0.2)[1] else "train"
    with pytest.raises(DataError, match=r"missing field\(s\) \['pol'\]") as info:
        ASLDVS(split, root=root)
    assert str(victim) in str(info.value)
    lazy = ASLDVS(split, root=root, cache=False)  # without the cache the error comes when the sample is read
    with pytest.raises(DataError) as info:
        lazy[relative(lazy).index("k/k_0003.mat")]
    assert str(victim) in str(info.value)


def test_polarity_minus_one_is_off(tmp_path) -> None:
    fields = sample(np.random.default_rng(2), 40)
    fields["pol"] = np.where(fields["pol"] > 0, 1, -1).astype(np.int8)
    scipy.io.savemat(tmp_path / "s.mat", fields)
    events = read_asl_dvs(tmp_path / "s.mat")
    assert events["p"].tolist() == (fields["pol"].ravel() > 0).astype(int).tolist()
    assert events["x"].tolist() == fields["x"].ravel().tolist()
    assert events["t"].tolist() == fields["ts"].ravel().tolist()


def mat_bytes(fields: dict[str, np.ndarray], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, fields, do_compression=compress)
    return buffer.getvalue()


def compress_elements(data: bytes) -> bytes:
    """The same v5 file with every top-level element wrapped in a zlib miCOMPRESSED element (as MATLAB writes)."""
    out, pos = [data[:128]], 128
    while pos < len(data):
        _, size = struct.unpack_from("<II", data, pos)
        packed = zlib.compress(data[pos : pos + 8 + size])
        out.append(struct.pack("<II", 15, len(packed)) + packed)
        pos += 8 + size
    return b"".join(out)


def bad_type_code(code: int) -> bytes:
    """A valid sample whose 'ts' data element carries the data type code ``code``."""
    data = bytearray(mat_bytes(sample(np.random.default_rng(4), 12)))
    name = data.index(b"\x01\x00\x02\x00ts\x00\x00")  # the name 'ts' as a small int8 element
    struct.pack_into("<I", data, name + 8, code)  # the tag of the data that follows
    return bytes(data)


@pytest.mark.parametrize("code", [8, 10, 15, 19, 26892])
@pytest.mark.parametrize("compress", [False, True])
def test_unknown_data_type_code_is_refused(tmp_path, code, compress) -> None:
    # scipy <= 1.17 crashes the interpreter on such a file (unchecked table lookup); bpsrm's reader refuses it
    path = tmp_path / "a_0001.mat"
    payload = bad_type_code(code)
    path.write_bytes(compress_elements(payload) if compress else payload)
    with pytest.raises(DataError) as info:
        read_asl_dvs(path)
    assert str(path) in str(info.value) and f"variable 'ts' holds data of unknown MATLAB type code {code}" in str(
        info.value
    )


def test_compressed_and_valid_type_codes_read(tmp_path) -> None:
    fields = sample(np.random.default_rng(6), 25)
    fields["y"] = fields["y"].astype(np.float32)
    fields["note"] = "a char variable that is not read"
    for i, payload in enumerate(
        [mat_bytes(fields), mat_bytes(fields, compress=True), compress_elements(mat_bytes(fields)), bad_type_code(13)]
    ):
        path = tmp_path / f"s{i}.mat"
        path.write_bytes(payload)
        events = read_asl_dvs(path)
        if i < 3:
            assert events["y"].tolist() == fields["y"].ravel().tolist()


STORAGE = [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.float32, np.float64]


@pytest.mark.parametrize("dtype", [*STORAGE, bool])
@pytest.mark.parametrize("compress", [False, True])
def test_every_storage_type_reads_as_loadmat_reads_it(tmp_path, dtype, compress) -> None:
    # the events equal those of scipy.io.loadmat's arrays (the reader ASL-DVS used before bpsrm.data.matfile)
    fields = sample(np.random.default_rng(9), 50)
    for key in ("x", "y", "pol") if dtype is not bool else ("pol",):
        values = fields[key] % 128 if dtype is np.int8 else fields[key]
        fields[key] = values.astype(dtype).reshape(1, -1)  # a row vector as well
    if dtype not in (np.int8, np.uint8, np.int16, bool):  # ts needs more than 16 bits
        fields["ts"] = fields["ts"].astype(dtype)
    path = tmp_path / "s.mat"
    path.write_bytes(mat_bytes(fields, compress=compress))
    loaded = scipy.io.loadmat(path)
    events = read_asl_dvs(path)
    for key, column in (("x", "x"), ("y", "y"), ("ts", "t"), ("pol", "p")):
        assert events[column].tolist() == loaded[key].ravel().astype(np.int64).tolist()


@pytest.mark.parametrize("order", ["<", ">"])
def test_hand_built_file_of_either_byte_order(tmp_path, order) -> None:
    from test_matfile import MI_DOUBLE, MI_INT64, MI_UINT8, compressed, mat_file, matrix

    ts, x, y, pol = [5, 7, 7, 90], [0, 239, 3, 4], [179, 0, 1, 2], [1, 0, 0, 1]
    path = tmp_path / "s.mat"
    path.write_bytes(
        mat_file(
            order,
            compressed(order, matrix(order, "ts", (4, 1), MI_INT64, ts)),
            matrix(order, "x", (4, 1), MI_UINT8, x, mx_class=6),  # a double array stored as uint8, as MATLAB does
            matrix(order, "y", (1, 4), MI_DOUBLE, [float(v) for v in y]),
            matrix(order, "pol", (4, 1), MI_UINT8, pol, small_data=True),
        )
    )
    events = read_asl_dvs(path)
    assert events["t"].tolist() == ts and events["x"].tolist() == x and events["y"].tolist() == y
    assert events["p"].tolist() == pol


def test_other_mat_formats_and_complex_fields_are_named(tmp_path) -> None:
    path = tmp_path / "s.mat"
    fields = sample(np.random.default_rng(3), 30)
    cases = [
        ("v4", "MATLAB v4"),
        ("v7.3", "a MATLAB v7.3 (HDF5) file"),
        ("complex", "variable 'x' is complex"),
        ("cut", "not a readable MATLAB .mat file"),
    ]
    for kind, fragment in cases:
        if kind == "v4":
            scipy.io.savemat(path, fields, format="4")
        elif kind == "v7.3":
            path.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(128, b" ") + bytes(512))
        elif kind == "complex":
            scipy.io.savemat(path, {**fields, "x": fields["x"] + 0j})
        else:
            path.write_bytes(mat_bytes(fields)[:-9])
        with pytest.raises(DataError) as info:
            read_asl_dvs(path)
        assert str(path) in str(info.value) and fragment in str(info.value), kind


VALID = mat_bytes(sample(np.random.default_rng(8), 20))


@st.composite
def damaged_mat(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from([VALID, compress_elements(VALID)])))
    for _ in range(draw(st.integers(1, 6))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw[: draw(st.integers(0, len(raw)))])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.one_of(
        st.binary(max_size=400),
        st.binary(min_size=0, max_size=300).map(lambda b: b"MATLAB 5.0 MAT-file".ljust(124, b" ") + b"\x00\x01IM" + b),
        damaged_mat(),
    )
)
def test_random_bytes_only_raise_bpsrm_errors(tmp_path, payload) -> None:
    path = tmp_path / "fuzz.mat"
    path.write_bytes(payload)
    try:
        events = read_asl_dvs(path)
    except BpsrmError as exc:
        assert str(path) in str(exc)
    else:
        assert events.dtype == EVENT_DTYPE


def test_no_warning_and_cache_file_permissions(asl_root, isolate) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ASLDVS("train", root=asl_root[0])
    files = list((isolate / "frames").iterdir())
    assert len(files) == 1 and files[0].suffix == ".frames" and os.access(files[0], os.R_OK)


def test_a_sample_of_more_events_than_a_sample_may_hold_is_refused_before_reading(tmp_path, monkeypatch) -> None:
    """The event count comes from the fields' headers: a 130 KB compressed file of 4 x 32 Mi values took 1.7 GB."""
    from bpsrm.data import asl_dvs

    monkeypatch.setattr(asl_dvs, "MAX_EVENTS", 100)
    path = tmp_path / "many.mat"
    n = 101
    scipy.io.savemat(path, {"ts": np.arange(n), "x": np.zeros(n), "y": np.zeros(n), "pol": np.zeros(n)})
    with pytest.raises(DataError, match=r"many.mat: the fields hold .*101.* more than the 100 events a sample may"):
        read_asl_dvs(path)
    monkeypatch.setattr(asl_dvs, "MAX_EVENTS", 101)
    assert read_asl_dvs(path).shape == (101,)
