"""Vibration preprocessing: rates, order-domain (speed) normalisation, augmentation windows, on hand-made signals
and the real CWRU records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpsrm.data import get_dataset
from bpsrm.data.cwru import read_cwru_record_rpm
from bpsrm.data.recordings import resample as to_rate
from bpsrm.data.vibration import (
    VibrationPreprocess,
    envelope,
    jitter_span,
    jitter_window,
    levels_at,
    window_features,
    window_levels,
)
from bpsrm.errors import DataError, ParameterError


def _peak_hz(signal: np.ndarray, rate: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rpm", [1797.0, 1772.0, 1750.0, 1730.0])
def test_speed_normalisation_puts_shaft_orders_on_the_reference(rpm) -> None:
    # A line at 5.43 orders of the shaft (an outer-race-like fault order) moves with the speed in Hz;
    # after speed normalisation it must sit at 5.43 orders of the reference speed for every speed.
    rate, order, seconds = 12_000.0, 5.43, 10.0
    t = np.arange(int(rate * seconds)) / rate
    signal = np.sin(2 * np.pi * order * rpm / 60 * t)
    pre = VibrationPreprocess(speed_normalize=True, reference_rpm=1800.0)
    out = pre.signal(signal, rate, rpm)
    assert out.size == pytest.approx(signal.size * rpm / 1800.0, abs=2)
    resolution = rate / out.size
    assert _peak_hz(out, rate) == pytest.approx(order * 1800.0 / 60, abs=resolution)
    assert _peak_hz(signal, rate) == pytest.approx(order * rpm / 60, abs=rate / signal.size)


def test_speed_normalisation_needs_the_speed() -> None:
    with pytest.raises(DataError, match="--rpm"):
        VibrationPreprocess(speed_normalize=True).signal(np.ones(4096), 12_000.0, None, "x.csv")


@pytest.mark.parametrize("rpm", [math.inf, math.nan, 0.0, -1800.0, True, "1800"])
def test_a_reference_speed_must_be_a_finite_positive_number(rpm) -> None:
    """inf passed ``> 0`` and True counted as 1 rpm; both readers' option (cwru's) and the preprocessing refuse
    them now, as bpsrm predict refuses --rpm inf."""
    with pytest.raises(ParameterError, match="reference_rpm must be a finite number > 0"):
        VibrationPreprocess(speed_normalize=True, reference_rpm=rpm)
    with pytest.raises(ParameterError, match="cwru: reference_rpm must be a finite number > 0"):
        get_dataset("cwru", "test", root="/nonexistent", reference_rpm=rpm)


def test_to_rate_is_anti_aliased_and_keeps_the_band() -> None:
    rate = 48_000.0
    t = np.arange(48_000) / rate
    low = np.sin(2 * np.pi * 1_000 * t)
    high = np.sin(2 * np.pi * 10_000 * t)  # above 6 kHz, the Nyquist frequency of 12 kHz
    down_low = to_rate(low, rate, 12_000.0)
    down_high = to_rate(high, rate, 12_000.0)
    expected = np.sin(2 * np.pi * 1_000 * np.arange(12_000) / 12_000.0)
    assert np.max(np.abs(down_low[200:-200] - expected[200:-200])) < 1e-3
    assert np.max(np.abs(down_high[200:-200])) < 1e-2
    ratio = to_rate(low, rate, 25_600.0)  # not an integer ratio: polyphase
    assert ratio.size == 25_600
    with pytest.raises(ParameterError):
        to_rate(low, 0.0, 12_000.0)


def test_jitter_window_stays_inside_its_part_of_the_record() -> None:
    signal = np.arange(1000, dtype=np.float64)
    # A faster draw (speed 1.1) takes 110 samples; started at 950 it must move back to end at the border 1000.
    x = jitter_window(signal, 950, 100, 0, 1000, 1.1, 1.0)
    assert x[0] == pytest.approx(890.0) and x[-1] == pytest.approx(999.0)
    # A slower draw (0.9) takes 90 samples from the start, stretched onto 100 points; gain scales.
    y = jitter_window(signal, 10, 100, 0, 1000, 0.9, 2.0)
    assert y[0] == pytest.approx(20.0) and y[-1] == pytest.approx(2 * 99.0)
    assert np.all(np.diff(y) > 0)


def test_jitter_span_holds_every_sample_jitter_window_reads() -> None:
    """A signal whose value is its index: a window's values are the positions it read (linear interpolation of
    a straight line), so the lowest and highest value bound what was read. Over draws of speed in [1 - s, 1 + s],
    starts near both ends of the part and parts of several sizes, every read lies in jitter_span's [first, stop),
    and the longest draws reach both of its ends."""
    signal = np.arange(5000, dtype=np.float64)
    generator = np.random.default_rng(0)
    window = 100
    for low, high in ((0, 1000), (300, 900), (1200, 1330)):
        for start in (low, low + 7, (low + high) // 2, high - window - 3, high - window):
            for s in (0.0, 0.05, 0.2, 0.45):
                first, stop = jitter_span(start, window, low, high, 1.0 + s)
                seen_low, seen_high = np.inf, -np.inf
                for speed in [1.0 - s, 1.0 + s, *generator.uniform(1.0 - s, 1.0 + s, 20)]:
                    x = jitter_window(signal, start, window, low, high, speed, 1.0)
                    seen_low, seen_high = min(seen_low, x.min()), max(seen_high, x.max())
                assert first <= seen_low + 1e-9 and seen_high - 1e-9 <= stop - 1, (low, high, start, s)
                assert seen_low == pytest.approx(first) and seen_high == pytest.approx(stop - 1), (low, high, start, s)
    assert jitter_span(950 - 100, 100, 0, 1000, 1.0) == (850, 950)  # no augmentation: the window itself


def _rpm_as_scipy_reads_it(path, number: int) -> float:
    """A CWRU record's X<n>RPM read with scipy.io.loadmat (an independent reader)."""
    import scipy.io  # in the dev extra: a missing scipy is an error, not a skip

    return float(scipy.io.loadmat(path)[f"X{number}RPM"].ravel()[0])


