"""bpsrm.data.matfile, the MATLAB level 5 reader, on files written here byte by byte and on mutated files.

The files are built with struct.pack after the MAT-file format (a writer
independent of the reader): the 128-byte header, tagged data elements (small
ones too), miMATRIX with array flags, dimensions, name and real part, and
miCOMPRESSED. Every value read is checked. The fuzz tests apply seeded random
mutations to such files, to scipy.io.savemat's files and to a real CWRU record,
and require every outcome to be a parse consistent with the original or a
MatError (a DataError), never another exception.
"""

from __future__ import annotations

import collections
import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from bpsrm.data.matfile import MAX_DIMS, MAX_VARIABLE_BYTES, Mat5, MatError
from bpsrm.errors import BpsrmError, DataError

# --- an independent writer, after the format spec ----------------------------------------------------------------

MI_INT8, MI_UINT8, MI_INT16, MI_UINT16, MI_INT32, MI_UINT32 = 1, 2, 3, 4, 5, 6
MI_SINGLE, MI_DOUBLE, MI_INT64, MI_UINT64, MI_MATRIX, MI_COMPRESSED, MI_UTF8 = 7, 9, 12, 13, 14, 15, 16
MX_CHAR, MX_DOUBLE, MX_SINGLE = 4, 6, 7
FORMAT = {1: "b", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 9: "d", 12: "q", 13: "Q"}
NUMPY = {1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32}
NUMPY |= {7: np.float32, 9: np.float64, 12: np.int64, 13: np.uint64}
CLASS_OF = {1: 8, 2: 9, 3: 10, 4: 11, 5: 12, 6: 13, 7: MX_SINGLE, 9: MX_DOUBLE, 12: 14, 13: 15}  # the natural class
ORDERS = ("<", ">")


def file_header(order: str, version: int = 0x0100) -> bytes:
    """116 bytes of text, 8 bytes of subsystem offset, version, endian indicator (the word 'MI' in file order)."""
    text = b"MATLAB 5.0 MAT-file, written byte by byte by tests/test_matfile.py"
    return text.ljust(116, b" ") + bytes(8) + struct.pack(order + "HH", version, (ord("M") << 8) | ord("I"))


def element(order: str, mdtype: int, payload: bytes, small: bool = False) -> bytes:
    """A tagged data element; ``small``: the small format (type and count in one word, data in the next 4 bytes)."""
    if small:
        assert len(payload) <= 4
        word = struct.pack("<HH", mdtype, len(payload)) if order == "<" else struct.pack(">HH", len(payload), mdtype)
        return word + payload + bytes(4 - len(payload))
    return struct.pack(order + "II", mdtype, len(payload)) + payload + bytes(-len(payload) % 8)


def matrix(
    order: str,
    name: str,
    dims: tuple[int, ...],
    storage: int,
    values: list,
    mx_class: int | None = None,
    complex_flag: bool = False,
    small_data: bool = False,
) -> bytes:
    """A numeric miMATRIX element: flags, dimensions, name (small when it fits), real part (``values`` column-major)."""
    flags = (CLASS_OF[storage] if mx_class is None else mx_class) | (0x800 if complex_flag else 0)
    body = element(order, MI_UINT32, struct.pack(order + "II", flags, 0))
    body += element(order, MI_INT32, struct.pack(f"{order}{len(dims)}i", *dims))
    body += element(order, MI_INT8, name.encode("latin-1"), small=len(name) <= 4)
    body += element(order, storage, struct.pack(f"{order}{len(values)}{FORMAT[storage]}", *values), small=small_data)
    return element(order, MI_MATRIX, body)


def compressed(order: str, inner: bytes) -> bytes:
    """``inner`` (whole data elements) as the zlib stream of one miCOMPRESSED element."""
    packed = zlib.compress(inner)
    return struct.pack(order + "II", MI_COMPRESSED, len(packed)) + packed


def mat_file(order: str, *elements: bytes) -> bytes:
    return file_header(order) + b"".join(elements)


def read_all(data: bytes) -> dict[str, np.ndarray]:
    """Every numeric variable of ``data``."""
    mat = Mat5(data)
    return {name: mat.array(name) for name, header in mat.headers.items() if header.mx_class in range(6, 16)}


