"""Bringing a signal to another sample rate: the one resampler of bpsrm, whole or span by span.

:func:`resample` converts a whole recording (the training data's records);
:class:`Resampler` gives any span of the same output, bit for bit, from only the
input samples that span needs, so that ``bpsrm predict`` goes through an hour-long
recording window block by window block instead of holding its resampled copy and
the filter's work arrays beside it.

Both are the polyphase FIR filter of :func:`scipy.signal.resample_poly` (upsample
by ``up``, filter, keep every ``down``-th sample). Output sample $n$ sits at input
position $n \\cdot \\mathrm{down} / \\mathrm{up}$ and is a sum over the input samples
within half the filter's length of it, so a span ``[a, b)`` of the output is
computed exactly from the inputs ``[a \\cdot down / up - m, b \\cdot down / up + m)``
(``m`` the filter's reach), cut at a multiple of ``down`` so that the span's
outputs fall on the same filter phases as the whole signal's.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..checks import array, real_number, whole_number
from ..errors import ParameterError

__all__ = ["MAX_UPSAMPLING", "Resampler", "resample"]

MAX_UPSAMPLING = 16
"""The largest up-sampling factor :func:`resample` takes (12 kHz from 750 Hz): a recording sampled far below
the model's rate holds none of the frequencies it learnt, and a rate misread from a file (a time column of
sample numbers is 1 Hz) would otherwise make a model-rate signal thousands of times longer than the file."""
MAX_DENOMINATOR = 1000
"""The largest denominator of the fraction ``to_hz / from_hz`` is approximated by."""
DECIMATE_MIN_PERIODS = 27
"""A whole down-sampling factor q uses scipy's ``decimate`` filter only on more than ``27 q`` samples; shorter
signals take the general polyphase filter. (The bound is bpsrm's from before decimate's FIR filter of ``20 q + 1``
taps replaced its IIR one; it stays so that every signal resamples as it did.)"""


class Resampler:
    """The output of :func:`resample` for one signal, in spans: ``Resampler(x, a_hz, b_hz).span(i, j)`` equals
    ``resample(x, a_hz, b_hz)[i:j]`` bit for bit, and reads only the input samples that span needs.

    The filter (as in :func:`resample`): a whole down-sampling factor q on more than ``27 q`` samples takes
    :func:`scipy.signal.decimate`'s (a Hamming-windowed FIR of ``20 q + 1`` taps, zero phase, zeros assumed
    beyond both ends); any other ratio :func:`scipy.signal.resample_poly`'s (Kaiser window, beta 5) for
    ``to_hz / from_hz`` approximated by a fraction with a denominator of at most 1000, with the signal's mean
    assumed beyond both ends. ``length`` is the output's length: ``round(len(signal) * to_hz / from_hz)``
    samples (``ceil`` for decimate's filter, which keeps every q-th sample from the first); where the filter
    gives fewer, the last one is repeated.
    """

    def __init__(self, signal: np.ndarray, from_hz: float, to_hz: float) -> None:
        from_hz = real_number("from_hz", from_hz, above=0)
        to_hz = real_number("to_hz", to_hz, above=0)
        self.signal = array("resample: signal", signal, ndim=1)  # as given: float64 a span at a time
        ratio = Fraction(to_hz) / Fraction(from_hz)
        self.length = round(ratio * self.signal.size)
        approx = ratio.limit_denominator(MAX_DENOMINATOR)
        if approx == 0:
            raise ParameterError(f"resample: {from_hz:.10g} Hz to {to_hz:.10g} Hz is a ratio below 1/1000, too small")
        if ratio > MAX_UPSAMPLING:
            times = f"{float(ratio):.3g}x" if ratio < 10**15 else "more than 1e15x"  # float() of 1e400 overflows
            raise ParameterError(
                f"resample: {from_hz:.10g} Hz to {to_hz:.10g} Hz is {times} up-sampling, more than the "
                f"{MAX_UPSAMPLING}x that can still carry what the model was trained on (is the sample rate right? a "
                "time column of sample numbers reads as 1 Hz, and one in milliseconds with no unit in its name "
                "1000 times too slow: name the unit, as 'time_ms')"
            )
        self.window: Any = None  # equal rates: no filter
        self.up = self.down = 1
        self.background = 0.0
        if from_hz == to_hz or self.signal.size == 0:
            self.computed = self.signal.size
            return
        import scipy.signal

        if ratio.numerator == 1 and self.signal.size > DECIMATE_MIN_PERIODS * ratio.denominator:
            self.down = ratio.denominator  # scipy.signal.decimate(x, q, ftype="fir", zero_phase=True), whose filter
            self.window = scipy.signal.firwin(20 * self.down + 1, 1.0 / self.down, window="hamming")  # this is
            taps = self.window.size
            self.length = -(-self.signal.size // self.down)  # decimate keeps every q-th sample from the first
        else:
            self.up, self.down = approx.numerator, approx.denominator
            self.window = ("kaiser", 5.0)  # resample_poly's default, with padtype="mean": the mean beyond the ends
            self.background = float(np.mean(self.signal, dtype=np.float64))
            taps = 20 * max(self.up, self.down) + 1
        self.computed = -(-self.signal.size * self.up // self.down)  # resample_poly's output: ceil(n * up / down)
        self.reach = taps // self.up + 2  # input samples each side of an output's position: twice what it reads

    def span(self, first: int, stop: int) -> np.ndarray:
        """Output samples ``first .. stop - 1`` (float64), ``0 <= first <= stop <= length``."""
        first = whole_number("Resampler.span: first", first, 0, self.length)
        stop = whole_number("Resampler.span: stop", stop, first, self.length)
        if self.window is None:
            return self.signal[first:stop].astype(np.float64)  # a copy
        end = min(stop, self.computed)
        out = self._filtered(first, end) if first < end else np.zeros(0)
        if stop > end:  # past the filter's output (end == computed): its last sample repeated
            last = out[-1] if out.size else self._filtered(self.computed - 1, self.computed)[0]
            out = np.concatenate([out, np.full(stop - max(first, end), last)])
        return out

    def _filtered(self, first: int, stop: int) -> np.ndarray:
        """Filter outputs ``first .. stop - 1`` (``stop <= computed``), from the inputs they read."""
        import scipy.signal

        low = max(0, (first * self.down // self.up - self.reach) // self.down * self.down)  # a multiple of down
        high = min(self.signal.size, -(-stop * self.down // self.up) + self.reach)
        part = self.signal[low:high].astype(np.float64, copy=False)
        if self.background:
            part = part - self.background
        y = scipy.signal.resample_poly(part, self.up, self.down, window=self.window, padtype="constant")
        offset = low * self.up // self.down
        out = y[first - offset : stop - offset]
        return out + self.background if self.background else np.ascontiguousarray(out)


def resample(signal: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """``signal`` (1-D) sampled at ``from_hz``, resampled to ``to_hz`` with an anti-alias filter.

    A whole down-sampling factor (48 kHz to 12 kHz) uses the filter of
    :func:`scipy.signal.decimate` (FIR, zero phase); any other ratio the
    polyphase filter :func:`scipy.signal.resample_poly` (the signal's mean
    assumed beyond both ends) with ``to_hz / from_hz`` approximated by a
    fraction with a denominator of at most 1000 (:class:`Resampler`). The result has
    ``round(len(signal) * to_hz / from_hz)`` samples (float64; ``ceil`` for a
    whole factor, as decimate keeps every k-th sample from the first); equal rates
    return a copy. Up-sampling by more than :data:`MAX_UPSAMPLING` is refused. The one
    resampler of bpsrm: training data and ``predict`` share it.
    """
    resampler = Resampler(signal, from_hz, to_hz)
    return resampler.span(0, resampler.length)