def test_cwru_records_carry_their_shaft_speed(shared_data) -> None:
    # 1797 (105, 0 HP), 1772 (106), 1748 (107).
    for load, number in ((0, 105), (1, 106), (2, 107)):
        path = shared_data / "cwru" / f"{load}HP" / f"{number}.mat"
        expected = _rpm_as_scipy_reads_it(path, number)
        _, rate, rpm = read_cwru_record_rpm(path)
        assert rpm == expected and rate == 12_000


def test_cwru_speed_normalised_dataset(shared_data) -> None:
    plain = get_dataset("cwru", "test", root=shared_data, load=2, class_set="9", whole=True, stride=2048)
    normed = get_dataset(
        "cwru", "test", root=shared_data, load=2, class_set="9", whole=True, stride=2048, speed_normalize=True
    )
    # 2 HP runs near 1750 rpm: at the 1800 rpm reference every record gets shorter by rpm / 1800, with each
    # record's rpm as scipy.io.loadmat reads it (not the dataset's own reading).
    assert len(plain.records) == 9
    for number in plain.records:
        rpm = _rpm_as_scipy_reads_it(shared_data / "cwru" / "2HP" / f"{number}.mat", number)
        ratio = normed.signals[number].size / plain.signals[number].size
        assert ratio == pytest.approx(rpm / 1800.0, abs=1e-4)
    assert normed.preprocess.speed_normalize and not plain.preprocess.speed_normalize


def test_cwru_augmentation_only_in_training(shared_data) -> None:
    import torch

    options = dict(root=shared_data, load=0, class_set="9", normalize="none", augment_speed=0.05, augment_gain=0.2)
    train = get_dataset("cwru", "train", **options)
    test = get_dataset("cwru", "test", **options)
    assert train.augmented and not test.augmented
    number, start = train.windows[3]
    plain = train.signals[number][start : start + train.window]
    torch.manual_seed(1)
    first = train[3][0].numpy().ravel()
    torch.manual_seed(2)
    second = train[3][0].numpy().ravel()
    assert not np.allclose(first, second)
    assert not np.allclose(first, plain)
    number, start = test.windows[3]
    np.testing.assert_array_equal(test[3][0].numpy().ravel(), test.signals[number][start : start + 2048].astype("f4"))
    with pytest.raises(ParameterError, match="augment_speed"):
        get_dataset("cwru", "train", root=shared_data, augment_speed=0.7)


