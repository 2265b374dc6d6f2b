"""Mains hum in a recording: the share of its power in narrow lines at 50 or 60 Hz and their harmonics.

A sensor cable that picks up the mains (a ground loop, an unshielded run beside a power cable) adds lines at the
mains frequency ``f0`` and its multiples. With ``P(f)`` the power spectrum of the recording (the mean of the
periodograms of up to :data:`SEGMENTS` one-second segments spread evenly over it, each less its mean and under a
(periodic) Hann window: 1 Hz bins), its share at ``f0`` is

    share(f0) = sum_{k = 1 .. 10} sum_{|f - k f0| <= 1.5 Hz} P(f)  /  sum_{f > 0.5 Hz} P(f).

A machine's own vibration has lines there too (an induction motor vibrates at twice the line frequency, and a
4-pole motor's second shaft harmonic lies near 60 Hz): among the CWRU recordings (0-2 HP, every record of the
shared copy) the largest share is 7.5%, at 60 Hz. :data:`HUM_SHARE` lies above that. Hum matters below it too:
60 Hz added to the CWRU record 118 (ball fault, 0 HP) at 0.3 of the recording's RMS, a share of 9%, made every
window of the cross-load models unknown; so a share above :data:`HUM_SHARE` is worth a word, and one below it is no
all-clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAINS_HZ = (50.0, 60.0)
HARMONICS = 10
LINE_HALF_WIDTH_HZ = 1.5
"""A line's bins: a Hann window spreads a tone over its bin and the two beside it, and the mains frequency drifts by
a few tenths of a hertz at most."""
SEGMENTS = 64
"""Segments averaged at most: enough for a steady spectrum, few enough that an hour's recording costs no more
than a minute's."""
HUM_SHARE = 0.1
"""The share above which a recording's mains lines are worth a word: above the largest of the CWRU recordings, the
training side (module docstring)."""


@dataclass(frozen=True)
class Hum:
    """The mains frequency of the larger share and that share (0 to 1)."""

    frequency_hz: float
    share: float


def mains_hum(signal: np.ndarray, rate_hz: float) -> Hum | None:
    """The larger of ``share(50)`` and ``share(60)`` (module docstring) of a 1-D ``signal`` sampled at
    ``rate_hz``; None for a recording shorter than one second or below 2 kHz (no 1 Hz bins or no room for the
    harmonics) or without power above 0.5 Hz."""
    length = round(rate_hz)
    if rate_hz < 2000 or signal.size < length:
        return None
    starts = np.unique(np.linspace(0, signal.size - length, min(SEGMENTS, signal.size // length)).astype(np.int64))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)  # periodic Hann: a tone on a bin, in 3 bins
    power = np.zeros(length // 2 + 1)
    for start in starts:
        segment = np.asarray(signal[start : start + length], dtype=np.float64)
        power += np.abs(np.fft.rfft((segment - segment.mean()) * window)) ** 2
    frequencies = np.fft.rfftfreq(length, 1.0 / rate_hz)
    total = float(power[frequencies > 0.5].sum())
    if not total > 0:
        return None
    shares = []
    for f0 in MAINS_HZ:
        lines = np.zeros(frequencies.size, dtype=bool)
        for k in range(1, HARMONICS + 1):
            lines |= np.abs(frequencies - k * f0) <= LINE_HALF_WIDTH_HZ
        shares.append(Hum(f0, float(power[lines].sum()) / total))
    return max(shares, key=lambda hum: hum.share)
