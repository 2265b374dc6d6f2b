"""What a recording's time column says of its sample rate.

A CSV export often holds a time column beside its channels. Its times state the rate when they are evenly
spaced: each time ``t_i`` (seconds, ``i = 0 .. n-1``) lies on the grid from the first time to the last,

    | t_i - (t_0 + i * step) | <= step / 10 + r_i + max(r_0, r_{n-1}),   step = (t_{n-1} - t_0) / (n - 1),

and so does each step between two times,

    | t_{i+1} - t_i - step | <= step / 10 + r_i + r_{i+1},

where ``r_i`` is how far writing ``t_i`` with the column's precision can have moved it (:func:`written_rounding`;
the first rule's last term allows for the rounding of the two ends the grid is drawn from). Times written in full
have ``r = 0``: the rules are then the tenth of a step of old. A logger that writes ``%.5f`` seconds rounds 25.6
kHz times by up to 0.13 of a step, and ``%.8g`` does so from 100 s on: such a column still places every sample,
and states the rate ``1 / step``. A precision coarser than :data:`MAX_ROUNDING` of a step counts for nothing
(``%.4f`` at 25.6 kHz, steps of 0 and 1e-4 s, or at 8 kHz, 0.4 of a step): such a column could hide a sample
missing or written twice, so it states no rate unless its times lie within the tenth of a step, and the reader
asks for one (:func:`uneven_times` says what is wrong with it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Times are checked this many at a time: the grid and its misses of a ten-minute 25.6 kHz recording would take
#: some 120 MB an array at once.
CHUNK = 1 << 20
#: The finest precisions looked for: 12 decimals of a second (``%.12f``) and 12 significant digits (``%.12g``).
#: Finer grids than these cannot be told from the float64 rounding of the values read.
MAX_DECIMALS = 12
MAX_DIGITS = 12
#: A value lies on a grid of spacing ``q`` when ``value / q`` is within this of a whole number: the float64
#: rounding of a value written on the grid moves ``value / q`` by far less (at most ~5e-4 for ``value / q`` up to
#: 1e12), and a value written with more digits than the grid has lands this close to it by chance once in 500.
GRID_SLACK = 1e-3
#: Evenly spaced times lie within this share of a step of their grid, besides their written rounding.
STEP_SLACK = 0.1
#: The most a time may have been moved by its written rounding, in steps. With it below a fifth of a step, a step
#: read off two rounded times lies within 0.5 of a step of the true one (a tenth of slack, two fifths of rounding),
#: so a sample missing (a step of 2) or written twice (0) still shows; a column written coarser states no rate.
MAX_ROUNDING = 0.2


def is_time_axis(values: np.ndarray) -> bool:
    """Whether a column named like time is one: finite, never decreasing and not constant. Otherwise (a
    temperature ``T``, say) it is a channel like the others."""
    return bool(values.size >= 2 and np.all(np.isfinite(values)) and np.all(np.diff(values) >= 0)) and bool(
        values[-1] > values[0]
    )


def first_restart(values: np.ndarray) -> int | None:
    """The row where a column named like time starts again, as where segments of a recording are written one
    after another (a multi-trigger export, each segment's times from 0); None when it does not. Such a column
    is finite, goes back at a few steps only (at most 1 % of them, at least one), never decreases between them,
    and at each step back falls by at least half of what it rose since it last started, to its first value as
    written: a temperature ``T`` that rises and falls, or cools over several samples, does not, and nor does a
    time of day that passes midnight, or most counters that wrap (``(7 i) % 1000``: one that starts at 0 and steps
    a divisor of its period cannot be told from segments of one length)."""
    if values.size < 3 or not np.all(np.isfinite(values)):
        return None
    back = np.flatnonzero(np.diff(values) < 0)
    if back.size == 0 or back.size > max(1, 0.01 * (values.size - 1)):
        return None
    start = 0
    for k in back.tolist():
        rose = values[k] - values[start]
        if not rose > 0 or values[k] - values[k + 1] < 0.5 * rose or values[k + 1] != values[0]:
            return None
        start = k + 1
    return int(back[0]) + 1


def _decimal_quantum(decimals: int) -> Callable[[np.ndarray], np.ndarray | float]:
    return lambda t: 10.0**-decimals


def _digit_quantum(digits: int) -> Callable[[np.ndarray], np.ndarray | float]:
    """The spacing of ``digits`` significant digits at each value: ``10 ** (floor(log10 |t|) - digits + 1)``, 0
    at 0 (written exactly)."""

    def quantum(t: np.ndarray) -> np.ndarray:
        magnitude = np.abs(t)
        with np.errstate(divide="ignore"):
            exponent = np.floor(np.log10(np.where(magnitude > 0, magnitude, 1.0)))
        return np.where(magnitude > 0, 10.0 ** (exponent - digits + 1), 0.0)

    return quantum


def _on_grid(times: np.ndarray, quantum: Callable[[np.ndarray], np.ndarray | float]) -> bool:
    """Whether every time is a whole multiple of its ``quantum`` (within :data:`GRID_SLACK` of one)."""
    for start in range(0, times.size, CHUNK):
        t = times[start : start + CHUNK]
        q = np.broadcast_to(quantum(t), t.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(q > 0, t / np.where(q > 0, q, 1.0), 0.0)
        if np.any(np.abs(ratio - np.rint(ratio)) > GRID_SLACK):
            return False
    return True


def _written_grids(times: np.ndarray, finest: float) -> tuple[int | None, int | None]:
    """The fewest decimals and the fewest significant digits that every time is written with, among the grids
    finer than ``finest`` seconds (at the largest time); each None when none up to :data:`MAX_DECIMALS` or
    :data:`MAX_DIGITS` holds them all (times written in full). Coarser grids are not tried: times that cluster
    near one of their points (a short recording from 10,000 s) would seem written with a digit or two."""
    top = max(abs(float(times.min())), abs(float(times.max())))
    decimals = next(
        (
            k
            for k in range(MAX_DECIMALS + 1)
            if 10.0**-k < finest and top * 10.0**k <= 10.0**MAX_DIGITS and _on_grid(times, _decimal_quantum(k))
        ),
        None,
    )
    top_digit = math.floor(math.log10(top)) if top > 0 else 0
    digits = next(
        (
            d
            for d in range(1, MAX_DIGITS + 1)
            if 10.0 ** (top_digit - d + 1) < finest and _on_grid(times, _digit_quantum(d))
        ),
        None,
    )
    return decimals, digits


def written_rounding(times: np.ndarray, finest: float = math.inf) -> Callable[[np.ndarray], np.ndarray]:
    """How far writing each time with the column's precision can have moved it: half the spacing of the coarsest
    grid of decimals (``%.5f``) and of significant digits (``%.8g``) that holds every time, the larger of the two
    (a value on a grid lies on every finer one, so the coarsest holding all is the precision written; ``%.8g``
    gives 6 decimals below 100 s and 5 above), among the grids finer than ``finest`` seconds. Returned as a
    function of a span of the times; 0 for times written in full."""
    decimals, digits = _written_grids(times, finest)
    decimal = 0.5 * 10.0**-decimals if decimals is not None else 0.0
    digit = _digit_quantum(digits) if digits is not None else None

    def rounding(t: np.ndarray) -> np.ndarray:
        half = np.full(t.shape, decimal)
        return np.maximum(half, 0.5 * digit(t)) if digit is not None else half

    return rounding


def rate_from_times(times: np.ndarray) -> float | None:
    """The sample rate ``1 / step`` of evenly spaced times in seconds (the module's rule), or None; a rate within
    the uncertainty of the ends' rounding (and within 1e-6 of itself) of a whole number is that number."""
    if times.size < 2 or not np.all(np.isfinite(times)):
        return None
    span = float(times[-1] - times[0])
    if not span > 0:
        return None
    step = span / (times.size - 1)
    rounding = None  # the written rounding: a search over every time, made only where it decides something
    if _largest_miss(times, step, lambda t: np.zeros(t.shape)) > STEP_SLACK * step:
        rounding = written_rounding(times, finest=2 * MAX_ROUNDING * step)
        ends = float(rounding(times[[0, -1]]).max())  # the largest magnitudes too, the times never decreasing
        if _largest_miss(times, step, rounding, ends) > STEP_SLACK * step:
            return None
        if _largest_step_miss(times, step, rounding) > STEP_SLACK * step:
            return None  # a sample missing or written twice, which the grid's rounding allowance could hide
    rate = 1.0 / step
    if not math.isfinite(rate):  # a step below 1e-308 s: read_recording refuses the rate, not a crash here
        return rate
    whole = round(rate)
    if abs(rate - whole) <= 1e-6 * rate:
        return float(whole)
    if rounding is None:
        rounding = written_rounding(times, finest=2 * MAX_ROUNDING * step)
    return float(whole) if abs(rate - whole) <= _ends_uncertainty(times, rounding) * rate else rate


def _ends_uncertainty(times: np.ndarray, rounding: Callable[[np.ndarray], np.ndarray]) -> float:
    """How far the written rounding of the two ends can move the rate ``(n - 1) / (t_{n-1} - t_0)``, relatively:
    ``(r_0 + r_{n-1}) / (t_{n-1} - t_0)``."""
    return float(rounding(times[[0, -1]]).sum()) / float(times[-1] - times[0])


def _largest_miss(
    times: np.ndarray, step: float, rounding: Callable[[np.ndarray], np.ndarray], ends: float = 0.0
) -> float:
    """The largest distance of a time from its place on the grid, less its written rounding and ``ends``."""
    worst = 0.0
    for start in range(0, times.size, CHUNK):
        t = times[start : start + CHUNK]
        grid = times[0] + step * np.arange(start, start + t.size)
        worst = max(worst, float(np.max(np.abs(t - grid) - rounding(t) - ends)))
    return worst


def _largest_step_miss(times: np.ndarray, step: float, rounding: Callable[[np.ndarray], np.ndarray]) -> float:
    """The largest distance of a step ``t_{i+1} - t_i`` from ``step``, less the written rounding of its two ends."""
    worst = 0.0
    for start in range(0, times.size - 1, CHUNK):
        t = times[start : start + CHUNK + 1]  # one time more: the step across the chunks' border
        r = rounding(t)
        worst = max(worst, float(np.max(np.abs(np.diff(t) - step) - r[1:] - r[:-1])))
    return worst


def uneven_times(name: str, times: np.ndarray) -> tuple[str, float, float]:
    """What is wrong with a time axis that states no rate (:func:`is_time_axis` holds), the rate of its mean step
    (times rounded coarser than a step, or a logger's jitter, still have the right mean step), and how uncertain
    the written rounding of its two ends leaves that rate (:func:`_ends_uncertainty`, the rounding found by
    :func:`written_rounding` over the grids finer than twice the largest step: a clock written to the second holds
    steps of 0 and 1 s; coarser grids would find times that happen to lie near round numbers written with a digit
    or two, and leave any rate possible)."""
    steps = np.diff(times)
    span = float(times[-1] - times[0])
    what = f"the time column {name!r} is not evenly spaced (steps from {steps.min():.4g} to {steps.max():.4g} s)"
    uncertainty = _ends_uncertainty(times, written_rounding(times, finest=2 * float(steps.max())))
    return what, (times.size - 1) / span, uncertainty