def sample_values(storage: int) -> list:
    """Six values of the storage type, its extremes included."""
    if storage in (MI_SINGLE, MI_DOUBLE):
        big = 3.0e38 if storage == MI_SINGLE else 1.0e300
        return [-1.5, 0.0, 2.25, big, -big, 1e-3 if storage == MI_DOUBLE else 0.5]
    info = np.iinfo(NUMPY[storage])
    return [int(info.min), int(info.max), 0, 1, int(info.max) // 3, 7]


# --- value by value ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("storage", sorted(FORMAT))
def test_every_numeric_type_value_by_value(order, storage) -> None:
    values = sample_values(storage)
    data = mat_file(order, matrix(order, "v", (2, 3), storage, values))
    mat = Mat5(data)
    array = mat.array("v")
    assert mat.names == ["v"] and mat.order == order
    assert array.dtype == np.dtype(NUMPY[storage]) and array.dtype.isnative and array.shape == (2, 3)
    floats = mat.values("v")
    assert floats.dtype == np.float64 and floats.shape == (2, 3)
    for j in range(3):
        for i in range(2):  # column-major: element (i, j) is value i + 2 j of the file
            expected = NUMPY[storage](values[i + 2 * j])
            assert array[i, j] == expected
            assert floats[i, j] == float(expected)
    header = mat.header("v")
    assert (header.mx_class, header.is_complex, header.dims, header.name) == (CLASS_OF[storage], False, (2, 3), "v")
    # the hand-built file is valid MATLAB: scipy reads the same (checks the writer, not the reader)
    assert np.array_equal(scipy.io.loadmat(io.BytesIO(data))["v"], array)


@pytest.mark.parametrize("order", ORDERS)
def test_small_data_elements(order) -> None:
    data = mat_file(
        order,
        matrix(order, "one", (1, 1), MI_INT32, [-123456], small_data=True),
        matrix(order, "u8", (1, 3), MI_UINT8, [0, 200, 255], small_data=True),
        matrix(order, "i16", (2, 1), MI_INT16, [-32768, 32767], small_data=True),
        matrix(order, "f32", (1, 1), MI_SINGLE, [0.25], small_data=True),
        matrix(order, "longer_name", (1, 1), MI_DOUBLE, [2.5]),  # name in the normal format (more than 4 bytes)
    )
    got = read_all(data)
    assert list(got) == ["one", "u8", "i16", "f32", "longer_name"]
    assert got["one"].dtype == np.int32 and got["one"].shape == (1, 1) and got["one"][0, 0] == -123456
    assert got["u8"].dtype == np.uint8 and got["u8"].tolist() == [[0, 200, 255]]
    assert got["i16"].dtype == np.int16 and got["i16"].tolist() == [[-32768], [32767]]
    assert got["f32"].dtype == np.float32 and got["f32"][0, 0] == 0.25
    assert got["longer_name"][0, 0] == 2.5
    expected = scipy.io.loadmat(io.BytesIO(data))
    for name, value in got.items():
        assert np.array_equal(expected[name], value)


@pytest.mark.parametrize("order", ORDERS)
def test_compressed_elements(order) -> None:
    ts = list(range(0, 50_000, 997))
    data = mat_file(
        order,
        compressed(order, matrix(order, "ts", (len(ts), 1), MI_INT64, ts)),
        matrix(order, "plain", (1, 2), MI_UINT16, [1, 65535]),
        compressed(order, matrix(order, "x", (1, 4), MI_UINT8, [0, 1, 2, 239], mx_class=MX_DOUBLE)),
        compressed(order, matrix(order, "s", (1, 1), MI_INT32, [-5], small_data=True)),
    )
    mat = Mat5(data)
    assert mat.names == ["ts", "plain", "x", "s"]
    assert [mat.variables[n][0] for n in mat.names] == [True, False, True, True]
    assert mat.header("ts").dims == (len(ts), 1) and mat.header("x").mx_class == MX_DOUBLE
    assert mat.array("ts").dtype == np.int64 and mat.array("ts")[:, 0].tolist() == ts
    assert mat.array("plain").tolist() == [[1, 65535]]
    x = mat.array("x")  # a double array stored as uint8: returned as stored, like scipy.io.loadmat
    assert x.dtype == np.uint8 and x.tolist() == [[0, 1, 2, 239]]
    assert mat.values("x").dtype == np.float64 and mat.values("x").tolist() == [[0.0, 1.0, 2.0, 239.0]]
    assert mat.array("s").tolist() == [[-5]]
    loaded = scipy.io.loadmat(io.BytesIO(data))
    for name in mat.names:  # scipy keeps the file's byte order, bpsrm gives native order
        assert loaded[name].dtype.newbyteorder("=") == mat.array(name).dtype
        assert np.array_equal(loaded[name], mat.array(name))


def test_shapes_empty_arrays_and_duplicates() -> None:
    o = "<"
    cube = list(range(24))
    data = mat_file(
        o,
        matrix(o, "cube", (2, 3, 4), MI_UINT8, cube),
        matrix(o, "empty", (0, 1), MI_DOUBLE, []),
        matrix(o, "dup", (1, 1), MI_INT8, [1]),
        matrix(o, "dup", (1, 1), MI_INT8, [2]),
    )
    mat = Mat5(data)
    array = mat.array("cube")
    assert array.shape == (2, 3, 4)
    for i in range(2):
        for j in range(3):
            for k in range(4):
                assert array[i, j, k] == cube[i + 2 * j + 6 * k]
    assert mat.array("empty").shape == (0, 1) and mat.array("empty").dtype == np.float64
    assert mat.names == ["cube", "empty", "dup", "dup"] and mat.array("dup").tolist() == [[1]]  # first one wins


def test_non_numeric_variable_is_listed_but_not_read() -> None:
    o = "<"
    text = matrix(o, "note", (1, 3), MI_UINT16, [ord(c) for c in "abc"], mx_class=MX_CHAR)
    mat = Mat5(mat_file(o, text, matrix(o, "v", (1, 1), MI_DOUBLE, [1.0])))
    assert mat.names == ["note", "v"] and mat.header("note").mx_class == MX_CHAR
    with pytest.raises(MatError, match=r"'note' \(char\) is not a numeric array \(MATLAB class code 4\)"):
        mat.array("note")
    assert mat.values("v").tolist() == [[1.0]]


def test_scipy_savemat_files_read_like_loadmat() -> None:
    rng = np.random.default_rng(0)
    content = {}
    for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        info = np.iinfo(t)
        content[f"v_{np.dtype(t).name}"] = rng.integers(info.min, info.max, (7, 3), dtype=t, endpoint=True)
    content |= {"f4": rng.normal(size=(4, 5)).astype(np.float32), "f8": rng.normal(size=(1, 9))}
    content["big"] = np.arange(5000.0)
    for compress in (False, True):
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, content, do_compression=compress)
        got, expected = read_all(buffer.getvalue()), scipy.io.loadmat(io.BytesIO(buffer.getvalue()))
        assert set(got) == set(content)
        for name, value in got.items():
            assert value.dtype == expected[name].dtype and np.array_equal(value, expected[name]), name


