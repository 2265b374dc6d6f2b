"""The IDX reader and Fashion-MNIST loader on the real files and on damaged ones."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsrm.data import find_fashion_mnist, load_fashion_mnist, read_idx
from bpsrm.errors import DataError

pytestmark = pytest.mark.data


def test_real_fashion_mnist_counts(shared_data) -> None:
    root = shared_data / "fashion-mnist"
    train_x, train_y = load_fashion_mnist("train", root)
    test_x, test_y = load_fashion_mnist("test", root)
    assert train_x.shape == (60_000, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (10_000, 28, 28)
    assert np.bincount(train_y).tolist() == [6000] * 10  # counts stated in shared/data/README.md
    assert np.bincount(test_y).tolist() == [1000] * 10


def test_checksums_of_the_real_files(shared_data) -> None:
    root = shared_data / "fashion-mnist"
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name


def test_raw_and_gz_read_the_same(tmp_path) -> None:
    values = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in values.shape) + values.tobytes()
    (tmp_path / "a").write_bytes(payload)
    (tmp_path / "a.gz").write_bytes(gzip.compress(payload))
    assert np.array_equal(read_idx(tmp_path / "a"), values)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), values)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"", "not an IDX file"),
        (b"\x01\x02\x08\x01", "not an IDX file (magic 01020801"),
        (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0", "value type 0x0d"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "truncated"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "declares shape (5,) (5 values) but the file holds 2"),
        (b"\x1f\x8b\x08\x00garbage", "gzip stream is damaged"),
        # sizes whose product passes 2**64: int64 wrapped it to 0, which matched the 0 values present
        (bytes([0, 0, 8, 4]) + (65536).to_bytes(4, "big") * 4, f"({2**64} values) but the file holds 0"),
        (
            gzip.compress(bytes([0, 0, 8, 4]) + (65536).to_bytes(4, "big") * 4, mtime=0),
            f"({2**64} values) but the file holds 0",
        ),
        (gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2]) + b"abc", mtime=0), "(2 values) but the file holds more than 2"),
    ],
)
def test_damaged_files_name_the_file_and_problem(tmp_path, payload, fragment) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_a_gzip_bomb_is_read_no_further_than_its_header_declares(tmp_path) -> None:
    """A 1-value header, then 256 MiB of zeros: about 250 KB gzipped. The whole stream used to be decompressed
    before the sizes were compared."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    parts = [packer.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1]))]
    parts += [packer.compress(bytes(1 << 20)) for _ in range(256)]
    path = tmp_path / "bomb.gz"
    path.write_bytes(b"".join(parts) + packer.flush())
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"declares shape \(1,\) \(1 values\) but the file holds more than 1"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak / 2**20:.0f} MiB"


def test_missing_dataset_lists_where_it_looked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BPSRM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BPSRM_CACHE", raising=False)  # unset the tests' own cache (conftest): the default is used
    with pytest.raises(DataError) as info:
        find_fashion_mnist(tmp_path / "given")
    message = str(info.value)
    for place in (tmp_path / "given", tmp_path / "env", tmp_path / "home" / ".cache" / "bpsrm"):
        assert str(place) in message
    assert "BPSRM_DATA" in message


def test_bad_split(shared_data) -> None:
    with pytest.raises(DataError, match="split must be 'train' or 'test', got 'val'"):
        load_fashion_mnist("val", shared_data / "fashion-mnist")


def test_fashion_mnist_dataset_and_registry(shared_data) -> None:
    from bpsrm.data import get_dataset

    test = get_dataset("fashion-mnist", "test", root=shared_data)
    assert len(test) == 10_000 and test.classes[9] == "Ankle boot"
    image, label = test[0]
    raw, labels = load_fashion_mnist("test", shared_data / "fashion-mnist")
    assert image.shape == (1, 28, 28) and image.dtype.is_floating_point
    assert np.allclose(image[0].numpy() * 255.0, raw[0]) and label == labels[0]
    assert test.info()["classes"]["Bag"] == 1000
    assert test.location == (shared_data / "fashion-mnist").resolve()


def test_registry_errors(shared_data) -> None:
    from bpsrm.data import get_dataset
    from bpsrm.errors import ParameterError

    with pytest.raises(ParameterError, match="unknown dataset 'mnist'"):
        get_dataset("mnist", "train")
    with pytest.raises(ParameterError, match=r"unknown options \['frames'\]; it takes no options"):
        get_dataset("fashion-mnist", "train", root=shared_data, frames=3)


HEADER = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.binary(max_size=2000).map(lambda b: HEADER + b)))
def test_fuzz_read_idx_only_raises_data_error(tmp_path_factory, payload: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.idx"
    damaged_gzip = b"\x1f\x8b\x08\x00" + bytes(6) + payload
    for data in (payload, gzip.compress(payload), b"\x1f\x8b" + payload, damaged_gzip):
        path.write_bytes(data)
        try:
            read_idx(path)
        except DataError as exc:
            assert str(path) in str(exc)
