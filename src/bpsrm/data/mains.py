"""Mains hum in a recording: the share of its power in narrow lines at 50 or 60 Hz and their harmonics.

A sensor cable that picks up the mains (a ground loop, an unshielded run beside a power cable) adds lines at the
mains frequency ``f0`` and its multiples. With ``P(f)`` the power spectrum of the recording (the mean of the
periodograms of up to :data:`SEGMENTS` segments of ``n`` samples spread evenly over it, each less its mean and
under a periodic Hann window; ``n`` about :data:`SEGMENT_SECONDS` seconds, or one second for a shorter recording,
so bins of ``rate / n``, about 0.25 Hz), its share at ``f0`` in the band a model reads, up to ``top``, is

    share(f0) = sum_{k = 1 .. 10} sum_{|f - k f0| <= 1.5 rate / n, f <= top} P(f)  /  sum_{0.5 Hz < f <= top} P(f).

Lines that narrow (a Hann window puts a tone into its bin and the two beside it) leave out a 2-pole motor's
running speed at 2% slip (58.8 Hz at 60 Hz), but not a lightly loaded one's (59.7 Hz): its vibration at 1x
counts as hum (its 2x, 0.6 Hz from 120 Hz, no longer does), and the warning says so.

Among the CWRU recordings (0-2 HP, every record of the shared copy, each in the 6 kHz band of the 12 kHz models)
the largest share is 6.7%, nearly all of it at 360 Hz (record 186, 1 HP), the sixth harmonic of their 60 Hz mains.
:data:`HUM_SHARE` lies above that. Hum matters below it too: 60 Hz added to the CWRU record 118 (ball fault, 0
HP) at 0.3 of its RMS, a share of 8.5%, made every window unknown for one of the three cross-load models (seed 0);
a share above :data:`HUM_SHARE` is worth a word, and one below it is no all-clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAINS_HZ = (50.0, 60.0)
HARMONICS = 10
LINE_BINS = 1.5
"""A line's half-width in bins: a Hann window spreads a tone on a bin over that bin and the two beside it, and one
between bins a little wider; the mains frequency drifts by a tenth of a hertz or so."""
SEGMENT_SECONDS = 4.0
SEGMENTS = 64
"""Segments averaged at most: enough for a steady spectrum, few enough that an hour's recording costs no more
than a few minutes'."""
CWRU_LARGEST_SHARE = 0.0665
"""The largest share among the CWRU recordings (module docstring): what a running machine's recording held there."""
HUM_SHARE = 0.1
"""The share above which a recording's mains lines are worth a word: above :data:`CWRU_LARGEST_SHARE`, the training
side (module docstring)."""


@dataclass(frozen=True)
class Hum:
    """The mains frequency of the larger share and that share (0 to 1)."""

    frequency_hz: float
    share: float


def mains_hum(signal: np.ndarray, rate_hz: float, top_hz: float | None = None) -> Hum | None:
    """The larger of ``share(50)`` and ``share(60)`` (module docstring) of a 1-D ``signal`` sampled at ``rate_hz``,
    in the band up to ``top_hz`` (default: the Nyquist frequency); None for a recording shorter than one second,
    a band below 700 Hz (no room for the harmonics), or no power in the band."""
    from scipy.fft import next_fast_len

    top = rate_hz / 2 if top_hz is None else min(top_hz, rate_hz / 2)
    seconds = SEGMENT_SECONDS if signal.size >= SEGMENT_SECONDS * rate_hz else 1.0
    length = round(seconds * rate_hz)
    if top < 700 or signal.size < length:
        return None
    length = min(next_fast_len(length, real=True), signal.size)  # a prime length's FFT would take seconds
    starts = np.unique(np.linspace(0, signal.size - length, min(SEGMENTS, signal.size // length)).astype(np.int64))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)  # periodic Hann
    power = np.zeros(length // 2 + 1)
    for start in starts:
        segment = np.asarray(signal[start : start + length], dtype=np.float64)
        power += np.abs(np.fft.rfft((segment - segment.mean()) * window)) ** 2
    frequencies = np.fft.rfftfreq(length, 1.0 / rate_hz)
    band = (frequencies > 0.5) & (frequencies <= top)
    total = float(power[band].sum())
    if not total > 0:
        return None
    half_width = LINE_BINS * rate_hz / length
    shares = []
    for f0 in MAINS_HZ:
        lines = np.zeros(frequencies.size, dtype=bool)
        for k in range(1, HARMONICS + 1):
            lines |= np.abs(frequencies - k * f0) <= half_width
        shares.append(Hum(f0, float(power[lines & band].sum()) / total))
    return max(shares, key=lambda hum: hum.share)