def _envelope_peak(signal: np.ndarray, rate: float, low: float, high: float) -> float:
    import scipy.signal

    envelope = np.abs(scipy.signal.hilbert(signal - signal.mean()))
    spectrum = np.abs(np.fft.rfft((envelope - envelope.mean()) * np.hanning(envelope.size)))
    freqs = np.fft.rfftfreq(envelope.size, 1 / rate)
    band = (freqs >= low) & (freqs <= high)
    return float(freqs[band][np.argmax(spectrum[band])])


def test_speed_normalisation_aligns_the_inner_race_fault_line_of_every_load(shared_data) -> None:
    # IR007 at 0, 1 and 2 HP (1797, 1772, 1748 rpm). The inner-race fault frequency of the drive-end bearing
    # (SKF 6205: 5.4152 x shaft speed) is the strongest envelope line near 160 Hz. In the raw records it moves
    # with the speed (162.2 -> 157.8 Hz); after speed normalisation to 1800 rpm it sits at 5.4152 x 30 Hz.
    raw, normalised = [], []
    pre = VibrationPreprocess(speed_normalize=True, reference_rpm=1800.0)
    for load, number in ((0, 105), (1, 106), (2, 107)):
        signal, rate, rpm = read_cwru_record_rpm(shared_data / "cwru" / f"{load}HP" / f"{number}.mat")
        raw.append(_envelope_peak(signal, rate, 150, 170))
        normalised.append(_envelope_peak(pre.signal(signal, rate, rpm), 12_000.0, 150, 170))
        assert raw[-1] == pytest.approx(5.4152 * rpm / 60, abs=0.6)  # the lines sit about 0.4 Hz below nominal
    assert max(raw) - min(raw) > 3.5  # measured: 161.70, 159.55, 157.40 Hz; normalised: 161.97, 162.07, 162.08 Hz
    assert max(normalised) - min(normalised) < 0.3
    assert np.mean(normalised) == pytest.approx(5.4152 * 30, abs=0.6)


