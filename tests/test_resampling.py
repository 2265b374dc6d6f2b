"""bpsrm.data.resampling: the one resampler, against scipy's routines called on the whole signal, and span by
span against itself whole, bit for bit."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.signal

from bpsrm.data.resampling import Resampler, resample
from bpsrm.errors import ParameterError

RATES = [
    (25_600, 12_000),  # resample_poly 15/32
    (48_000, 12_000),  # decimate by 4
    (12_000, 12_000),  # a copy
    (20_000, 12_000),  # 3/5
    (12_000, 25_600),  # up-sampling 32/15
    (44_100, 12_000),  # 40/147
    (25_600.5, 12_000),  # a ratio of a large denominator, approximated (15/32, above it): the output cut
    (8_000, 12_000),  # 3/2
    (12_000 * 1800 / 1750, 12_000),  # speed normalisation at 1750 rpm: 35/36
]


def _scipy_whole(x: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """What bpsrm's docstring promises, from scipy's public routines on the whole signal."""
    if from_hz == to_hz:
        return x.copy()
    ratio = Fraction(to_hz) / Fraction(from_hz)
    if ratio.numerator == 1 and x.size > 27 * ratio.denominator:
        return scipy.signal.decimate(x, ratio.denominator, ftype="fir", zero_phase=True)
    approx = ratio.limit_denominator(1000)
    y = scipy.signal.resample_poly(x, approx.numerator, approx.denominator, padtype="mean")
    length = round(ratio * x.size)
    return y[:length] if y.size >= length else np.pad(y, (0, length - y.size), mode="edge")


@pytest.mark.parametrize(("from_hz", "to_hz"), RATES)
@pytest.mark.parametrize("size", [1, 2, 30, 107, 4099, 50_000])
def test_resample_is_scipys_filter_on_the_whole_signal(from_hz, to_hz, size) -> None:
    x = np.random.default_rng(size).normal(size=size) * 0.3 + 0.2
    expected = _scipy_whole(x, from_hz, to_hz)
    got = resample(x, from_hz, to_hz)
    assert got.dtype == np.float64 and got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(("from_hz", "to_hz"), RATES)
def test_spans_join_to_the_whole_output_bit_for_bit(from_hz, to_hz) -> None:
    x = np.random.default_rng(7).normal(size=40_000) * 0.3 + 0.2
    resampler = Resampler(x, from_hz, to_hz)
    whole = resample(x, from_hz, to_hz)
    assert resampler.length == whole.size
    for step in (1, 7, 2048, resampler.length):
        if step == 1:  # every sample on its own would take long: the first and last 300
            firsts = [*range(300), *range(resampler.length - 300, resampler.length)]
        else:
            firsts = list(range(0, resampler.length, step))
        for first in firsts:
            stop = min(first + step, resampler.length)
            assert np.array_equal(resampler.span(first, stop), whole[first:stop]), (first, stop)


def test_a_span_reads_only_the_input_near_it(monkeypatch) -> None:
    x = np.random.default_rng(1).normal(size=1_000_000)
    read: list[int] = []
    original = scipy.signal.resample_poly
    monkeypatch.setattr(
        scipy.signal, "resample_poly", lambda part, *a, **k: read.append(part.size) or original(part, *a, **k)
    )
    for from_hz in (25_600, 48_000):
        resampler = Resampler(x, from_hz, 12_000)
        read.clear()
        resampler.span(100_000, 100_000 + 64 * 2048)  # 64 windows at 12 kHz
        needed = 64 * 2048 * from_hz / 12_000
        assert read and max(read) < needed + 2_000  # the filter's reach on both sides, not the million samples


def test_span_bounds_are_checked() -> None:
    resampler = Resampler(np.arange(100.0), 25_600, 12_000)
    for first, stop in ((-1, 3), (5, 4), (0, resampler.length + 1)):
        with pytest.raises(ParameterError, match=r"Resampler\.span"):
            resampler.span(first, stop)
    assert resampler.span(10, 10).shape == (0,)


def test_where_the_filter_gives_fewer_samples_than_the_length_the_last_is_repeated() -> None:
    """12000 / 25599.5 is approximated by 15/32, below it: the filter gives fewer samples than the length."""
    x = np.random.default_rng(3).normal(size=400_000)
    resampler = Resampler(x, 25_599.5, 12_000)
    assert resampler.length > resampler.computed  # the padded path is the one under test
    whole = resample(x, 25_599.5, 12_000)
    assert np.array_equal(whole, _scipy_whole(x, 25_599.5, 12_000))
    for first, stop in (
        (resampler.computed - 5, resampler.length),
        (resampler.computed, resampler.length),
        (resampler.length - 1, resampler.length),
        (0, resampler.length),
    ):
        assert np.array_equal(resampler.span(first, stop), whole[first:stop]), (first, stop)
