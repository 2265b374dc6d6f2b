"""Multi-class Weather Dataset: the real copy in ../shared/data/weather and fixture folders."""

from __future__ import annotations

import hashlib
import os
import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bpsrm.data.weather import Weather
from bpsrm.errors import DataError, DataNotFoundError, ParameterError

pytestmark = pytest.mark.data

CLASSES = ["cloudy", "rain", "shine", "sunrise"]
README_COUNTS = {"cloudy": 300, "rain": 214, "shine": 253, "sunrise": 354}
S = 16


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def weather_root(shared_data: Path) -> Path:
    return shared_data / "weather"


@pytest.fixture(scope="module")
def splits(weather_root: Path) -> dict[str, Weather]:
    return {split: Weather(split, root=weather_root, image_size=S) for split in ("train", "test")}


def test_counts_match_the_readme(splits):
    train, test = splits["train"], splits["test"]
    assert len(train) + len(test) == 1121
    for name in CLASSES:
        assert train.class_counts()[name] + test.class_counts()[name] == README_COUNTS[name]
    assert train.classes == test.classes == CLASSES
    assert train.input_shape == (3, S, S)


def test_every_file_is_used_once(splits, weather_root):
    on_disk = sorted(str(p) for name in CLASSES for p in (weather_root / name).iterdir())
    used = sorted(str(p) for ds in splits.values() for p in ds.files)
    assert used == on_disk
    for ds in splits.values():
        for path, label in zip(ds.files, ds.targets, strict=True):
            assert path.parent.name == CLASSES[label]


def test_split_is_stratified(splits):
    for name in CLASSES:
        assert abs(splits["test"].class_counts()[name] - 0.2 * README_COUNTS[name]) <= 2


def pixels(path: Path) -> bytes:
    """The decoded pixels as a numpy array's bytes with its shape (independent of the reader's digest)."""
    with Image.open(path) as im:
        rgb = im.convert("RGBA").convert("RGB") if im.mode == "P" else im.convert("RGB")
        array = np.asarray(rgb)
    return repr(array.shape).encode() + array.tobytes()


def test_split_is_leak_free(splits):
    train_hashes = {sha256(p) for p in splits["train"].files}
    test_hashes = {sha256(p) for p in splits["test"].files}
    assert not train_hashes & test_hashes
    # The README's duplicate groups exist in this copy, so the check above is not vacuous.
    groups: dict[str, int] = {}
    for ds in splits.values():
        for p in ds.files:
            groups[sha256(p)] = groups.get(sha256(p), 0) + 1
    assert sum(1 for n in groups.values() if n > 1) == 21


def test_split_is_leak_free_on_decoded_pixels(splits, weather_root):
    """Files with equal pixels but other bytes (EXIF) lie on one side, for several seeds; ``groups`` names them."""
    same_pixels = [
        ("cloudy3.jpg", "cloudy115.jpg"),
        ("cloudy99.jpg", "cloudy133.jpg"),
        ("cloudy24.jpg", "cloudy110.jpg"),
    ]
    for a, b in same_pixels:
        pa, pb = weather_root / "cloudy" / a, weather_root / "cloudy" / b
        assert sha256(pa) != sha256(pb) and pixels(pa) == pixels(pb)
    digest = {p: hashlib.sha256(pixels(p)).digest() for ds in splits.values() for p in ds.files}
    for seed in (0, 1, 2, 3):
        train, test = (
            (splits[k] for k in ("train", "test"))
            if seed == 0
            else (Weather(k, root=weather_root, image_size=S, seed=seed) for k in ("train", "test"))
        )
        assert not {digest[p] for p in train.files} & {digest[p] for p in test.files}, seed
        for a, b in same_pixels:
            assert (a in {p.name for p in test.files}) == (b in {p.name for p in test.files}), (seed, a, b)
    groups_of: dict[bytes, set[str]] = {}
    files_of: dict[bytes, int] = {}
    for ds in splits.values():
        for path, group in zip(ds.files, ds.groups, strict=True):
            key = hashlib.sha256(pixels(path)).digest()
            groups_of.setdefault(key, set()).add(group)
            files_of[key] = files_of.get(key, 0) + 1
    assert all(len(g) == 1 for g in groups_of.values())  # one group per distinct picture (near-duplicates join)
    assert sum(1 for n in files_of.values() if n > 1) == 24 and sum(n for n in files_of.values() if n > 1) == 49


