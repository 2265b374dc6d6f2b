"""Mains hum: the share of a recording's power in narrow lines at 50 or 60 Hz and their harmonics, against hand
computations (a periodic Hann window puts a tone that lies on a bin into that bin and its two neighbours alone)."""

from __future__ import annotations

import numpy as np
import pytest

from bpsrm.data.mains import HUM_SHARE, mains_hum

RATE = 12_000


def _tone(hz: float, seconds: float, amplitude: float = 1.0, phase: float = 0.3) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(round(seconds * RATE)) / RATE + phase)


@pytest.mark.parametrize(("hz", "mains"), [(60.0, 60.0), (50.0, 50.0), (180.0, 60.0), (450.0, 50.0)])
def test_a_tone_on_a_mains_line_is_all_hum(hz: float, mains: float) -> None:
    hum = mains_hum(_tone(hz, 10), RATE)
    assert hum is not None and hum.frequency_hz == mains and hum.share == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("hz", [55.0, 57.0, 1000.0 / 3 + 0.5, 700.0])
def test_a_tone_beside_the_lines_is_no_hum(hz: float) -> None:
    """55 and 57 Hz lie 2 Hz or more from 50 and 60; 700 Hz is the 14th harmonic of 50, past the tenth counted.
    A tone between bins (333.83 Hz) leaks into every bin, a little."""
    hum = mains_hum(_tone(hz, 10), RATE)
    assert hum is not None and hum.share < (1e-3 if hz % 1 else 1e-12)


def test_a_tone_at_equal_power_with_white_noise_is_half_hum() -> None:
    """By hand: the tone's power (amplitude 2: 2) all in the lines; of the noise (variance 2) the lines' 3 bins of
    each of the 10 harmonics, 30 of the 6000 bins above 0.5 Hz: share = (2 + 2 * 30 / 6000) / (2 + 2) = 0.5025."""
    noise = np.random.default_rng(0).normal(0, np.sqrt(2), 64 * RATE)
    hum = mains_hum(_tone(50, 64, amplitude=2.0) + noise, RATE)
    assert hum is not None and hum.frequency_hz == 50.0 and hum.share == pytest.approx(0.5025, abs=0.01)


def test_a_long_recording_is_read_at_64_spread_seconds() -> None:
    """Hum in the last 64 of 640 seconds alone: the segments are spread over the whole recording, not its first 64
    seconds, so some of them see it."""
    x = np.random.default_rng(1).normal(0, 1, 640 * RATE).astype(np.float32)
    x[-64 * RATE :] += _tone(60, 64, amplitude=10.0).astype(np.float32)  # power 50 against 1
    hum = mains_hum(x, RATE)
    assert hum is not None and hum.frequency_hz == 60.0
    # segment i starts at i * 639 / 63 s: 7 of them (i = 57 .. 63) at 576 s or later, in the hum; the noise of all
    # 64 segments counts, 30 of its 6000 bins in the lines
    assert hum.share == pytest.approx((7 * 50 + 64 * 30 / 6000) / (7 * 50 + 64), abs=0.01)


def test_no_answer_where_no_one_hertz_bins_fit_or_nothing_moves() -> None:
    assert mains_hum(_tone(60, 0.99), RATE) is None  # shorter than a second
    assert mains_hum(np.sin(np.arange(10_000)), 1_000) is None  # below 2 kHz
    assert mains_hum(np.full(5 * RATE, 3.0), RATE) is None  # constant: no power above 0.5 Hz
    assert 0 < HUM_SHARE < 0.5