# --- every structural problem is a MatError -------------------------------------------------------------------


def _good(o: str = "<") -> bytes:
    return matrix(o, "v", (1, 2), MI_INT32, [3, 4])


def words(order: str, *values: int) -> bytes:
    """4-byte unsigned words in file order (to find and change tags)."""
    return struct.pack(f"{order}{len(values)}I", *values)


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def _compressed_stream_cut(o: str = "<") -> bytes:
    packed = zlib.compress(matrix(o, "v", (1, 300), MI_DOUBLE, [float(i) for i in range(300)]))[:-40]
    return file_header(o) + struct.pack(o + "II", MI_COMPRESSED, len(packed)) + packed


def _compressed_with_extra(o: str = "<") -> bytes:
    return file_header(o) + compressed(o, _good(o) + bytes(16))  # the stream holds more than its array


def _compressed_bad_checksum(values: int, o: str = "<") -> bytes:
    rng = np.random.default_rng(values)
    array = matrix(o, "v", (1, values), MI_DOUBLE, rng.normal(size=values).tolist())
    data = bytearray(mat_file(o, compressed(o, array)))
    data[-1] ^= 0xFF  # the last byte of the Adler-32 checksum
    return bytes(data)


def _claims_too_much(o: str = "<") -> bytes:
    body = _good(o)
    return mat_file(o, compressed(o, struct.pack(o + "II", MI_MATRIX, MAX_VARIABLE_BYTES + 1) + body[8:]))


