"""Training-time augmentation: flips and shifts against hand-made expectations; the config switch."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys

import pytest
import torch

from bpsrm.errors import BpsrmError, ConfigError, ParameterError, ShapeError
from bpsrm.network.augment import augment_images, drop_events, random_warp


def test_no_option_is_the_identity() -> None:
    x = torch.rand(3, 2, 5, 6)
    assert torch.equal(augment_images(x), x)


def test_flips_mirror_about_half_of_the_images() -> None:
    torch.manual_seed(0)
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3).repeat(200, 1, 1, 1)
    y = augment_images(x, hflip=True)
    flipped = [bool(torch.equal(y[i], x[i].flip(-1))) for i in range(len(x))]
    kept = [bool(torch.equal(y[i], x[i])) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 150 < sum(flipped) < 250  # 400 images, p = 1/2


def test_shifts_translate_with_zero_fill() -> None:
    torch.manual_seed(1)
    x = torch.zeros(500, 1, 7, 7)
    x[:, 0, 3, 3] = 1.0  # one bright pixel in the middle
    y = augment_images(x, shift=2)
    positions = [tuple(torch.nonzero(y[i, 0])[0].tolist()) for i in range(len(y))]
    assert all(torch.count_nonzero(y[i]) == 1 for i in range(len(y)))  # moved, never lost (|shift| <= 2 < 3)
    moves = {(r - 3, c - 3) for r, c in positions}
    assert moves == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # every offset occurs
    edge = torch.zeros(1, 1, 3, 3)
    edge[0, 0, 0, 0] = 5.0
    torch.manual_seed(2)
    shifted = torch.stack([augment_images(edge, shift=1)[0] for _ in range(50)])
    assert set(shifted.sum((1, 2, 3)).tolist()) <= {0.0, 5.0}  # pushed out, or kept: zeros come in


def test_errors() -> None:
    with pytest.raises(
        ShapeError, match=r"expects images \[B, C, H, W\] or event frames \[B, T, C, H, W\], got shape \(2, 3\)"
    ):
        augment_images(torch.zeros(2, 3), hflip=True)


def test_augmenting_non_images_is_a_config_error(tmp_path) -> None:
    from bpsrm.engine.config import AugmentConfig, config_from_dict
    from bpsrm.engine.trainer import train

    config = config_from_dict(
        {
            "data": {"name": "fashion-mnist-demo", "limit_train": 100, "augment": {"hflip": True}},
            "model": {"spec": "FC8-SRM-FC10", "time_steps": 2},
            "train": {"epochs": 1},
            "log": {"progress": False, "plots": False},
        }
    )
    train(config, tmp_path / "ok", log=lambda _: None)  # [1, 28, 28] images: fine
    warped = dataclasses.replace(
        config, data=dataclasses.replace(config.data, augment=AugmentConfig(rotate=10.0, scale=0.1))
    )
    train(warped, tmp_path / "warped", log=lambda _: None)
    with pytest.raises(ConfigError, match=r"data\.augment\.rotate: expected in \[0, 180\] degrees"):
        config_from_dict({"data": {"augment": {"rotate": 181}}})
    with pytest.raises(ConfigError, match=r"data\.augment\.scale: expected in \[0, 1\)"):
        config_from_dict({"data": {"augment": {"scale": -0.1}}})
    with pytest.raises(ConfigError, match=r"data\.augment\.shift: expected in \[0, 16384\] pixels"):
        config_from_dict({"data": {"augment": {"shift": -1}}})
    with pytest.raises(ConfigError, match=r"data\.augment\.drop: expected in \[0, 1\)"):
        config_from_dict({"data": {"augment": {"drop": 1.0}}})
    drop = config_from_dict(
        {
            "data": {"name": "fashion-mnist-demo", "limit_train": 100, "augment": {"drop": 0.1}},
            "model": {"spec": "FC8-SRM-FC10", "time_steps": 2},
            "log": {"progress": False, "plots": False},
        }
    )
    with pytest.raises(ConfigError, match=r"event drops are for event frames \[T, C, H, W\]; fashion-mnist-demo"):
        train(drop, tmp_path / "drop", log=lambda _: None)


@pytest.mark.parametrize("augment", [{"hflip": True}, {"shift": 2}, {"rotate": 10.0}, {"scale": 0.1}])
def test_moving_a_vibration_window_is_a_config_error(tmp_path, shared_data, augment) -> None:
    """CWRU's samples are 1-D windows [1, L]: flips, shifts, rotations and scalings of images are refused
    before training, naming the dataset and the sample shape."""
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train

    config = config_from_dict(
        {
            "data": {"name": "cwru", "root": str(shared_data), "limit_train": 50, "augment": augment},
            "model": {"spec": "FC8-SRM-FC10", "time_steps": 2},
            "log": {"progress": False, "plots": False},
        }
    )
    message = r"data\.augment: flips, shifts, rotations and scalings are for images .*; cwru samples have shape \[1, "
    with pytest.raises(ConfigError, match=message):
        train(config, tmp_path / "run", log=lambda _: None)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_event_frames_move_as_one_recording() -> None:
    """[B, T, C, H, W]: one offset per sample, the same at every step and in both polarities."""
    torch.manual_seed(3)
    x = torch.zeros(300, 4, 2, 9, 9)
    x[:, :, :, 4, 4] = torch.arange(1.0, 9.0).reshape(4, 2)  # a distinct count per step and polarity
    y = augment_images(x, shift=3)
    for i in range(len(y)):
        where = torch.nonzero(y[i, 0, 0])
        assert len(where) == 1
        r, c = where[0].tolist()
        assert torch.equal(y[i, :, :, r, c], x[i, :, :, 4, 4])  # every step and polarity moved by the same (dy, dx)
        assert torch.count_nonzero(y[i]) == 8
    offsets = {tuple((torch.nonzero(y[i, 0, 0])[0] - 4).tolist()) for i in range(len(y))}
    assert offsets == {(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)}
    # A flip mirrors all steps and polarities of a sample or none; over 300 samples both happen.
    moved = x.roll(2, -1)
    flipped = augment_images(moved, hflip=True)
    mirrored = [bool(torch.equal(flipped[i], moved[i].flip(-1))) for i in range(len(x))]
    for i in range(len(x)):
        assert mirrored[i] or torch.equal(flipped[i], moved[i])
    assert 100 < sum(mirrored) < 200


def test_event_drops_thin_the_counts_binomially() -> None:
    """Each count n becomes Binomial(n, 1 - p): never more, whole numbers, mean n (1 - p), variance n p (1 - p)."""
    torch.manual_seed(4)
    counts = torch.tensor([0.0, 1.0, 5.0, 40.0]).repeat(20000, 1)
    kept = drop_events(counts, 0.25)
    assert torch.equal(kept, kept.round()) and (kept <= counts).all() and (kept >= 0).all()
    assert (kept[:, 0] == 0).all()
    mean, var = kept.mean(0), kept.var(0)
    for j, n in enumerate([0.0, 1.0, 5.0, 40.0]):
        standard_error = (n * 0.25 * 0.75 / len(counts)) ** 0.5  # of the mean of 20,000 Binomial(n, 0.75) draws
        assert abs(mean[j].item() - 0.75 * n) <= 5 * standard_error
        assert abs(var[j].item() - n * 0.25 * 0.75) < 0.05 * max(n * 0.1875, 0.1)
    assert drop_events(counts, 0.0) is counts
    with pytest.raises(ParameterError, match=r"p must be a number in \[0, 1\), got 1.0"):
        drop_events(counts, 1.0)


def test_a_quarter_turn_is_rot90_for_images_and_events() -> None:
    """90 degrees counter-clockwise as displayed: torch.rot90 (k = 1 over H, W), for pictures and event counts."""
    from bpsrm.network.augment import warp_events, warp_images

    torch.manual_seed(5)
    images = torch.rand(3, 2, 7, 7)
    quarter, one = torch.full((3,), 90.0), torch.ones(3)
    torch.testing.assert_close(warp_images(images, quarter, one), torch.rot90(images, 1, (-2, -1)))
    events = torch.randint(0, 5, (3, 4, 2, 6, 6)).float()
    assert torch.equal(warp_events(events, quarter, one), torch.rot90(events, 1, (-2, -1)))
    half = torch.full((3,), 180.0)
    assert torch.equal(warp_events(events, half, one), events.flip(-1).flip(-2))
    wide = torch.rand(1, 1, 4, 6)  # not square: a half turn is still both flips
    torch.testing.assert_close(warp_images(wide, half[:1], one[:1]), wide.flip(-1).flip(-2))
    torch.testing.assert_close(warp_images(wide, torch.zeros(1), one[:1]), wide)


def test_scaling_and_an_eighth_turn_by_hand() -> None:
    from bpsrm.network.augment import warp_events, warp_images

    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 3] = 8.0  # one column right of the centre (2, 2)
    doubled = warp_images(image, torch.zeros(1), torch.full((1,), 2.0))
    assert doubled[0, 0, 2, 4].item() == pytest.approx(8.0)  # (2, 4) reads (2, 2 + 2/2) = (2, 3)
    assert doubled[0, 0, 2, 3].item() == pytest.approx(4.0)  # (2, 3) reads (2, 2.5): half of it, bilinear
    # rows 1 and 3 read rows 1.5 and 2.5: half; (1, 3) reads (1.5, 2.5): a quarter; nothing else reaches it
    expected = torch.zeros(5, 5)
    expected[1:4, 3:5] = torch.tensor([[2.0, 4.0], [4.0, 8.0], [2.0, 4.0]])
    torch.testing.assert_close(doubled[0, 0], expected)
    events = torch.zeros(1, 1, 1, 5, 5)
    events[0, 0, 0, 2, 4] = 3.0  # two columns right of the centre
    turned = warp_events(events, torch.full((1,), 45.0), torch.ones(1))
    # (di, dj) = (0, 2) -> (-2 sin 45, 2 cos 45) = (-1.41, 1.41) -> row 2 - 1.41 = 0.59 -> 1, column 3.41 -> 3
    assert torch.nonzero(turned[0, 0, 0]).tolist() == [[1, 3]] and turned.sum().item() == 3.0
    gathered = torch.zeros(1, 1, 1, 5, 5)
    gathered[0, 0, 0, 2, 1:4] = torch.tensor([1.0, 2.0, 4.0])
    # halved, halves rounded up: column 1 -> 1.5 -> 2 (beside the centre's own), column 3 -> 2.5 -> 3
    half = warp_events(gathered, torch.zeros(1), torch.full((1,), 0.5))
    assert half[0, 0, 0, 2].tolist() == [0.0, 0.0, 1.0 + 2.0, 4.0, 0.0]
    out = torch.zeros(1, 1, 1, 5, 5)
    out[0, 0, 0, 0, 0] = 1.0  # a corner doubled leaves the frame: that event is lost
    assert warp_events(out, torch.zeros(1), torch.full((1,), 2.0)).sum().item() == 0.0


def test_random_warp_draws_within_its_ranges() -> None:
    """Each sample gets its own angle in [-rotate, rotate] and scale in [1 - scale, 1 + scale]: a pixel at distance
    10 from the centre lands at a distance within 10 (1 +- scale) and an angle within +-rotate, up to rounding to
    the nearest pixel (at most 0.71 pixels, so at most asin(0.71 / 8) = 5.1 degrees at the nearest it lands)."""
    from bpsrm.network.augment import random_warp

    torch.manual_seed(6)
    events = torch.zeros(400, 2, 1, 41, 41)
    events[:, :, 0, 20, 30] = 1.0  # ten columns right of the centre (20, 20), at angle 0
    moved = random_warp(events, rotate=30.0, scale=0.2)
    angles, radii = [], []
    for sample in moved:
        (row, col), *rest = torch.nonzero(sample[0, 0]).tolist()
        assert not rest and torch.equal(sample[1], sample[0])  # one place; every step moved alike
        angles.append(math.degrees(math.atan2(20 - row, col - 20)))
        radii.append(math.hypot(20 - row, col - 20))
    assert max(abs(a) for a in angles) <= 30.0 + 5.1 and max(angles) > 25 and min(angles) < -25
    assert 10 * 0.8 - 0.71 <= min(radii) < 8.5 and 11.5 < max(radii) <= 10 * 1.2 + 0.71
    x = torch.rand(2, 1, 4, 4)
    assert random_warp(x) is x
    with pytest.raises(ParameterError, match=r"scale must be a number in \[0, 1\), got 1.0"):
        random_warp(x, scale=1.0)
    with pytest.raises(ParameterError, match=r"rotate \(degrees\) must be a number in \[0, 180\], got -1.0"):
        random_warp(x, rotate=-1.0)
    with pytest.raises(ShapeError, match=r"got shape \(2, 16\)"):
        random_warp(x.reshape(2, 16), rotate=5.0)


def test_a_nan_or_infinite_event_count_is_refused_not_a_hang() -> None:
    """torch.binomial never returns for a NaN or infinite count: drop_events on a corrupted frame hung the training
    (run in a child process, so that a hang fails the test instead of stopping the suite)."""
    code = (
        "import math, torch\n"
        "from bpsrm.network.augment import drop_events\n"
        "from bpsrm.errors import NonFiniteError, ParameterError\n"
        "for bad, error in ((math.nan, NonFiniteError), (math.inf, NonFiniteError), (-1.0, ParameterError)):\n"
        "    x = torch.ones(2, 3, 2, 4, 4)\n"
        "    x[1, 2, 0, 3, 1] = bad\n"
        "    try:\n"
        "        drop_events(x, 0.5)\n"
        "    except error as exc:\n"
        "        assert f'got a count of {bad}' in str(exc), exc\n"
        "    else:\n"
        "        raise SystemExit(f'{bad} was taken')\n"
        "print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr[-2000:]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: augment_images(torch.zeros(2, 1, 8, 8), shift=2**31), "augment_images: shift must be"),
        (lambda: augment_images(torch.zeros(2, 1, 8, 8), shift=0.5), "augment_images: shift must be"),
        (lambda: augment_images(torch.zeros(2, 1, 8, 8), hflip=torch.ones(3)), "augment_images: hflip must be"),
        (lambda: augment_images(None), "augment_images expects a tensor"),
        (lambda: random_warp(None, rotate=10.0), "random_warp expects images"),
        (lambda: drop_events(torch.zeros(2, 2, dtype=torch.int64), 0.1), "a float tensor of counts"),
    ],
)
def test_augmentation_options_and_inputs_are_checked(call, message: str) -> None:
    """shift 2**31 asked torch for a padded image of 4e9 x 4e9 pixels (RuntimeError), 0.5 and True reached pad()."""
    with pytest.raises(BpsrmError, match=re.escape(message)):
        call()


def test_a_shift_past_the_image_side_is_the_translation_it_draws_with_bounded_padding() -> None:
    """y[b, c, i, j] = x[b, c, i - dy, j - dx] (0 outside) with (dy, dx) drawn from {-9..9}^2 on 3 x 4 images: the
    padding stops at one side (shift 5000 padded an N-MNIST batch to 10 GB) and the result is the definition's."""
    x = torch.arange(1.0, 1 + 6 * 2 * 3 * 4).reshape(6, 2, 3, 4)
    torch.manual_seed(3)
    drawn = (torch.randint(0, 19, (6, 2)) - 9).tolist()  # the draws augment_images makes (no flip: no other draw)
    torch.manual_seed(3)
    y = augment_images(x, shift=9)
    expected = torch.zeros_like(x)
    for b, (dy, dx) in enumerate(drawn):
        for i in range(3):
            for j in range(4):
                if 0 <= i - dy < 3 and 0 <= j - dx < 4:
                    expected[b, :, i, j] = x[b, :, i - dy, j - dx]
    assert torch.equal(y, expected)
    assert any(abs(dy) > 3 or abs(dx) > 4 for dy, dx in drawn)  # the case the bound is for is drawn


def test_the_padding_of_a_shift_stops_at_one_side(monkeypatch) -> None:
    """shift 5000 padded an N-MNIST batch [32, 10, 2, 34, 34] by 5000 on every side: 10 GB for 34 x 34 images."""
    import bpsrm.network.augment as augment

    pads: list[tuple[int, ...]] = []
    real_pad = augment.F.pad
    monkeypatch.setattr(augment.F, "pad", lambda x, pad, *a, **k: pads.append(tuple(pad)) or real_pad(x, pad, *a, **k))
    assert augment_images(torch.ones(4, 10, 2, 34, 30), shift=5000).shape == (4, 10, 2, 34, 30)
    assert pads == [(30, 30, 34, 34)]


def test_the_configs_shift_bound_is_the_functions() -> None:
    from bpsrm.engine.config import config_from_dict
    from bpsrm.network.augment import MAX_SHIFT

    assert config_from_dict({"data": {"augment": {"shift": MAX_SHIFT}}}).data.augment.shift == MAX_SHIFT
    with pytest.raises(ConfigError, match=r"data\.augment\.shift: expected in \[0, 16384\] pixels"):
        config_from_dict({"data": {"augment": {"shift": MAX_SHIFT + 1}}})
