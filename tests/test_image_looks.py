"""The on-disk cache of what the weather split reads of each image (bpsrm.data.image_looks.cached_looks): a later
process gets the split a fresh decode would give, without decoding; a changed file, a damaged cache file or another
Pillow never gives stale looks."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from bpsrm.data import image_looks
from bpsrm.data.image_looks import cached_looks, looks_cache_path
from bpsrm.data.weather import Weather
from bpsrm.errors import DataError, ParameterError

CLASSES = ["cloudy", "rain", "shine", "sunrise"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Four classes of five random 12 x 20 PNG images each, plus a half-size copy of cloudy0 in cloudy: a
    near-duplicate pair, which the split must keep together. The cache is this test's own, and the process's
    memory of looks starts empty, as in a new process."""
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(image_looks, "_LOOKS", {})
    monkeypatch.setattr(image_looks, "_GROUPS", {})
    rng = np.random.default_rng(0)
    root = tmp_path / "mwd"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for k in range(5):
            pixels = np.repeat(np.repeat(rng.integers(0, 256, (6, 10, 3), dtype=np.uint8), 2, 0), 2, 1)
            Image.fromarray(pixels).save(root / name / f"{name}{k}.png")
    with Image.open(root / "cloudy" / "cloudy0.png") as image:
        image.resize((10, 6), Image.Resampling.BOX).save(root / "cloudy" / "small.png")
    return root


def split(root: Path, **options: object) -> tuple[list[str], list[str], list[int]]:
    """Each split's file names, groups and labels, train then test."""
    names, groups, labels = [], [], []
    for which in ("train", "test"):
        ds = Weather(which, root=root, image_size=8, **options)
        names += [f"{p.parent.name}/{p.name}" for p in ds.files]
        groups += ds.groups
        labels += ds.targets
    return names, groups, labels


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, decoding an image fails the test."""

    def refuse(data: bytes, where: str) -> None:
        raise AssertionError(f"{where} was decoded")

    monkeypatch.setattr(image_looks, "open_image", refuse)


def forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's memory of looks and groups emptied: the next build reads the disk, as a new process would."""
    monkeypatch.setattr(image_looks, "_LOOKS", {})
    monkeypatch.setattr(image_looks, "_GROUPS", {})


def decoded_digest(path: Path) -> str:
    """sha256 of the decoded RGB pixels with the size, computed here from Pillow directly."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        return hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "looks").glob("*.npz"))


def test_a_new_process_builds_the_same_split_from_the_cache_without_decoding(folder, tmp_path, monkeypatch):
    names, groups, labels = split(folder)
    assert len(names) == 21 and len(cache_files(tmp_path)) == 1
    # the near copy and its original share a group, and no other file does
    together = groups[names.index("cloudy/small.png")]
    assert [n for n, g in zip(names, groups, strict=True) if g == together] in (
        ["cloudy/cloudy0.png", "cloudy/small.png"],
        ["cloudy/small.png", "cloudy/cloudy0.png"],
    )
    assert len(set(groups)) == 20
    forget(monkeypatch)
    no_decoding(monkeypatch)
    assert split(folder) == (names, groups, labels)


def test_the_cached_looks_are_the_decoded_pixels(folder, monkeypatch):
    files = sorted(folder.rglob("*.png"))
    contents = [(p.read_bytes(), str(p)) for p in files]
    cached_looks(contents)
    forget(monkeypatch)
    no_decoding(monkeypatch)
    looks = cached_looks(contents)
    for path, look in zip(files, looks, strict=True):
        assert look.digest == decoded_digest(path)
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L").resize((16, 16), Image.Resampling.BOX)).reshape(-1)
        np.testing.assert_array_equal(look.grey, grey)
        assert look.colour.dtype == np.uint8 and look.colour.shape == (32 * 32 * 3,)


def test_a_changed_file_is_decoded_again(folder, monkeypatch):
    split(folder)
    forget(monkeypatch)
    path = folder / "rain" / "rain2.png"
    Image.fromarray(np.full((12, 20, 3), 7, np.uint8)).save(path)
    decoded: list[str] = []
    original = image_looks.open_image

    def counting(data: bytes, where: str):  # type: ignore[no-untyped-def]
        decoded.append(where)
        return original(data, where)

    monkeypatch.setattr(image_looks, "open_image", counting)
    Weather("train", root=folder)
    assert len(decoded) == 21  # the listing changed: the whole list is looked at again
    assert image_looks._LOOKS[hashlib.sha256(path.read_bytes()).hexdigest()].digest == decoded_digest(path)


def test_an_undecodable_file_added_after_the_cache_was_written_is_named(folder):
    split(folder)
    (folder / "shine" / "cut.png").write_bytes((folder / "shine" / "shine0.png").read_bytes()[:40])
    with pytest.raises(DataError, match=r"cut\.png"):
        Weather("train", root=folder)


def rewrite(path: Path, **changes: object) -> None:
    """The cache file at ``path`` written again with some arrays changed (or removed, for the value None)."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)  # type: ignore[arg-type]