def _thumbnail(path: Path) -> np.ndarray:
    """The 32 x 32 colour thumbnail in [0, 1], computed here with PIL and numpy (not the reader's code)."""
    with Image.open(path) as im:
        rgb = im.convert("RGBA").convert("RGB") if im.mode == "P" else im.convert("RGB")
        return np.asarray(rgb.resize((32, 32), Image.Resampling.BOX), dtype=np.float64).reshape(-1) / 255.0


# Copies of one photo that the pixel digest does not see: resized (a, b), cropped or colour-edited (c, d, e)
NEAR_COPIES = [
    ("sunrise/sunrise14.jpg", "sunrise/sunrise60.jpg"),
    ("cloudy/cloudy135.jpg", "cloudy/cloudy101.jpg"),
    ("rain/rain147.jpg", "rain/rain28.jpg"),
    ("shine/shine114.jpg", "shine/shine20.jpg"),
    ("rain/rain146.jpg", "rain/rain36.jpg"),
]


def test_no_test_image_has_a_near_copy_in_training(splits, weather_root):
    """Resized, cropped and colour-edited copies of a photo lie on one side, for several seeds: no test image is
    within a mean absolute difference of 0.06 of a training image on 32 x 32 thumbnails (30 of 225 were within
    0.025 when only equal pixels were grouped), and the named copies share a group."""
    thumbs = {p: _thumbnail(p) for ds in splits.values() for p in ds.files}
    for a, b in NEAR_COPIES:
        assert pixels(weather_root / a) != pixels(weather_root / b), (a, b)  # not caught by the pixel digest
    for seed in (0, 1, 2):
        train, test = (
            (splits[k] for k in ("train", "test"))
            if seed == 0
            else (Weather(k, root=weather_root, image_size=S, seed=seed) for k in ("train", "test"))
        )
        seen = np.stack([thumbs[p] for p in train.files])
        nearest = min(float(np.abs(seen - thumbs[p]).mean(axis=1).min()) for p in test.files)
        assert nearest >= 0.06, (seed, nearest)
        tested = {f"{p.parent.name}/{p.name}" for p in test.files}
        for a, b in NEAR_COPIES:
            assert (a in tested) == (b in tested), (seed, a, b)
    group = {f"{p.parent.name}/{p.name}": g for ds in splits.values() for p, g in zip(ds.files, ds.groups, strict=True)}
    assert all(group[a] == group[b] for a, b in NEAR_COPIES)
    assert len(set(group.values())) < len({pixels(weather_root / name) for name in group})  # groups join pictures


def test_the_earlier_pixel_grouping_is_kept_and_its_leak_is_the_one_the_readme_gives(splits, weather_root):
    """grouping: pixels reproduces the split of the runs made before 2026-12-05: its groups are the pixel digests,
    and 30 of its 225 test images have a training image within 0.025 on 32 x 32 thumbnails (the README's count)."""
    train, test = (Weather(k, root=weather_root, image_size=S, grouping="pixels") for k in ("train", "test"))
    # The sha256 of the sorted test-file names ("class/file", one per line) that bpsrm at 6fad6ae (before the
    # regrouping) gave for seeds 0 and 1, computed with that checkout's reader
    earlier = {
        0: "61cc70e9272e517c33bd9e7e245dda08ceb08f7e79ce7b0fc94122d1d3dd6298",
        1: "361fccbf69210d27eda726ba3bdf144b7d056344277a0d0e800717980d27ca5f",
    }
    for seed, digest in earlier.items():
        split = test if seed == 0 else Weather("test", root=weather_root, image_size=S, grouping="pixels", seed=seed)
        names = sorted(f"{p.parent.name}/{p.name}" for p in split.files)
        assert hashlib.sha256("\n".join(names).encode()).hexdigest() == digest, seed
    assert len(test) == 225 and set(train.groups) | set(test.groups) == {
        hashlib.sha256(f"{w}x{h}:".encode() + data).hexdigest()
        for w, h, data in (_rgb(p) for ds in (train, test) for p in ds.files)
    }
    seen = np.stack([_thumbnail(p) for p in train.files])
    nearest = [float(np.abs(seen - _thumbnail(p)).mean(axis=1).min()) for p in test.files]
    assert sum(d < 0.025 for d in nearest) == 30 and sum(d < 0.05 for d in nearest) == 35
    with pytest.raises(ParameterError, match=r"grouping must be one of 'near', 'pixels', got 'bytes'"):
        Weather("train", root=weather_root, grouping="bytes")


