"""Time columns written as clock readings rather than seconds.

A data logger's CSV export often stamps each sample with the wall clock. Three forms are read:

* a date-time in ISO 8601, ``2026-01-01T12:00:00.000039`` (a space for the ``T``, a trailing ``Z`` or an offset
  ``+01:00`` / ``-0330`` allowed; a decimal comma too where the file writes them);
* a time of day, ``12:00:00.000039`` (hours 0-23, minutes and seconds below 60);
* a date and a time of day in two fields, as a file split at spaces holds ``2026-01-01 12:00:00.000039`` (or a
  ``Date`` column and a ``Time`` column anywhere in the file).

The first data line decides a column's kind, and every later field must be a reading of that kind (``now``, ``0``
or ``NaT``, which numpy's own reader takes, are refused, naming the line). Fields of one form to the character, as
a logger writes them, are read at once (:func:`read_column`); others one by one. Each reading becomes the seconds
since the column's first,

    t_i = c_i - c_0,

where a date-time is first brought to UTC (``c = local - offset``), so that a file whose offset changes with
daylight saving still runs on (one without an offset is taken as UTC, beside others too); and a time of day that
goes back by more than 12 hours has passed midnight (``c_i += 86400 s`` from there on; a recording of more than a
day needs dates). Date-times are read to the
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
"""How a date-time or date column is held: nanoseconds since 1970, UTC."""
DAY = 86400.0
"""Seconds in a day."""

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d*)?)?"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_DATE_TIME = re.compile(rf"^({_DATE}[T ]{_TIME})({_OFFSET})?$")
_DATE_ONLY = re.compile(rf"^{_DATE}$")
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:[.,]\d*)?)$")
_FIRST_YEAR, _LAST_YEAR = 1678, 2261  # the whole years that nanoseconds since 1970 in an int64 hold


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
    naming the field when it is none (a month 13, a second 60, an offset beyond 23:59, a year outside 1678-2261)."""
    field = field.strip()
    parts = _DATE_TIME.match(field) or _DATE_ONLY.match(field)
    if parts is None:
        raise ValueError(f"{field!r} is not a date-time in ISO 8601")
    text, offset = (parts[1], parts[2]) if parts.re is _DATE_TIME else (field, None)
    if not _FIRST_YEAR <= int(text[:4]) <= _LAST_YEAR:
        raise ValueError(f"{field!r} lies outside the years {_FIRST_YEAR}-{_LAST_YEAR}")
    try:
        local = np.datetime64(text.replace(",", "."), "ns")
    except ValueError as exc:
        raise ValueError(f"{field!r} is not a date-time ({exc})") from None
    return int(local.astype(np.int64)) - _offset_ns(offset, field)


def _offset_ns(offset: str | None, field: str) -> int:
    """Nanoseconds of a UTC offset ``Z``, ``+HH``, ``+HHMM`` or ``+HH:MM`` (0 for none)."""
    if not offset or offset == "Z":
        return 0
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:]) if len(digits) > 2 else 0
    if hours > 23 or minutes > 59:
        raise ValueError(f"{field!r} has no such offset from UTC ({offset})")
    return (1 if offset[0] == "+" else -1) * (60 * hours + minutes) * 60 * 10**9


def read_field(field: str, kind: ClockKind) -> float | int:
    """One reading of a clock column of ``kind``: :func:`seconds_of_day` of a time of day, :func:`date_time_ns` of a
    date-time or date (a ValueError naming the field where it is none), held as :func:`reading_dtype` says."""
    return seconds_of_day(field) if kind == "time_of_day" else date_time_ns(field)


def reading_dtype(kind: ClockKind) -> np.dtype:
    """How a column's readings are held: float64 seconds since midnight, or datetime64[ns] (UTC)."""
    return np.dtype(np.float64) if kind == "time_of_day" else DATE_TIME_DTYPE


def read_column(raw: np.ndarray, kind: ClockKind) -> np.ndarray | None:
    """A clock column's readings from its fields as read (``raw``, a bytes array ``S<n>``): datetime64[ns] (UTC)
    of a date-time or date, seconds since midnight (float64) of a time of day. Vectorised where every field has
    the first one's form to the character (digits where it has digits, its other characters where it has them: a
    logger's fixed format, 15 million lines in seconds); else field by field (:func:`date_time_ns`,
    :func:`seconds_of_day`). None where a field is no reading of ``kind`` (the caller names its line); the
    spaces around the fields (``", "`` between columns) are dropped."""
    if raw.size == 0:
        return None
    if raw[0] != raw[0].strip():
        raw = np.char.strip(raw)
    lengths = np.char.str_len(raw)
    same = _same_form(raw, lengths)
    try:
        if same is not None:
            return _read_vectorised(same, kind)
        return np.fromiter((read_field(f.decode(), kind) for f in raw), dtype=reading_dtype(kind), count=raw.size)
    except (ValueError, UnicodeDecodeError):
        return None


