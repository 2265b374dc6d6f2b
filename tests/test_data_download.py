"""Verified downloads (fake opener, no network) and safe extraction of archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile

import pytest

from bpsrm.data import extract, fetch
from bpsrm.data.fashion_mnist import CONTENT_SHA256, download_fashion_mnist
from bpsrm.errors import ChecksumError, DataError

PAYLOAD = b"spikes " * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class FakeResponse(io.BytesIO):
    """What urlopen returns, with a Content-Length header; can break after some bytes."""

    def __init__(self, data: bytes, break_after: int | None = None) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}
        self.break_after = break_after

    def read(self, size: int = -1) -> bytes:
        if self.break_after is not None and self.tell() >= self.break_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(size, 100) if size and size > 0 else size)


def test_fetch_verifies_and_moves_atomically(tmp_path) -> None:
    calls = []
    dest = tmp_path / "cache" / "file.bin"
    fetch(
        "https://example.org/file.bin",
        dest,
        DIGEST,
        opener=lambda u: calls.append(u) or FakeResponse(PAYLOAD),
        progress=False,
    )
    assert dest.read_bytes() == PAYLOAD
    assert calls == ["https://example.org/file.bin"]
    fetch(
        "https://example.org/file.bin",
        dest,
        DIGEST,
        opener=lambda u: calls.append(u) or FakeResponse(b""),
        progress=False,
    )
    assert len(calls) == 1, "a verified file already in place is not downloaded again"
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_sha256_mismatch_keeps_nothing(tmp_path) -> None:
    dest = tmp_path / "file.bin"
    with pytest.raises(ChecksumError) as info:
        fetch("https://example.org/file.bin", dest, "0" * 64, opener=lambda u: FakeResponse(PAYLOAD), progress=False)
    assert "https://example.org/file.bin" in str(info.value) and DIGEST in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_no_partial_file(tmp_path) -> None:
    dest = tmp_path / "file.bin"
    with pytest.raises(ConnectionResetError):
        fetch("https://example.org/f", dest, DIGEST, opener=lambda u: FakeResponse(PAYLOAD, 500), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_only_https(tmp_path) -> None:
    for url in ("http://example.org/f", "ftp://example.org/f", "file:///etc/passwd"):
        with pytest.raises(DataError, match="only https:// URLs"):
            fetch(url, tmp_path / "f", DIGEST, opener=lambda u: FakeResponse(PAYLOAD), progress=False)


def test_fashion_mnist_download_checks_decompressed_content(tmp_path, shared_data) -> None:
    """The real (Debian-recompressed) files pass the content check; a tampered one does not."""
    served = {}
    for stem in CONTENT_SHA256:
        served[stem] = (shared_data / "fashion-mnist" / f"{stem}.gz").read_bytes()
    folder = download_fashion_mnist(
        tmp_path / "fm", opener=lambda url: FakeResponse(served[url.rsplit("/", 1)[1][:-3]])
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.gz" for s in CONTENT_SHA256)

    raw = bytearray(gzip.decompress(served["t10k-labels-idx1-ubyte"]))
    raw[100] = (raw[100] + 1) % 10
    served["t10k-labels-idx1-ubyte"] = gzip.compress(bytes(raw))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte"):
        download_fashion_mnist(tmp_path / "fm2", opener=lambda url: FakeResponse(served[url.rsplit("/", 1)[1][:-3]]))
    assert not (tmp_path / "fm2" / "t10k-labels-idx1-ubyte.gz").exists()


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")


def _tar(path, members):
    with tarfile.open(path, "w") as tf:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = 1
                tf.addfile(info, io.BytesIO(b"x"))


def test_extract_good_archives(tmp_path) -> None:
    _zip(tmp_path / "a.zip", ["d/one.txt", "two.txt"])
    assert sorted(p.name for p in extract(tmp_path / "a.zip", tmp_path / "out")) == ["one.txt", "two.txt"]
    _tar(tmp_path / "a.tar", [("d/three.txt", "file")])
    assert [p.name for p in extract(tmp_path / "a.tar", tmp_path / "out2")] == ["three.txt"]


@pytest.mark.parametrize(
    ("member", "fragment"), [("../evil.txt", "climbs out"), ("/abs/evil.txt", "absolute path"), ("a/../../e", "climbs")]
)
def test_extract_refuses_escaping_members(tmp_path, member, fragment) -> None:
    _zip(tmp_path / "bad.zip", ["ok.txt", member])
    _tar(tmp_path / "bad.tar", [("ok.txt", "file"), (member, "file")])
    for archive in ("bad.zip", "bad.tar"):
        with pytest.raises(DataError) as info:
            extract(tmp_path / archive, tmp_path / "out")
        assert fragment in str(info.value) and archive in str(info.value)
        assert not (tmp_path / "out" / "ok.txt").exists(), "nothing is written when one member is bad"
    assert not (tmp_path / "evil.txt").exists()


def test_extract_refuses_links_and_non_archives(tmp_path) -> None:
    _tar(tmp_path / "link.tar", [("link", "sym")])
    with pytest.raises(DataError, match="is a link"):
        extract(tmp_path / "link.tar", tmp_path / "out")
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(DataError, match="not a zip or tar archive"):
        extract(tmp_path / "plain.txt", tmp_path / "out")


def test_cwru_download_verifies_each_record(tmp_path, shared_data, monkeypatch) -> None:
    """Records come over a fake connection; the real files match their official sha256 ...
    except that the shared copies dropped the fan-end channels, so serving them must fail the check."""
    from bpsrm.data.cwru import CWRU_SHA256, download_cwru

    assert len(CWRU_SHA256) == 28
    served = (shared_data / "cwru" / "0HP" / "105.mat").read_bytes()
    with pytest.raises(ChecksumError, match=r"105\.mat"):
        download_cwru([105], tmp_path / "c", opener=lambda url: FakeResponse(served))
    assert not (tmp_path / "c" / "0HP" / "105.mat").exists()
    monkeypatch.setitem(CWRU_SHA256, 105, hashlib.sha256(served).hexdigest())
    folder = download_cwru([105], tmp_path / "c", opener=lambda url: FakeResponse(served))
    assert (folder / "0HP" / "105.mat").read_bytes() == served
    from bpsrm.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match=r"no verified sha256 is known for records \[100\]"):
        download_cwru([100], tmp_path / "c")
