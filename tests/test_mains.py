"""Mains hum: the share of a recording's power in narrow lines at 50 or 60 Hz and their harmonics, against hand
computations (a periodic Hann window puts a tone that lies on a bin into that bin and its two neighbours alone) and
against scipy's periodogram."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from bpsrm.data.mains import HUM_SHARE, mains_hum

RATE = 12_000


def _tone(hz: float, seconds: float, amplitude: float = 1.0, phase: float = 0.3) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(round(seconds * RATE)) / RATE + phase)


@pytest.mark.parametrize(
    ("hz", "mains", "seconds"),
    [(60.0, 60.0, 10), (50.0, 50.0, 10), (180.0, 60.0, 10), (450.0, 50.0, 10), (600.0, 60.0, 10), (60.0, 60.0, 2)],
)
def test_a_tone_on_a_mains_line_is_all_hum(hz: float, mains: float, seconds: float) -> None:
    """600 Hz is the tenth harmonic of 60 Hz, the last counted; a 2 s recording is read in one-second segments."""
    hum = mains_hum(_tone(hz, seconds), RATE)
    assert hum is not None and hum.frequency_hz == mains and hum.share == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("hz", [55.0, 59.0, 660.0, 700.0, 1000.0 / 3 + 0.125])
def test_a_tone_beside_the_lines_is_no_hum(hz: float) -> None:
    """55 and 59 Hz lie 4 bins (1 Hz) or more from 50 and 60 Hz, a 2-pole motor's running speed at 1.7% slip;
    660 Hz is the 11th harmonic of 60 and 700 Hz the 14th of 50, past the tenth counted. A tone between bins
    (333.46 Hz) leaks into every bin, a little."""
    hum = mains_hum(_tone(hz, 10), RATE)
    assert hum is not None and hum.share < (1e-3 if hz % 0.25 else 1e-12)


def test_a_tone_at_equal_power_with_white_noise_is_half_hum() -> None:
    """By hand: the tone's power (amplitude 2: 2) all in the lines; of the noise (variance 2) the lines' 3 bins of
    each of the 10 harmonics, 30 of the 23,998 quarter-hertz bins above 0.5 Hz:
    share = (2 + 2 * 30 / 23998) / (2 + 2) = 0.500625."""
    noise = np.random.default_rng(0).normal(0, np.sqrt(2), 256 * RATE)
    hum = mains_hum(_tone(50, 256, amplitude=2.0) + noise, RATE)
    assert hum is not None and hum.frequency_hz == 50.0 and hum.share == pytest.approx(0.500625, abs=0.01)
    alone = mains_hum(noise, RATE)  # the noise's own share, 30 / 23998, pins the bins counted (not 20, not 50)
    assert alone is not None and alone.share == pytest.approx(30 / 23998, rel=0.1)


def test_only_the_band_the_model_reads_counts() -> None:
    """60 Hz and 5 kHz at equal power: half hum over the whole band, all hum in the band up to 3 kHz."""
    x = _tone(60, 10) + _tone(5000, 10)
    assert mains_hum(x, RATE).share == pytest.approx(0.5, abs=1e-9)
    assert mains_hum(x, RATE, top_hz=3000).share == pytest.approx(1.0, abs=1e-9)
    assert mains_hum(x, RATE, top_hz=650) is None  # no room for the harmonics


def test_a_long_recording_is_read_at_64_spread_segments_as_scipy_reads_them() -> None:
    """Hum in the last 64 of 640 seconds alone. The segments are spread over the whole recording, so some of them
    see it; the share equals that of scipy's periodograms (Hann, mean removed) of the same 64 four-second segments,
    taken where the module says they lie (evenly from the first sample to the last segment's start)."""
    x = np.random.default_rng(1).normal(0, 1, 640 * RATE).astype(np.float32)
    x[-64 * RATE :] += _tone(60, 64, amplitude=10.0).astype(np.float32)
    hum = mains_hum(x, RATE)
    length = 4 * RATE
    starts = np.linspace(0, x.size - length, 64).astype(np.int64)
    frequencies, power = scipy.signal.periodogram(
        np.stack([x[s : s + length] for s in starts]).astype(np.float64), RATE, window="hann", detrend="constant"
    )
    power = power.mean(0)
    lines = np.zeros(frequencies.size, dtype=bool)
    for k in range(1, 11):
        lines |= np.abs(frequencies - 60 * k) <= 1.5 * RATE / length
    band = frequencies > 0.5
    expected = power[lines & band].sum() / power[band].sum()
    assert hum is not None and hum.frequency_hz == 60.0 and 0.5 < expected
    assert hum.share == pytest.approx(expected, rel=1e-3)  # scipy's one-sided spectrum halves the Nyquist bin


def test_no_cwru_recording_holds_a_tenth_of_its_power_in_the_mains_lines(shared_data) -> None:
    """The threshold's ground: every CWRU record of the shared copy in the 6 kHz band of the 12 kHz models, the
    largest share as the module states it (6.7%, record 186 at 1 HP)."""
    from bpsrm.data.mains import CWRU_LARGEST_SHARE
    from bpsrm.data.recordings import read_recording

    shares = {}
    for path in sorted((shared_data / "cwru").glob("*HP/*.mat")):
        recording = read_recording(path)
        shares[f"{path.parent.name}/{path.name}"] = mains_hum(recording.signal, recording.sample_rate_hz, 6000).share
    assert len(shares) == 28
    assert max(shares, key=shares.__getitem__) == "1HP/186.mat"
    assert max(shares.values()) == pytest.approx(CWRU_LARGEST_SHARE, abs=0.0005) and CWRU_LARGEST_SHARE < HUM_SHARE


def test_no_answer_where_no_bins_fit_or_nothing_moves() -> None:
    assert mains_hum(_tone(60, 0.99), RATE) is None  # shorter than a second
    assert mains_hum(np.sin(np.arange(10_000)), 1_000) is None  # a band of 500 Hz
    assert mains_hum(np.full(5 * RATE, 3.0), RATE) is None  # constant: no power above 0.5 Hz
    assert 0 < HUM_SHARE < 0.5