def test_runs_of_the_earlier_grouping_are_not_read_as_runs_of_the_current_config(tmp_path):
    """--reuse and scripts/final_runs.py decide by finished_metrics: a weather run made before the regrouping
    (its config.yaml has no data.options.grouping) is another config's run, not a result of today's split."""
    from bpsrm.engine.config import load_config
    from bpsrm.engine.resume import finished_metrics
    from bpsrm.errors import ConfigError
    from conftest import REPO

    earlier = tmp_path / "seed0"
    earlier.mkdir()
    for name in ("config.yaml", "metrics.json"):  # of results/weather/seed0 as it was before the regrouping
        (earlier / name).write_bytes((REPO / "tests" / "fixtures" / "weather-pixel-groups-run" / name).read_bytes())
    config = load_config(REPO / "configs" / "weather.yaml", ["data.root=../shared/data"])
    with pytest.raises(ConfigError, match=r"data\.options\.grouping: None there, 'near' now"):
        finished_metrics(earlier, config)


def _rgb(path: Path) -> tuple[int, int, bytes]:
    with Image.open(path) as im:
        rgb = im.convert("RGBA").convert("RGB") if im.mode == "P" else im.convert("RGB")
        return rgb.width, rgb.height, rgb.tobytes()


def test_near_duplicate_groups_by_hand():
    """A smooth picture, its copy at another size, a colour-edited copy (only the colours moved: the grey
    correlation stays 1) and an unrelated picture: the first three form one group named by its smallest digest."""
    import io

    from bpsrm.data.weather import look_at, near_duplicate_groups

    rows, cols = np.mgrid[0:96, 0:128]
    picture = np.stack([rows * 2, cols * 2, (rows + cols)], axis=-1).clip(0, 255).astype(np.uint8)
    edited = (picture.astype(np.float64) * [0.6, 0.6, 0.6] + 60).astype(np.uint8)  # darker, less contrast
    other = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)

    def png(array: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
        image = Image.fromarray(array)
        buffer = io.BytesIO()
        (image.resize(size, Image.Resampling.LANCZOS) if size else image).save(buffer, format="PNG")
        return buffer.getvalue()

    looks = [
        look_at(data, str(i)) for i, data in enumerate([png(picture), png(picture, (64, 48)), png(edited), png(other)])
    ]
    colour = [look.colour.astype(np.float64) / 255 for look in looks]
    assert np.abs(colour[0] - colour[2]).mean() > 0.06  # the edit is not near by the mean difference ...
    groups = near_duplicate_groups(looks)
    assert groups[0] == groups[1] == groups[2] == min(look.digest for look in looks[:3])  # ... but by correlation
    assert groups[3] == looks[3].digest


def test_near_in_colour_is_decided_on_the_full_thumbnails_not_their_block_sums():
    """Copies that differ by +-d in a checkerboard have equal 4 x 4 block sums (the bound that picks the pairs to
    compare is 0), and a mean absolute difference of d / 255: near for d = 15 (0.0588), not for d = 16 (0.0627);
    an image brighter by 16 everywhere is not near either. Grey thumbnails of noise: no correlation joins them."""
    from bpsrm.data.weather import ImageLook, near_duplicate_groups

    rng = np.random.default_rng(3)
    first, second, third = (rng.integers(20, 236, (32, 32, 3)) for _ in range(3))  # far apart (about 0.28)
    y, x = np.mgrid[0:32, 0:32]
    checker = np.where((x + y) % 2 == 0, 1, -1)[..., None]

    def look(name: str, colour: np.ndarray) -> ImageLook:
        grey = rng.integers(0, 256, 256).astype(np.uint8)
        return ImageLook(name, colour.astype(np.uint8).reshape(-1), grey)

    pairs = [(first, first + 15 * checker), (second, second + 16 * checker), (third, third + 16)]
    looks = [look(f"{i}{side}", image) for i, pair in enumerate(pairs) for side, image in zip("ab", pair, strict=True)]
    differences = [np.abs(looks[i].colour.astype(int) - looks[i + 1].colour).mean() / 255 for i in (0, 2, 4)]
    assert differences[0] < 0.06 < min(differences[1:])
    assert near_duplicate_groups(looks) == ["0a", "0a", "1a", "1b", "2a", "2b"]


@pytest.mark.parametrize(
    ("bases", "amplitudes"),
    [(30, None), (1, [6] * 5 + [36] * 35)],  # 10 copies each, 8 to 30 at random / one photo, 40 copies
    ids=["spread", "one-photo"],
)
def test_near_duplicate_groups_equal_a_brute_force_count(bases, amplitudes):
    """Copies of random thumbnails with uniform noise of up to ``amplitude`` (copies differ by about two thirds of
    it on average, the threshold is 15.3), grey thumbnails of their own noise: the groups are the connected
    components of the pairs counted here in full, in numpy integers: the sum of absolute differences below
    0.06 * 255 * 3072, or a grey correlation above 0.98. Both ways through the search: blocks with few candidates
    (compared one by one), and a block of copies of one photo whose 4 x 4 block sums are all close (compared at
    once), where only 5 of the 40 are near each other."""
    from bpsrm.data.weather import ImageLook, near_duplicate_groups

    rng = np.random.default_rng(bases)
    colour, grey = [], []
    for _ in range(bases):
        base = rng.integers(0, 256, 3072)
        for amplitude in amplitudes or rng.integers(8, 31, 10).tolist():
            colour.append(np.clip(base + rng.integers(-amplitude, amplitude + 1, 3072), 0, 255).astype(np.uint8))
            grey.append(rng.integers(0, 256, 256).astype(np.uint8))
    looks = [ImageLook(f"{i:04d}", c, g) for i, (c, g) in enumerate(zip(colour, grey, strict=True))]
    thumbs = np.stack(colour).astype(np.int64)
    sums = np.abs(thumbs[:, None, :] - thumbs[None, :, :]).sum(-1)
    centred = np.stack(grey).astype(np.float64)
    centred -= centred.mean(1, keepdims=True)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    near = (sums < 0.06 * 255 * 3072) | (centred @ centred.T > 0.98)
    others = ~np.eye(len(looks), dtype=bool)
    assert near[others].any() and not near[others].all()  # the threshold falls among the pairs
    component = list(range(len(looks)))

    def find(i: int) -> int:
        while component[i] != i:
            i = component[i]
        return i

    for i, j in zip(*np.nonzero(near), strict=True):
        component[find(int(i))] = find(int(j))
    expected = [min(f"{k:04d}" for k in range(len(looks)) if find(k) == find(i)) for i in range(len(looks))]
    assert near_duplicate_groups(looks) == expected


def test_split_is_reproducible_and_independent_of_listing_order(splits, weather_root, monkeypatch):
    again = Weather("test", root=weather_root, image_size=S)
    assert again.files == splits["test"].files and again.targets == splits["test"].targets
    original_iterdir, original_listdir = pathlib.Path.iterdir, os.listdir
    monkeypatch.setattr(pathlib.Path, "iterdir", lambda self: iter(sorted(original_iterdir(self), reverse=True)))
    monkeypatch.setattr(os, "listdir", lambda path=".": sorted(original_listdir(path), reverse=True))
    reversed_listing = Weather("test", root=weather_root, image_size=S)
    assert reversed_listing.files == splits["test"].files


def test_seed_changes_the_split_and_keeps_its_properties(splits, weather_root):
    other = Weather("test", root=weather_root, image_size=S, seed=1)
    assert set(other.files) != set(splits["test"].files)
    other_train = Weather("train", root=weather_root, image_size=S, seed=1)
    assert not {sha256(p) for p in other.files} & {sha256(p) for p in other_train.files}
    for name in CLASSES:
        assert abs(other.class_counts()[name] - 0.2 * README_COUNTS[name]) <= 2


def find(splits, name: str) -> tuple[Weather, int]:
    for ds in splits.values():
        for i, p in enumerate(ds.files):
            if p.name == name:
                return ds, i
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "magic", "mode"),
    [("shine127.jpg", b"\x89PNG", "RGBA"), ("rain141.jpg", b"GIF8", None), ("shine131.jpg", b"GIF8", None)],
)
def test_files_that_are_not_what_their_extension_says(splits, name, magic, mode):
    ds, i = find(splits, name)
    path = ds.files[i]
    assert path.read_bytes()[:4] == magic
    if mode:
        assert Image.open(path).mode == mode
    x, label = ds[i]
    assert x.dtype == torch.float32 and x.shape == (3, S, S)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert CLASSES[label] == path.parent.name
    with Image.open(path) as im:
        rgb = im.convert("RGBA").convert("RGB") if im.mode == "P" else im.convert("RGB")
        expected = np.asarray(rgb.resize((S, S), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_all_images_decode(splits):
    for ds in splits.values():
        for i in range(len(ds)):
            x, label = ds[i]
            assert x.shape == (3, S, S) and x.dtype == torch.float32 and 0 <= label < 4
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert ds[0][0] is not ds[0][0] and torch.equal(ds[0][0], ds[0][0])  # cached, returned as a new tensor


def test_grey_and_palette_images_become_rgb(splits):
    found = {}
    for ds in splits.values():
        for i, p in enumerate(ds.files):
            with Image.open(p) as im:
                if im.mode in ("L", "P"):
                    found.setdefault(im.mode, (ds, i))
    assert set(found) == {"L", "P"}  # the README: modes RGB, L, P, RGBA
    for ds, i in found.values():
        with Image.open(ds.files[i]) as im:
            rgb = im.convert("RGBA").convert("RGB") if im.mode == "P" else im.convert("RGB")
            expected = np.asarray(rgb.resize((S, S), Image.Resampling.BILINEAR), dtype=np.float32) / 255
        np.testing.assert_allclose(ds[i][0].permute(1, 2, 0).numpy(), expected, atol=1e-6)


# ---------------------------------------------------------------- fixture folders


def isolate(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BPSRM_DATA", str(tmp_path / "data-env"))


def make_folder(root: Path, per_class: int = 5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            pixels = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}{k}.jpg", format="PNG")
    return root


def test_fixture_folder_split_and_hidden_files(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    root = make_folder(tmp_path / "mwd", per_class=10)
    (root / "rain" / ".DS_Store").write_bytes(os.urandom(100))
    (root / "MANIFEST.tsv").write_text("not an image\n")
    train = Weather("train", root=root, image_size=8)
    test = Weather("test", root=root, image_size=8)
    assert test.class_counts() == {name: 2 for name in CLASSES}
    assert len(train) == 32
    assert not any(p.name.startswith(".") for p in train.files + test.files)
    x, _ = test[0]
    assert x.shape == (3, 8, 8)


def test_found_under_its_folder_names(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    make_folder(tmp_path / "data-env" / "MWD")
    ds = Weather("train", image_size=8)
    assert ds.location == tmp_path / "data-env" / "MWD"


def test_identical_files_in_two_classes_stay_in_train(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    root = make_folder(tmp_path / "w", per_class=10)
    (root / "rain" / "copy.jpg").write_bytes((root / "cloudy" / "cloudy0.jpg").read_bytes())
    for seed in range(5):
        train = Weather("train", root=root, image_size=8, seed=seed)
        names = {(p.parent.name, p.name) for p in train.files}
        assert ("cloudy", "cloudy0.jpg") in names and ("rain", "copy.jpg") in names


def test_unreadable_image_is_named(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    root = make_folder(tmp_path / "w")
    (root / "cloudy" / "x.jpg").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(DataError, match=r"x\.jpg"):
        Weather("train", root=root, image_size=8)


def test_truncated_image_is_named_when_the_split_is_made(tmp_path, monkeypatch):
    """Every image is decoded to group equal pixels, so a damaged one is refused at once, by name."""
    isolate(monkeypatch, tmp_path)
    root = make_folder(tmp_path / "w", per_class=10)
    rng = np.random.default_rng(0)
    path = root / "shine" / "cut.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, format="JPEG")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 3 // 5])
    with pytest.raises(DataError, match=r"cut\.jpg is not an image PIL can decode"):
        Weather("train", root=root, image_size=8)


def _png_claiming(width: int, height: int) -> bytes:
    """A 1 x 1 greyscale PNG whose IHDR chunk is rewritten to claim ``width x height`` (CRC fixed): Pillow reads
    the size from the header without decoding, and would only fail (or allocate) when decoding."""
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_an_image_above_the_pixel_limit_is_refused_before_decoding():
    """Pillow decodes up to 179 Mpx (it only warns from 89 Mpx): a 1 kB file could take over 1 GB. bpsrm refuses
    more than 2**26 pixels, reading only the header, in both places that decode (the input and the duplicate
    digest); 8192 x 8192 (= 2**26 exactly) passes the size check and fails later only because it holds no data."""
    from bpsrm.data.preprocess import MAX_IMAGE_PIXELS, ImagePreprocess
    from bpsrm.data.weather import pixel_digest

    assert MAX_IMAGE_PIXELS == 8192 * 8192
    big = _png_claiming(8193, 8192)
    for decode in (ImagePreprocess(3, 8, 8).decode, pixel_digest):
        with pytest.raises(
            DataError, match=r"^huge\.png: an image of 8193 x 8192 = 67,117,056 pixels, above the 67,108,864 bpsrm"
        ):
            decode(big, "huge.png")
        with pytest.raises(DataError, match=r"^huge\.png") as info:
            decode(_png_claiming(8192, 8192), "huge.png")
        assert "67,108,864" not in str(info.value)


def test_a_jpeg_above_the_pixel_limit_is_set_to_decode_reduced():
    """A 12000 x 9000 JPEG (108 Mpx, a phone photo) is not refused: its size after Image.draft is a power-of-two
    reduction below the limit (1/2 here: 6000 x 4500), chosen from the header alone (this one holds 16 x 16
    pixels of data, so nothing is decoded)."""
    import io
    import struct

    from bpsrm.data.preprocess import open_image

    buffer = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    assert struct.unpack(">HH", data[sof + 5 : sof + 9]) == (16, 16)  # height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", 9000, 12000)
    with open_image(bytes(data), "photo.jpg") as image:
        assert image.size == (6000, 4500)


def test_empty_class_folder_is_named(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    root = make_folder(tmp_path / "w")
    for p in (root / "sunrise").iterdir():
        p.unlink()
    (root / "sunrise" / ".hidden").write_bytes(b"x")
    with pytest.raises(DataError, match=r"sunrise"):
        Weather("test", root=root, image_size=8)


def test_missing_dataset_lists_where_it_looked(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    (tmp_path / "somewhere" / "cloudy").mkdir(parents=True)  # an incomplete copy does not count
    with pytest.raises(DataNotFoundError) as info:
        Weather("train", root=tmp_path / "somewhere")
    message = str(info.value)
    for place in (tmp_path / "somewhere", tmp_path / "data-env", tmp_path / "cache", tmp_path / "cache" / "MWD"):
        assert str(place) in message
    assert "mendeley" in message.lower()


@pytest.mark.parametrize(
    ("option", "value"),
    [("image_size", 0), ("image_size", 2.5), ("test_fraction", 0.0), ("test_fraction", 1), ("seed", "a")],
)
def test_bad_options(tmp_path, monkeypatch, option, value):
    isolate(monkeypatch, tmp_path)
    with pytest.raises(ParameterError) as info:
        Weather("train", root=tmp_path, **{option: value})
    assert option in str(info.value) and repr(value) in str(info.value)


def test_bad_split(tmp_path):
    with pytest.raises(DataError, match="'validation'"):
        Weather("validation", root=tmp_path)