def damage_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    path.write_bytes(bytes(data))


DAMAGES = {
    "garbage": lambda p: p.write_bytes(b"not a zip at all"),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "bytes zeroed": damage_bytes,
    "an array missing": lambda p: rewrite(p, grey=None),
    "another Pillow": lambda p: rewrite(p, pillow=np.array("0.0.1")),
    "another format": lambda p: rewrite(p, format=np.array(99)),
    "a digest not hex": lambda p: rewrite(p, digests=np.array(["z" * 64] * 21)),
    "thumbnails of another size": lambda p: rewrite(p, colour=np.zeros((21, 16 * 16 * 3), np.uint8)),
    "thumbnails of another type": lambda p: rewrite(p, grey=np.zeros((21, 16 * 16), np.float32)),
    "other files": lambda p: rewrite(p, contents=np.array(["0" * 64] * 21)),
}


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_cache_file_is_named_and_the_images_decoded_again(folder, tmp_path, monkeypatch, damage):
    names, groups, labels = split(folder)
    (cache,) = cache_files(tmp_path)
    DAMAGES[damage](cache)
    forget(monkeypatch)
    with pytest.warns(UserWarning, match=r"image look cache .*images-.*\.npz is damaged"):
        assert split(folder) == (names, groups, labels)
    forget(monkeypatch)
    no_decoding(monkeypatch)  # the file was written again, whole
    assert split(folder) == (names, groups, labels)


def test_a_cache_that_cannot_be_written_leaves_the_looks_in_memory(folder, tmp_path, monkeypatch):
    names, groups, labels = split(folder, cache=False)
    (tmp_path / "file").write_text("a file where the cache folder would be")
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "file" / "cache"))
    forget(monkeypatch)
    with pytest.warns(UserWarning, match="cannot write the image look cache"):
        assert split(folder) == (names, groups, labels)


def test_without_cache_nothing_is_written_or_read(folder, tmp_path, monkeypatch):
    first = split(folder, cache=False)
    assert cache_files(tmp_path) == []
    split(folder)
    forget(monkeypatch)
    no_decoding(monkeypatch)
    with pytest.raises(DataError, match="was decoded"):
        split(folder, cache=False)
    assert split(folder) == first


def test_the_cache_option_must_be_a_boolean(folder):
    with pytest.raises(ParameterError, match="weather: cache"):
        Weather("train", root=folder, cache="no")


def test_the_file_is_named_by_contents_order_and_pillow(monkeypatch):
    a, b = "a" * 64, "b" * 64
    paths = [looks_cache_path([a, b]), looks_cache_path([b, a]), looks_cache_path([a])]
    assert len(set(paths)) == 3
    assert looks_cache_path([a, b]) == looks_cache_path([a, b])
    assert looks_cache_path([a]).parent.name == "looks"
    before = looks_cache_path([a, b])
    monkeypatch.setattr(PIL, "__version__", "0.0.1")
    assert looks_cache_path([a, b]) != before


def test_the_cache_file_is_a_plain_npz_without_pickles(folder, tmp_path):
    split(folder)
    (cache,) = cache_files(tmp_path)
    with zipfile.ZipFile(cache) as archive:
        assert sorted(archive.namelist()) == sorted(
            f"{name}.npy" for name in ("format", "pillow", "contents", "digests", "colour", "grey")
        )
        for name in archive.namelist():
            array = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
            assert array.dtype != object


def test_no_files_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    assert cached_looks([]) == []
    assert not (tmp_path / "cache").exists()
