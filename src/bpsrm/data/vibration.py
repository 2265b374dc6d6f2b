"""From a vibration recording to the network's input: one path for the data loaders and ``bpsrm predict``.

A :class:`VibrationPreprocess` holds every setting between a raw recording and
the tensor a bearing model sees (model sample rate, speed reference, window,
normalisation and its statistics, features). The CWRU dataset builds its
samples with it and every checkpoint keeps it, so ``eval``, ``predict`` and
``adapt`` prepare a new recording exactly as training did.

Order-domain (speed) normalisation: bearing fault frequencies are multiples of
the shaft speed, $f = k \\cdot \\mathrm{rpm} / 60$. A recording sampled at $f_s$
at shaft speed ``rpm`` is treated as if sampled at the effective rate
$f_s \\cdot \\mathrm{rpm_{ref}} / \\mathrm{rpm}$ and resampled from there to the
model's rate, so one revolution always spans $60 f_{model} / \\mathrm{rpm_{ref}}$
samples and the fault lines of every speed fall on the same bins.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..checks import array, real_number, real_value, whole_number, whole_numbers
from ..errors import DataError, ParameterError, shown
from .resampling import Resampler

__all__ = [
    "VibrationPreprocess",
    "envelope",
    "prepare_windows",
    "window_features",
    "window_levels",
    "levels_at",
    "FEATURES",
    "NORMALIZE",
    "LEVEL_QUANTILES",
]

FEATURES = ("raw", "spectrum", "envelope")
MAX_WINDOW = 1 << 22
"""The longest window a preprocessing record may ask for (4 Mi samples, about 350 s at 12 kHz)."""
NORMALIZE = ("train", "window", "none")
LEVEL_QUANTILES = (0.005, 0.995)
"""The quantiles of the training windows' levels (:func:`window_levels`) that a preprocessing record keeps as its
``level_range``: the 0.5 % and 99.5 % points, so that a few odd windows of the training data (a dropout, a knock)
do not widen it."""


@dataclass(frozen=True)
class VibrationPreprocess:
    """Every step from a raw vibration signal to the network input ``[N, 1, L]``.

    * ``sample_rate_hz``: the model's rate; every recording is brought to it;
    * ``speed_normalize`` / ``reference_rpm``: order-domain resampling to the
      reference shaft speed (module docstring);
    * ``window``: samples per window (at the model rate);
    * ``normalize``: ``train`` (``mean`` / ``std`` of the training data),
      ``window`` (each window standardised on its own) or ``none``;
    * ``features``: ``raw``, ``spectrum`` or ``envelope`` (:func:`window_features`);
    * ``level_range``: ``(low, high)``, the :data:`LEVEL_QUANTILES` of the training windows' levels
      (:func:`window_levels`, in the recordings' own unit), or None where the training data did not record it.
      It shapes no input: ``bpsrm predict`` holds each new window's level to it
      (:mod:`bpsrm.deploy.prediction`), which ``normalize: window`` and the spectra hide from the network.
    """

    window: int = 2048
    sample_rate_hz: float = 12_000.0
    normalize: str = "train"
    features: str = "raw"
    speed_normalize: bool = False
    reference_rpm: float = 1800.0
    mean: float | None = None
    std: float | None = None
    level_range: tuple[float, float] | None = None
    kind: str = field(default="vibration", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.normalize, str) or self.normalize not in NORMALIZE:
            raise ParameterError(f"normalize must be one of {list(NORMALIZE)}, got {shown(self.normalize)}")
        if not isinstance(self.features, str) or self.features not in FEATURES:
            raise ParameterError(f"features must be one of {list(FEATURES)}, got {shown(self.features)}")
        if not isinstance(self.speed_normalize, bool):
            raise ParameterError(f"speed_normalize must be true or false, got {shown(self.speed_normalize)}")
        checked = {
            "window": whole_number("window", self.window, 2, MAX_WINDOW),
            "sample_rate_hz": real_number("sample_rate_hz", self.sample_rate_hz, above=0),
            "reference_rpm": real_number("reference_rpm", self.reference_rpm, above=0),
            "mean": None if self.mean is None else real_number("mean", self.mean),
            "std": None if self.std is None else real_number("std", self.std, above=0),
        }
        if (checked["mean"] is None) != (checked["std"] is None):
            raise ParameterError(f"mean and std come together, got mean={shown(self.mean)}, std={shown(self.std)}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "level_range", _checked_level_range(self.level_range))

    @property
    def input_length(self) -> int:
        """Length of one network input: the window (raw) or half of it (spectra)."""
        return self.window if self.features == "raw" else self.window // 2

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for checkpoints (:func:`bpsrm.data.preprocess.preprocess_from_dict` reads it back)."""
        raw = asdict(self)
        raw["level_range"] = None if self.level_range is None else list(self.level_range)
        return raw

    def with_level_range(self, levels: np.ndarray) -> VibrationPreprocess:
        """This record with ``level_range`` set to the :data:`LEVEL_QUANTILES` of ``levels``: the
        :func:`window_levels` of the training windows at the model's rate, before normalisation. Constant windows
        (level 0: dropouts) are left out, so that a few of them cannot take the low end to 0, where no level
        would lie below it."""
        levels = array("with_level_range: levels", levels, ndim=1, kinds="f")
        if levels.size == 0:
            raise DataError("the level range of the training data needs at least one window, got none")
        if not np.isfinite(levels).all():
            raise DataError("the training windows' levels hold values that are not finite")
        live = levels[levels > 0]
        if live.size == 0:
            raise DataError(f"every one of the {levels.size} training windows is constant; they have no level range")
        low, high = (float(q) for q in np.quantile(live, LEVEL_QUANTILES))
        return dataclasses.replace(self, level_range=(low, high))

    def signal(self, signal: np.ndarray, rate_hz: float, rpm: float | None, where: str = "signal") -> np.ndarray:
        """A whole recording at the model rate (and at the reference speed when ``speed_normalize``)."""
        resampler = self.resampler(signal, rate_hz, rpm, where)
        return resampler.span(0, resampler.length)

    def resampler(self, signal: np.ndarray, rate_hz: float, rpm: float | None, where: str = "signal") -> Resampler:
        """:meth:`signal` span by span (:class:`~bpsrm.data.resampling.Resampler`): for a long recording, windows
        at the model rate without its whole resampled copy in memory."""
        source = self.source_rate(rate_hz, rpm, where)
        try:
            return Resampler(np.asarray(signal), source, self.sample_rate_hz)  # float32 stays float32 until a span
        except ParameterError as exc:  # a rate far below the model's (a misread rate)
            raise DataError(f"{where}: {exc}") from None

    def source_rate(self, rate_hz: float, rpm: float | None, where: str = "signal") -> float:
        """The rate :meth:`signal` resamples from: ``rate_hz``, or with ``speed_normalize``
        ``rate_hz * reference_rpm / rpm`` (a slower shaft reads as a faster rate at the reference speed)."""
        source = real_value(rate_hz)  # NaN for what is no number, +-inf past float's range: refused below
        if self.speed_normalize:
            if rpm is None:
                raise DataError(
                    f"{where}: the model normalises shaft speed (reference {self.reference_rpm:g} rpm) and the "
                    "recording's speed is unknown: give it (--rpm RPM)"
                )
            try:
                speed = real_number(f"{where}: the shaft speed (rpm)", rpm, above=0)
            except ParameterError as exc:
                raise DataError(str(exc)) from None
            source = source * self.reference_rpm / speed
        if not (source > 0 and math.isfinite(source)):
            raise DataError(f"{where}: sample rate {shown(rate_hz)} Hz is not a positive number")
        return source

    def windows(self, windows: np.ndarray) -> np.ndarray:
        """Windows ``[N, window]`` of a signal at the model rate as network inputs ``[N, 1, input_length]``."""
        out = prepare_windows(windows, self.normalize, self.mean, self.std, self.features)
        return np.ascontiguousarray(out, dtype=np.float32)[:, None, :]


def window_levels(windows: np.ndarray) -> np.ndarray:
    r"""The level of each window ``[N, L]``: its RMS about its own mean,
    $\ell = \sqrt{\tfrac{1}{L} \sum_{i=1}^{L} (x_i - \bar{x})^2}$, in the signal's unit (float64 ``[N]``)."""
    windows = array("window_levels: windows", windows, ndim=2)
    return np.asarray(windows, dtype=np.float64).std(axis=1)


def levels_at(signal: np.ndarray, starts: Sequence[int], window: int, chunk: int = 1024) -> np.ndarray:
    """:func:`window_levels` of the windows ``signal[s : s + window]`` for ``s`` in ``starts``, ``chunk`` windows
    at a time (memory bounded by ``chunk * window`` samples, whatever the overlap of the windows)."""
    signal = array("levels_at: signal", signal, ndim=1)
    window = whole_number("levels_at: window", window, 1)
    first = whole_numbers("levels_at: starts", starts)
    if first.size and (first.min() < 0 or first.max() > signal.size - window):
        raise ParameterError(
            f"levels_at: window starts must lie in [0, {signal.size - window}] for windows of {window} samples of a "
            f"signal of {signal.size}, got {int(first.min())} to {int(first.max())}"
        )
    if first.size == 0:
        return np.zeros(0)
    views = np.lib.stride_tricks.sliding_window_view(np.asarray(signal, dtype=np.float64), window)
    return np.concatenate([window_levels(views[first[i : i + chunk]]) for i in range(0, first.size, chunk)])


def _checked_level_range(value: Any) -> tuple[float, float] | None:
    """``level_range`` as a pair of finite floats ``0 < low <= high`` (a ParameterError otherwise)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ParameterError(f"level_range must be a pair [low, high] or null, got {shown(value)}")
    try:
        low = real_number("level_range's low end", value[0], above=0)
    except ParameterError as exc:
        raise ParameterError(
            f"{exc} (a range of a bpsrm that let constant windows take it to 0 is written again by "
            "scripts/recalibrate_ood.py --level-range-only RUN)"
        ) from None
    high = real_number("level_range's high end", value[1], above=0)
    if low > high:
        raise ParameterError(f"level_range's low end must not exceed its high end, got {shown(value)}")
    return (low, high)


def prepare_windows(
    windows: np.ndarray, normalize: str, mean: float | None, std: float | None, features: str
) -> np.ndarray:
    """Windows ``[N, L]`` normalised (``train``: $(x - \\mu) / \\sigma$ with the training data's ``mean`` and
    ``std``; ``window``: each window on its own; ``none``), then :func:`window_features`."""
    windows = array("prepare_windows: windows", windows, ndim=2)
    if normalize == "train":
        if mean is None or std is None:
            raise DataError("normalize='train' needs the training data's mean and std")
        windows = (windows - mean) / std
    elif normalize == "window":
        spread = windows.std(axis=1, keepdims=True)
        windows = (windows - windows.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
    return window_features(windows, features)


def window_features(windows: np.ndarray, features: str) -> np.ndarray:
    r"""What the network sees of windows ``[N, L]``: ``[N, L]`` (raw) or ``[N, L/2]`` (spectra).

    * ``raw``: the signal itself;
    * ``spectrum``: $\log(1 + |\mathrm{rfft}(h \cdot x)|)$ without the DC bin (h a Hann
      window), standardised per window (after speed normalisation: the order spectrum);
    * ``envelope``: the same of the envelope $|x + i\,\mathcal{H}x|$ (the analytic signal of
      :func:`scipy.signal.hilbert`, mean removed): the classic view of bearing faults, whose
      impacts modulate the resonances.

    Spectra are standardised per window, so a change of amplitude (of load) moves nothing.
    """
    windows = array("window_features: windows", windows, ndim=2)
    if features == "raw":
        return windows
    length = windows.shape[1]
    if length < 2:
        raise ParameterError(
            f"window_features: windows of {length} sample{'s' if length != 1 else ''} have no spectrum; "
            "expected 2 samples or more"
        )
    x = windows - windows.mean(axis=1, keepdims=True)
    if features == "envelope":
        x = envelope(x)
        x = x - x.mean(axis=1, keepdims=True)
    magnitude = np.abs(np.fft.rfft(x * np.hanning(length), axis=1))[:, 1 : length // 2 + 1]
    logged = np.log1p(magnitude)
    std = logged.std(axis=1, keepdims=True)
    return (logged - logged.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)


def envelope(windows: np.ndarray) -> np.ndarray:
    r"""The envelope $|x + i\,\mathcal{H}x|$ of each row of ``windows`` (the last axis).

    The magnitude of the analytic signal of :func:`scipy.signal.hilbert`, taken
    over the window's own length (no zero padding). The FFT-based transform treats a
    window as one period of a periodic signal: exact for a window of whole periods,
    otherwise close to the true envelope away from the window's two ends.
    """
    try:
        import scipy.signal
    except ImportError:  # pragma: no cover - scipy is in the data extra
        raise DataError("the envelope needs scipy: pip install 'bpsrm[data]'") from None
    windows = array("envelope: windows", windows, ndim=None)
    if windows.shape[-1] == 0:
        raise ParameterError(f"envelope: windows of shape {windows.shape} hold no samples")
    return np.abs(scipy.signal.hilbert(windows.astype(np.float64, copy=False), axis=-1))


def _jitter_read(start: int, window: int, low: int, high: int, speed: float) -> tuple[int, int]:
    """``(begin, length)`` of the samples :func:`jitter_window` reads at ``speed``: ``round(window * speed)``
    samples (at least 2, at most the part ``[low, high)``) from ``start``, moved back so as not to pass ``high``."""
    length = max(2, min(round(window * speed), high - low))
    return max(low, min(start, high - length)), length


def jitter_span(start: int, window: int, low: int, high: int, max_speed: float) -> tuple[int, int]:
    """The samples ``[first, stop)`` that :func:`jitter_window` may read for the window at ``start`` of the part
    ``[low, high)``, at any speed up to ``max_speed`` (1 without augmentation): those of the fastest draw. A
    read of fewer samples starts at or after its ``first`` (moved back less) and ends at or before its
    ``stop`` (``min(start + L, high)`` for the fastest draw's ``L``)."""
    begin, length = _jitter_read(start, window, low, high, max_speed)
    return begin, begin + length


def jitter_window(
    signal: np.ndarray, start: int, window: int, low: int, high: int, speed: float, gain: float
) -> np.ndarray:
    """A training window taken at a random speed and gain (augmentation).

    ``speed`` in [1 - s, 1 + s] stretches: ``round(window * speed)`` samples from
    ``start`` (moved back so as not to pass ``high``, nor before ``low``) are
    linearly interpolated onto ``window`` points, as if the shaft turned
    ``speed`` times faster; the result is multiplied by ``gain``.
    """
    begin, length = _jitter_read(start, window, low, high, speed)
    segment = signal[begin : begin + length]
    x = np.interp(np.linspace(0.0, length - 1, window), np.arange(length), segment)
    return x * gain