BAD_FILES = {
    "short": (b"MATLAB 5.0" * 10, "shorter than the 128-byte MAT-file header"),
    "v7.3": (b"MATLAB 7.3 MAT-file".ljust(600, b" "), "a MATLAB v7.3 (HDF5) file"),
    "no header": (b"this is not a MATLAB file\n" * 10, "no MATLAB 5 header"),
    "version": (file_header("<", 0x0300) + _good(), "MAT-file version 0x0300, expected 0x0100"),
    "v7.3 version": (file_header("<", 0x0200) + _good(), "a MATLAB v7.3 (HDF5) file, which this reader does not take"),
    "top-level type": (mat_file("<", element("<", MI_DOUBLE, bytes(8))), "data element of type 9 at top level"),
    "top-level small": (mat_file("<", element("<", MI_MATRIX, b"ab", small=True)), "empty or small data element"),
    "truncated tag": (mat_file("<", _good()) + b"\x0e\x00\x00", "truncated data element at byte 192 (3 of"),
    "truncated body": (mat_file("<", _good())[:-4], "claims 56 bytes, only 52 left"),
    "huge count": (
        _replace(mat_file("<", _good()), words("<", MI_MATRIX, 56), words("<", MI_MATRIX, 255)),
        "claims 255 bytes, only 56 left",
    ),
    "huge inner count": (
        _replace(mat_file(">", _good(">")), words(">", MI_INT32, 8, 1), words(">", MI_INT32, 0xFFFFFFFF, 1)),
        "claims 4294967295 bytes",
    ),
    "small count 5": (_replace(mat_file("<", _good()), b"\x01\x00\x01\x00v", b"\x01\x00\x05\x00v"), "at most 4"),
    "flags missing": (
        _replace(mat_file("<", _good()), words("<", MI_UINT32, 8), words("<", MI_SINGLE, 8)),
        "array flags missing (found a data element of type 7, 8 bytes)",
    ),
    "dims missing": (
        _replace(mat_file("<", _good()), words("<", MI_INT32, 8, 1), words("<", MI_UINT32, 8, 1)),
        "dimensions missing",
    ),
    "name missing": (_replace(mat_file("<", _good()), b"\x01\x00\x01\x00v", b"\x02\x00\x01\x00v"), "name missing"),
    "negative dims": (mat_file("<", matrix("<", "v", (-1, 2), MI_INT32, [1, 2])), "negative array dimensions"),
    "too many dims": (
        mat_file("<", matrix("<", "v", (1,) * (MAX_DIMS + 1), MI_INT32, [1])),
        f"{MAX_DIMS + 1} dimensions",
    ),
    "nested compressed": (mat_file("<", compressed("<", compressed("<", _good()))), "does not hold an array"),
    "damaged zlib": (
        _replace(mat_file("<", compressed("<", _good())), b"\x78\x9c", b"\x78\x00"),
        "damaged zlib data",
    ),
}
BAD_VARIABLES = {
    "complex": (mat_file("<", matrix("<", "v", (1, 2), MI_INT32, [1, 2], complex_flag=True)), "'v' is complex"),
    "char": (mat_file("<", matrix("<", "v", (1, 2), MI_UINT16, [97, 98], mx_class=MX_CHAR)), "class code 4"),
    "type code 8": (
        _replace(mat_file("<", _good()), words("<", MI_INT32, 8, 3), words("<", 8, 8, 3)),
        "'v' holds data of unknown MATLAB type code 8",
    ),
    "count vs dims": (
        mat_file("<", matrix("<", "v", (1, 3), MI_INT32, [1, 2])),
        "8 bytes of int32 data for dimensions (1, 3)",
    ),
    "empty but huge": (mat_file("<", matrix("<", "v", (0, 2**31 - 1, 2**31 - 1), MI_DOUBLE, [])), "too large"),
    "claims too much": (_claims_too_much(), "more than this reader accepts"),
    "stream cut": (_compressed_stream_cut(), "compressed data ends after"),
    "stream longer": (_compressed_with_extra(), "does not end after the 56 bytes its tag claims"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_damaged_file_is_refused(case) -> None:
    data, fragment = BAD_FILES[case]
    with pytest.raises(MatError) as info:
        Mat5(data)
    assert fragment in str(info.value)


@pytest.mark.parametrize("case", sorted(BAD_VARIABLES))
def test_damaged_variable_is_refused(case) -> None:
    data, fragment = BAD_VARIABLES[case]
    mat = Mat5(data)  # the header is fine: the problem shows when the values are read
    with pytest.raises(MatError) as info:
        mat.array("v")
    assert fragment in str(info.value)


def test_compressed_checksum_is_checked() -> None:
    # a variable whose whole stream fits in the header read fails on opening, a longer one when it is read
    with pytest.raises(MatError, match="damaged zlib data"):
        Mat5(_compressed_bad_checksum(10))
    mat = Mat5(_compressed_bad_checksum(2000))
    with pytest.raises(MatError, match="damaged zlib data"):
        mat.array("v")


def test_mat_error_is_a_bpsrm_data_error() -> None:
    assert issubclass(MatError, DataError) and issubclass(MatError, BpsrmError)


def test_matlab_v4_file_is_named() -> None:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"v": np.ones((30, 1))}, format="4")
    with pytest.raises(MatError, match="MATLAB v4"):
        Mat5(buffer.getvalue())


