"""Time columns written as clock readings rather than seconds.

A data logger's CSV export often stamps each sample with the wall clock. Three forms are read:

* a date-time in ISO 8601, ``2026-01-01T12:00:00.000039`` (a space for the ``T``, a trailing ``Z`` or an offset
  ``+01:00`` / ``-0330`` allowed; a decimal comma too where the file writes them);
* a time of day, ``12:00:00.000039`` (hours 0-23, minutes and seconds below 60);
* a date and a time of day as two neighbouring fields, as a file split at spaces holds
  ``2026-01-01 12:00:00.000039``.

Each becomes the seconds since the column's first clock reading,

    t_i = c_i - c_0,

where a date-time is first brought to UTC (``c = local - offset``), so that a file whose offset changes with
daylight saving still runs on; and a time of day that goes back by more than 12 hours has passed midnight
(``c_i += 86400 s`` from there on; a recording of more than a day needs dates). Date-times are read to the
nanosecond as integers, so ``t_i`` is exact to float64's rounding (below a nanosecond for 104 days). The seconds
then state the sample rate as any time column's do (:mod:`bpsrm.data.time_column`): to the precision the clock was
written with, a clock written to the millisecond holding no rate of 25.6 kHz samples.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

ClockKind = Literal["date_time", "date", "time_of_day"]

DATE_TIME_DTYPE = np.dtype("datetime64[ns]")
"""How :func:`numpy.loadtxt` reads a date-time or date column: nanoseconds since 1970, UTC."""
TIMEZONE_WARNING = "no explicit representation of timezones"
"""The start of the warning numpy gives when it brings a date-time with an offset (or ``Z``) to UTC."""
DAY = 86400.0
"""Seconds in a day."""

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d*)?)?"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_DATE_TIME = re.compile(rf"^{_DATE}[T ]{_TIME}{_OFFSET}?$")
_DATE_ONLY = re.compile(rf"^{_DATE}$")
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:[.,]\d*)?)$")
_SPLIT_OFFSET = re.compile(rf"^({_DATE}(?:[T ]{_TIME})?)({_OFFSET})?$")  # the offset only after a time


def clock_kind(field: str) -> ClockKind | None:
    """Which clock reading ``field`` is written as (``"date_time"``, ``"date"`` or ``"time_of_day"``), or None
    for anything else. The form is checked, not the values: ``2026-13-01`` is a date whose reading fails."""
    if _DATE_TIME.match(field):
        return "date_time"
    if _DATE_ONLY.match(field):
        return "date"
    if _TIME_OF_DAY.match(field):
        return "time_of_day"
    return None


def seconds_of_day(field: str) -> float:
    """The seconds since midnight of a time of day ``HH:MM:SS[.fff]``: ``3600 h + 60 m + s``; a ValueError naming
    the field when it is no such time (hours above 23, minutes or seconds above 59)."""
    match = _TIME_OF_DAY.match(field.strip())
    if match is None:
        raise ValueError(f"{field!r} is not a time of day HH:MM:SS")
    hours, minutes, seconds = int(match[1]), int(match[2]), float(match[3].replace(",", "."))
    if hours > 23 or minutes > 59 or not seconds < 60:
        raise ValueError(f"{field!r} is not a time of day (hours 0-23, minutes and seconds below 60)")
    return 3600.0 * hours + 60.0 * minutes + seconds


def date_time_ns(field: str) -> int:
    """Nanoseconds since 1970 (UTC) of an ISO 8601 date-time or date ``field``: ``local - offset``; a ValueError
    naming the field when it is none (a month 13, a second 60)."""
    parts = _SPLIT_OFFSET.match(field.strip())
    if parts is None:
        raise ValueError(f"{field!r} is not a date-time in ISO 8601")
    text, offset = parts.groups()
    try:
        local = np.datetime64(text.replace(",", "."), "ns")
    except ValueError as exc:
        raise ValueError(f"{field!r} is not a date-time ({exc})") from None
    if np.isnat(local):
        raise ValueError(f"{field!r} is not a date-time")
    shift = 0
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        minutes = 60 * int(digits[:2]) + (int(digits[2:]) if len(digits) > 2 else 0)
        shift = (1 if offset[0] == "+" else -1) * minutes * 60 * 10**9
    return int(local.astype(np.int64)) - shift


def elapsed_seconds(ns: np.ndarray) -> np.ndarray:
    """``t_i = (c_i - c_0) / 1e9`` of date-times ``ns`` (int64 nanoseconds or datetime64[ns]) as float64; NaN where
    a reading is missing (NaT), which no time axis holds."""
    raw = np.asarray(ns).view(np.int64) if np.asarray(ns).dtype.kind == "M" else np.asarray(ns, dtype=np.int64)
    missing = raw == np.iinfo(np.int64).min  # NaT
    start = raw[np.argmax(~missing)] if not missing.all() else 0
    seconds = (raw - start).astype(np.float64) / 1e9
    seconds[missing] = np.nan
    return seconds


def past_midnight(seconds_of_day: np.ndarray) -> np.ndarray:
    """Times of day made one running time: ``t_i = s_i - s_0 + 86400 k_i``, where ``k_i`` counts the steps up to
    ``i`` that go back by more than 12 hours (midnight passed); a smaller step back stays one, for the time
    column's check to refuse."""
    s = np.asarray(seconds_of_day, dtype=np.float64)
    days = np.concatenate(([0.0], np.cumsum(np.diff(s) < -DAY / 2)))
    return s - s[0] + DAY * days


def date_and_time(date_ns: np.ndarray, seconds_of_day: np.ndarray) -> np.ndarray:
    """A date column and the time-of-day column beside it as one running time: the date's whole days since the
    first date plus the time of day, ``t_i = (d_i - d_0) + s_i - s_0``."""
    return elapsed_seconds(date_ns) + np.asarray(seconds_of_day, dtype=np.float64) - float(seconds_of_day[0])


def clock_times(
    readings: dict[int, np.ndarray], kinds: dict[int, ClockKind]
) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """The running times ``t_i`` of a file's clock columns, each with the columns it was read from: a date column
    with a time-of-day column right after it makes one time (:func:`date_and_time`), any other date-time or date
    column one (:func:`elapsed_seconds`), and a time of day one (:func:`past_midnight`). ``readings`` holds each
    column's values as read: datetime64[ns] for a date-time or date, seconds since midnight for a time of day."""
    times: list[tuple[tuple[int, ...], np.ndarray]] = []
    paired: set[int] = set()
    for i in sorted(kinds):
        if i in paired:
            continue
        if kinds[i] == "date" and kinds.get(i + 1) == "time_of_day":
            times.append(((i, i + 1), date_and_time(readings[i], readings[i + 1])))
            paired.add(i + 1)
        elif kinds[i] == "time_of_day":
            times.append(((i,), past_midnight(readings[i])))
        else:
            times.append(((i,), elapsed_seconds(readings[i])))
    return times