def _same_form(raw: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """``raw`` as ``[fields, length]`` bytes when every field has the first one's form to the character; else None."""
    length = int(lengths[0])
    if length == 0 or not np.all(lengths == length):
        return None
    chars = np.ascontiguousarray(raw).view(np.uint8).reshape(raw.size, raw.dtype.itemsize)[:, :length]
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    form = np.where(digit[0], digit, chars == chars[0])
    return chars if bool(form.all()) else None


def _read_vectorised(chars: np.ndarray, kind: ClockKind) -> np.ndarray:
    """:func:`read_column` of fields of one form, ``[fields, length]`` bytes; a ValueError for values out of range."""
    first = chars[0].tobytes().decode()
    chars = np.where(chars == ord(","), ord("."), chars).astype(np.uint8)  # a decimal comma in the seconds
    if kind == "time_of_day":
        width = len(first.split(":")[0])  # "7:05:09": one digit of hours on every line
        prefix = np.frombuffer(b"1970-01-01T" + b"0" * (2 - width), dtype=np.uint8)
        chars = np.concatenate([np.broadcast_to(prefix, (chars.shape[0], prefix.size)), chars], axis=1)
        seconds = _as_datetimes(chars).view(np.int64) / 1e9
        if not seconds.max() < 86400:
            raise ValueError("a time of day beyond 23:59:59")
        return seconds
    match = _DATE_TIME.match(first)
    offset = match[2] if match is not None else None
    if offset is None:
        return _as_datetimes(chars)
    local = _as_datetimes(chars[:, : len(first) - len(offset)])
    if offset == "Z":
        return local
    digits = chars[:, len(first) - len(offset) :].astype(np.int64) - ord("0")  # "+01:00": every line has the form
    sign = np.where(chars[:, len(first) - len(offset)] == ord("+"), 1, -1)
    places = [i for i, c in enumerate(offset) if c.isdigit()]
    hours = 10 * digits[:, places[0]] + digits[:, places[1]]
    minutes = 10 * digits[:, places[2]] + digits[:, places[3]] if len(places) == 4 else np.zeros_like(hours)
    if hours.max() > 23 or minutes.max() > 59:
        raise ValueError("an offset from UTC beyond 23:59")
    return (local.view(np.int64) - sign * (60 * hours + minutes) * 60 * 10**9).view(DATE_TIME_DTYPE)


def _as_datetimes(chars: np.ndarray) -> np.ndarray:
    """datetime64[ns] of ``[fields, length]`` bytes in numpy's ISO 8601 form; a ValueError outside 1678-2261."""
    text = np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").reshape(-1)
    years = (chars[:, :4].astype(np.int64) - ord("0")) @ np.array([1000, 100, 10, 1])
    if years.min() < _FIRST_YEAR or years.max() > _LAST_YEAR:
        raise ValueError(f"a year outside {_FIRST_YEAR}-{_LAST_YEAR}")
    return text.astype(DATE_TIME_DTYPE)


def elapsed_seconds(ns: np.ndarray) -> np.ndarray:
    """``t_i = (c_i - c_0) / 1e9`` of date-times ``ns`` (datetime64[ns] or int64 nanoseconds) as float64, the
    difference taken in integers."""
    raw = np.asarray(ns).view(np.int64)
    return (raw - raw[0]).astype(np.float64) / 1e9


def past_midnight(seconds_of_day: np.ndarray) -> np.ndarray:
    """Times of day made one running time: ``t_i = s_i - s_0 + 86400 k_i``, where ``k_i`` counts the steps up to
    ``i`` that go back by more than 12 hours (midnight passed); a smaller step back stays one, for the time
    column's check to refuse."""
    s = np.asarray(seconds_of_day, dtype=np.float64)
    days = np.concatenate(([0.0], np.cumsum(np.diff(s) < -DAY / 2)))
    return s - s[0] + DAY * days


def date_and_time(date_ns: np.ndarray, seconds_of_day: np.ndarray) -> np.ndarray:
    """A date column and its time-of-day column as one running time: the date's whole days since the
    first date plus the time of day, ``t_i = (d_i - d_0) + s_i - s_0``."""
    return elapsed_seconds(date_ns) + np.asarray(seconds_of_day, dtype=np.float64) - float(seconds_of_day[0])


def clock_times(
    readings: dict[int, np.ndarray], kinds: dict[int, ClockKind]
) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """The running times ``t_i`` of a file's clock columns, each with the columns it was read from, in file order:
    a date column and a time-of-day column make one time (:func:`date_and_time`; each date pairs with the first
    time-of-day column not yet paired, wherever it stands), any other date-time or date column one
    (:func:`elapsed_seconds`), and a time of day one (:func:`past_midnight`). ``readings`` holds each column's
    values as :func:`read_column` gives them."""
    times: list[tuple[tuple[int, ...], np.ndarray]] = []
    unpaired = [i for i in sorted(kinds) if kinds[i] == "time_of_day"]
    for i in sorted(kinds):
        if kinds[i] == "date" and unpaired:
            j = unpaired.pop(0)
            times.append(((i, j), date_and_time(readings[i], readings[j])))
    for i in sorted(kinds):
        if kinds[i] == "date_time" or (kinds[i] == "date" and not any(i in c for c, _ in times)):
            times.append(((i,), elapsed_seconds(readings[i])))
    times.extend(((j,), past_midnight(readings[j])) for j in unpaired)
    return sorted(times, key=lambda time: time[0])