def _am(n: int, rate: float, fc: float, fm: float, depth: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / rate
    modulation = 1 + depth * np.cos(2 * np.pi * fm * t)
    return modulation * np.cos(2 * np.pi * fc * t), modulation


def test_envelope_of_an_amplitude_modulated_cosine() -> None:
    # (1 + m cos 2 pi fm t) cos 2 pi fc t, with fc above the modulation's band, has the analytic signal
    # (1 + m cos 2 pi fm t) exp(i 2 pi fc t): its envelope is 1 + m cos 2 pi fm t.
    rate = 12_000.0
    # Whole periods in the window (fc = 400 and fm = 30 cycles per 2048 samples): exact at every sample.
    signal, expected = _am(2048, 2048.0, 400.0, 30.0, 0.8)
    np.testing.assert_allclose(envelope(signal[None])[0], expected, atol=1e-11)  # measured 3e-13
    # Odd length and frequencies that do not fit the window: the window's ends are off (the transform sees a
    # jump there), the middle is right.
    signal, expected = _am(3001, rate, 1_234.5, 37.3, 0.5)
    got = envelope(signal)
    middle = slice(300, -300)
    assert np.max(np.abs(got[middle] - expected[middle])) < 0.01
    assert np.max(np.abs(got[:5] - expected[:5])) > 0.01  # the edge effect is real: this test can see a difference
    # The envelope spectrum (the ``envelope`` feature) peaks at the modulation frequency, not at the carrier.
    n = 4096
    signal, _ = _am(n, rate, 2_000.0, 105.0, 0.6)
    spectrum = window_features(signal[None], "envelope")[0]  # bin k + 1 of the rfft is k * rate / n Hz
    assert (np.argmax(spectrum) + 1) * rate / n == pytest.approx(105.0, abs=rate / n)


def _hand_envelope(x: np.ndarray) -> np.ndarray:
    """The analytic signal written out: keep DC (and Nyquist for an even length), double the positive
    frequencies, drop the negative ones (numpy.fft, not scipy's)."""
    length = x.shape[-1]
    gain = np.zeros(length)
    gain[0] = 1.0
    gain[1 : (length + 1) // 2] = 2.0
    if length % 2 == 0:
        gain[length // 2] = 1.0
    return np.abs(np.fft.ifft(np.fft.fft(x, axis=-1) * gain, axis=-1))


@pytest.mark.parametrize("length", [2048, 2047, 1000])
def test_envelope_matches_the_hand_computation_on_a_real_record(shared_data, length) -> None:
    # IR007 at 0 HP: the scipy envelope equals the hand-written one up to float rounding (the two FFT
    # libraries round differently; measured max |diff| 3.6e-15 on envelopes up to 6).
    signal, _, _ = read_cwru_record_rpm(shared_data / "cwru" / "0HP" / "105.mat")
    n = signal.size // length
    windows = (signal[: n * length].reshape(n, length) - signal.mean()) / signal.std()
    windows = windows - windows.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(envelope(windows), _hand_envelope(windows), rtol=0, atol=1e-13)


def test_window_levels_are_the_rms_about_each_windows_mean_by_hand() -> None:
    """Sines of whole periods have the RMS $A / \\sqrt{2}$ about a mean they add nothing to; an offset changes none."""
    n = np.arange(1024)
    windows = np.stack([amp * np.sin(2 * np.pi * 8 * n / 1024) + offset for amp, offset in ((1, 0), (3, 5), (0, 2))])
    assert window_levels(windows) == pytest.approx([1 / math.sqrt(2), 3 / math.sqrt(2), 0.0], abs=1e-12)
    with pytest.raises(ParameterError, match="window_levels: windows"):
        window_levels(np.zeros(5))


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_levels_at_overlapping_starts_equal_a_loop_over_the_windows(chunk) -> None:
    signal = np.random.default_rng(0).normal(size=5000) * np.linspace(0.1, 3.0, 5000)
    starts = [0, 7, 7, 100, 2976, 1234]  # overlapping, repeated, the last window ending at the signal's end
    expected = [math.sqrt(np.mean((signal[s : s + 2024] - np.mean(signal[s : s + 2024])) ** 2)) for s in starts]
    assert levels_at(signal, starts, 2024, chunk=chunk) == pytest.approx(expected, rel=1e-12)
    assert levels_at(signal, [], 2024).shape == (0,)
    for starts in ([-1], [2977], [1.5]):  # -1 read the last window, a float start was cut
        with pytest.raises(ParameterError, match="levels_at: "):
            levels_at(signal, starts, 2024)


def test_the_level_range_is_the_half_percent_quantiles_by_hand() -> None:
    """Levels 1 .. 1000: NumPy's linear quantile of p is the value at rank p * 999 from the lowest."""
    pre = VibrationPreprocess().with_level_range(np.arange(1.0, 1001.0))
    assert pre.level_range == pytest.approx((1 + 0.005 * 999, 1 + 0.995 * 999))
    assert pre.to_dict()["level_range"] == list(pre.level_range)  # a plain list in checkpoints
    assert VibrationPreprocess(level_range=[0.5, 2]).level_range == (0.5, 2.0)
    with pytest.raises(DataError, match="needs at least one window"):
        VibrationPreprocess().with_level_range(np.zeros(0))
    with pytest.raises(DataError, match="every one of the 4 training windows is constant"):
        VibrationPreprocess().with_level_range(np.zeros(4))
    # dropouts (constant windows) are left out: 2% of them took the low end to 0, and no level lies below 0
    with_dropouts = VibrationPreprocess().with_level_range(np.concatenate([np.zeros(20), np.arange(1.0, 1001.0)]))
    assert with_dropouts.level_range == pre.level_range
    with pytest.raises(DataError, match="not finite"):
        VibrationPreprocess().with_level_range(np.array([1.0, np.nan]))


def test_a_cwru_training_set_keeps_its_windows_level_range_and_a_test_set_none(shared_data) -> None:
    options = dict(root=shared_data, load=[0, 1], class_set="9", stride=1024, normalize="window")
    train = get_dataset("cwru", "train", **options)
    levels = []
    for number, start in train.windows:  # by hand, from the record as scipy reads it (no resampling at 12 kHz)
        x = _record_as_scipy_reads_it(shared_data, number)[start : start + 2048]
        levels.append(math.sqrt(np.mean((x - x.mean()) ** 2)))
    assert train.preprocess.level_range == pytest.approx(tuple(np.quantile(levels, [0.005, 0.995])), rel=1e-9)
    assert get_dataset("cwru", "test", **options).preprocess.level_range is None


def _record_as_scipy_reads_it(shared_data, number: int) -> np.ndarray:
    import scipy.io

    for load in (0, 1, 2):
        path = shared_data / "cwru" / f"{load}HP" / f"{number}.mat"
        if path.is_file():
            return scipy.io.loadmat(path)[f"X{number:03d}_DE_time"].ravel().astype(np.float64)
    raise AssertionError(f"record {number} not found")