# --- fuzz ------------------------------------------------------------------------------------------------------


def _hand_built_seeds() -> list[bytes]:
    seeds = []
    for o in ORDERS:
        plain = [matrix(o, f"v{s}", (2, 3), s, sample_values(s)) for s in sorted(FORMAT)]
        plain.append(matrix(o, "ts", (1, 1), MI_INT32, [99], small_data=True))
        seeds.append(mat_file(o, *plain))
        seeds.append(mat_file(o, *(compressed(o, p) for p in plain[:4]), *plain[4:6]))
    return seeds


def _savemat_seeds() -> list[bytes]:
    rng = np.random.default_rng(1)
    content = {"ts": np.sort(rng.integers(0, 10**6, 40)).reshape(-1, 1), "x": rng.integers(0, 240, 40).astype(np.uint8)}
    content |= {"f": rng.normal(size=(3, 4)).astype(np.float32), "note": "text"}
    seeds = []
    for compress in (False, True):
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, content, do_compression=compress)
        seeds.append(buffer.getvalue())
    return seeds


EDGE_WORDS = (0, 1, 7, 8, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF8, 0xFFFFFFFF, MAX_VARIABLE_BYTES, MAX_VARIABLE_BYTES + 1)


def _top_level(data: bytes) -> list[tuple[int, int]]:
    """(tag position, element length) of each top-level element of a valid little-endian seed (the test's own walk)."""
    out, pos = [], 128
    while pos < len(data):
        size = struct.unpack_from("<I", data, pos + 4)[0]
        out.append((pos, 8 + size))
        pos += 8 + size
    return out


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to four (mostly one) random mutations of ``data`` and their names."""
    buf, done = bytearray(data), []
    for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
        kind = rng.choice(["flip", "byte", "truncate", "insert", "delete", "length", "small", "inner"])
        at = rng.randrange(len(buf)) if buf else 0
        aligned = 128 + 4 * rng.randrange(max((len(buf) - 128) // 4, 1))
        if kind == "flip" and buf:
            buf[at] ^= 1 << rng.randrange(8)
        elif kind == "byte" and buf:
            buf[at] = rng.randrange(256)
        elif kind == "truncate":
            del buf[rng.randrange(len(buf) + 1) :]
        elif kind == "insert":
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif kind == "delete":
            del buf[at : at + rng.randint(1, 16)]
        elif kind == "length" and aligned + 4 <= len(buf):  # a byte count (or any word) set to an edge or huge value
            word = rng.choice([*EDGE_WORDS, len(buf), rng.getrandbits(32)])
            buf[aligned : aligned + 4] = struct.pack(rng.choice("<>") + "I", word)
        elif kind == "small" and aligned + 4 <= len(buf):  # a small-element word with a random count
            buf[aligned : aligned + 4] = struct.pack("<HH", rng.choice([1, 2, 5, 6, 9, 14, 15]), rng.randrange(65536))
        elif kind == "inner" and buf[126:128] == b"IM":  # mutate inside a compressed element, then recompress
            try:
                elements = [(p, n) for p, n in _top_level(bytes(buf)) if buf[p] == MI_COMPRESSED]
                p, n = rng.choice(elements)
                inner = bytearray(zlib.decompress(bytes(buf[p + 8 : p + n])))
            except (IndexError, struct.error, zlib.error):
                continue  # an earlier mutation broke the walk: leave it
            for _ in range(rng.randint(1, 3)):
                spot = rng.randrange(len(inner))
                if rng.random() < 0.5:
                    inner[spot] = rng.randrange(256)
                else:
                    spot -= spot % 4
                    inner[spot : spot + 4] = struct.pack("<I", rng.choice([*EDGE_WORDS, rng.getrandbits(32)]))
            packed = zlib.compress(bytes(inner))
            buf[p : p + n] = struct.pack("<II", MI_COMPRESSED, len(packed)) + packed
        else:
            continue
        done.append(kind)
    return bytes(buf), "+".join(done) or "none"


def check_outcome(data: bytes, seed: bytes, original: dict[str, np.ndarray]) -> str:
    """'refused' (MatError on opening), 'partly' (some variables refused) or 'read'; any other exception fails.

    A variable that is read must have its header's shape and a native numeric
    dtype; one whose bytes (and byte order) are those of the seed must hold the
    seed's values.
    """
    try:
        mat = Mat5(data)
    except MatError:
        return "refused"
    seed_mat = Mat5(seed)
    outcome = "read"
    for name, (is_compressed, start, end) in mat.variables.items():
        try:
            array = mat.array(name)
        except MatError:
            outcome = "partly"
            continue
        assert isinstance(array, np.ndarray) and array.shape == mat.header(name).dims
        assert array.dtype.kind in "iuf" and array.dtype.isnative
        assert mat.values(name).shape == array.shape
        if name in seed_mat.variables and mat.order == seed_mat.order:
            was_compressed, was_start, was_end = seed_mat.variables[name]
            if is_compressed == was_compressed and data[start:end] == seed[was_start:was_end]:
                assert array.dtype == original[name].dtype and np.array_equal(array, original[name], equal_nan=True)
    return outcome


def run_fuzz(seeds: list[bytes], cases: int, seed: int) -> collections.Counter:
    rng = random.Random(seed)
    originals = [read_all(s) for s in seeds]
    counts: collections.Counter = collections.Counter()
    for case in range(cases):
        which = case % len(seeds)
        data, how = mutate(seeds[which], rng)
        try:
            counts[check_outcome(data, seeds[which], originals[which])] += 1
        except Exception as exc:  # report which mutated file broke the reader
            kind = type(exc).__name__
            raise AssertionError(f"case {case} (seed file {which}, mutations {how}): {kind}: {exc}") from exc
    return counts


def test_fuzz_small_files() -> None:
    counts = run_fuzz(_hand_built_seeds() + _savemat_seeds(), cases=4000, seed=19)
    assert sum(counts.values()) == 4000
    assert counts["refused"] >= 400 and counts["read"] >= 400 and counts["partly"] >= 100, counts


def _real_record(shared_data: Path) -> bytes:
    return (shared_data / "cwru" / "0HP" / "105.mat").read_bytes()


def test_fuzz_real_record(shared_data) -> None:
    seed = _real_record(shared_data)
    assert read_all(seed)["X105_DE_time"].shape == (121265, 1)
    counts = run_fuzz([seed], cases=300, seed=4)
    assert counts["refused"] >= 30 and counts["read"] + counts["partly"] >= 30, counts


@pytest.mark.slow
def test_fuzz_heavier(shared_data) -> None:
    record = _real_record(shared_data)
    head = struct.unpack_from("<I", record, 132)[0] + 8
    recompressed = record[:128] + compressed("<", record[128 : 128 + head]) + compressed("<", record[128 + head :])
    counts = run_fuzz(_hand_built_seeds() + _savemat_seeds(), cases=40_000, seed=2019)
    counts += run_fuzz([record, recompressed], cases=2000, seed=5)
    assert counts["refused"] and counts["read"] and counts["partly"], counts
