"""Vibration recordings as maintenance engineers have them, for ``bpsrm predict``.

:func:`read_recording` reads one file and picks one channel:

* ``.mat``: MATLAB v5 (``-v6`` / ``-v7``, read by the bounds-checked reader of
  :mod:`bpsrm.data.matfile`) and v7.3 (HDF5, needs ``h5py``). Every numeric vector
  variable is a channel; a 2-D array gives one channel per column or per row
  (the short dimension), named ``name[0]``, ``name[1]``, ... Scalars are not
  channels: ``X<n>RPM`` / ``rpm`` / ``speed_rpm`` give the shaft speed, ``fs`` /
  ``sample_rate`` (or ``samplerate``) / ``sampling_rate`` / ``sampling_frequency`` / ``sr`` (optionally ending in
  ``_hz``, or in ``_khz`` for kilohertz) the sample rate. A CWRU variable ``X<n>_DE_time`` (or ``_FE_time``,
  ``_BA_time``) of an official 12 kHz drive-end record number ``n`` gives the
  rate too: 48 kHz for the normal records 97-100, else 12 kHz. The number is
  the variable's, never the file name's.
* ``.csv`` / ``.txt``: numeric columns separated by commas, semicolons, tabs
  or spaces, with or without a header line (which names the channels; without
  one, the channels are ``"0"``, ``"1"``, ..., a clock column not counted). Lines starting with ``#`` or
  ``%`` are comments. With a semicolon, tab or space separator a decimal comma
  is accepted, and so is one number a line written with one ("-0,25"; where the
  file cannot tell it from two integers, as with "1,5" on every line, the
  commas separate: :func:`_commas_are_decimal`). A column named ``time``, ``t``,
  ``timestamp`` or ``zeit``, alone or with a unit as
  ``time_s``, ``time [s]``, ``Time (sec)`` or ``time seconds``, holds times in seconds; with ``ms`` (``msec``)
  in milliseconds, with ``us`` (``usec``, ``µs``, with the micro sign or the Greek mu) in microseconds: it is
  never a channel, and when it is evenly spaced (to the precision it was written with:
  :mod:`bpsrm.data.time_column`) it gives the sample rate. So does
  a column of clock readings, whatever its name or with no header: ISO 8601 date-times
  (``2026-01-01T12:00:00.000039``, an offset or ``Z`` allowed), times of day (``12:00:00.000039``), or a date and a
  time of day in two fields (:mod:`bpsrm.data.clock_column`). Where a file holds two time columns, both state
  their rate; a clock that states no times (one set back) is refused unless another column gives them or the
  caller gives the rate. A column named like time that starts again (segments of a recording written
  one after another, each timed from 0) is refused, naming the line.
  Lines that state the rate above the table, as comments or not, give it too (``# Sample rate: 25600 Hz``,
  ``fs = 25.6 kHz``, LabVIEW's ``Delta_X 3.906250E-5``: :func:`bpsrm.data.text_head.rate_statement`); a
  title or metadata above the table (no line of it a row of the table) is read as comments, a row of units
  under the column names goes into the names (``time [ms]``, so a time column's unit counts), and
  :attr:`Recording.notes` says so. LVM's empty last column ``Comment`` is no column, its ``X_Value`` a time.
* ``.npy``: a 1-D or 2-D numeric array (channels along the short dimension,
  named by their index). The file holds no rate.
* ``.wav``: PCM (8-bit unsigned, 16, 24 or 32-bit signed) or float; the rate
  comes from the header. Integer samples are scaled to full scale, ``[-1, 1)``.
  Channels are ``"0"``, ``"1"``, ... A file whose data chunk declares more
  bytes than it holds (a recording cut short) is refused.

Channel choice: ``channel`` (a name, or an index into
:attr:`Recording.channels`); else the drive-end ``X<n>_DE_time`` variable
by the training reader's rule (:func:`bpsrm.data.cwru.drive_end_variable`: the
one numbered after the file, else the only one; refused when it is empty or a
scalar); else the only channel; else a :class:`~bpsrm.errors.DataError` lists
the channels.

:func:`check_signal` rejects signals no model should be asked about (NaN,
too short, flat, clipped) and :func:`resample` brings a signal to the rate a
model was trained at.

Every problem with a file is a :class:`~bpsrm.errors.DataError` whose message
starts with the file's path and says what was found and what was expected; a
bad argument is a :class:`~bpsrm.errors.ParameterError`.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import math
import numbers
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import numpy as np

from ..checks import array, real_number, whole_number
from ..errors import DataError, ParameterError, shown
from .clock_column import ClockKind, clock_kind, clock_times, read_column, read_field, reading_dtype
from .cwru import CWRU_RECORDS, RPM_NAME, drive_end_variable, record_rpm, record_sample_rate
from .matfile import MAT_NUMERIC_CLASSES, MAX_VARIABLE_BYTES, Mat5, MatError
from .resampling import resample  # re-exported: recordings' readers and resample went together
from .text_fields import LINE_END, lvm_comment_column
from .text_fields import field_kind as _field_kind
from .text_fields import lines as text_lines
from .text_fields import number as _number
from .text_fields import split_fields as _split
from .text_head import TableLayout, comment_out, head_end, layout_hint, rates_stated, table_layout, with_units
from .time_column import first_restart, is_time_axis, rate_from_times, uneven_times

__all__ = ["RECORDING_SUFFIXES", "Recording", "check_signal", "read_recording", "resample"]

RECORDING_SUFFIXES = (".mat", ".csv", ".txt", ".npy", ".wav")
"""The file suffixes :func:`read_recording` reads (case does not matter)."""

_RATE_TOLERANCE = 1e-3  # a caller's sample rate may differ from the file's by 0.1 %
_CWRU_KEY = re.compile(r"^X(\d+)_(?:DE|FE|BA)_time$")
_RATE_NAME = re.compile(
    r"^(?:fs|sample_?rate|sampling_rate|sampling_frequency|sr)(?:_(?P<unit>hz|khz))?$", re.IGNORECASE
)
_TIME_UNIT = r"s|sec|secs|seconds|ms|msec|us|usec|µs|μs"  # the micro sign U+00B5 and the Greek mu U+03BC
_TIME_NAME = re.compile(
    rf"^(?:time|t|timestamp|zeit|x_value)(?:[_ ](?P<u1>{_TIME_UNIT})|\s*\[\s*(?P<u2>{_TIME_UNIT})\s*\]"
    rf"|\s*\(\s*(?P<u3>{_TIME_UNIT})\s*\))?$",
    re.IGNORECASE,
)
_SECONDS_PER = {"ms": 1e-3, "msec": 1e-3, "us": 1e-6, "usec": 1e-6, "µs": 1e-6, "μs": 1e-6}  # a time unit; else s
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_H5_NUMERIC_CLASSES = frozenset(
    {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "logical"}
)
_MAT5_ERRORS = (MatError, zlib.error, struct.error, ValueError, OverflowError, MemoryError, IndexError)


@dataclass(frozen=True, eq=False)
class Recording:
    """One channel of a vibration recording, as read by :func:`read_recording`."""

    path: Path
    """The file read."""
    signal: np.ndarray
    """The chosen channel, 1-D: float64, or float32 as a float32 ``.npy`` file holds it (half the memory of an
    hour-long recording; :class:`~bpsrm.data.resampling.Resampler` computes in float64 a span at a time)."""
    sample_rate_hz: float | None
    """Samples per second: the caller's if given, else the file's; ``None`` when neither says."""
    rpm: float | None
    """Shaft speed: the caller's if given, else the file's (CWRU ``X<n>RPM``, ``rpm``, ``speed_rpm``); or ``None``."""
    channel: str
    """The chosen channel's name: variable name, CSV column header, or its index as text."""
    channels: tuple[str, ...]
    """Every channel the file offers, in file order (a time column is not a channel)."""
    physical: bool = True
    """Whether the samples are in the unit the sensor was read in. False for a ``.wav``: its samples are fractions
    of the format's full scale, whose level says nothing of the vibration's (``bpsrm predict`` does not check it)."""
    notes: tuple[str, ...] = ()
    """What reading the file did that its user should know: lines above a CSV's table read as comments."""


@dataclass
class _Content:
    """What a file offers, before a channel is chosen."""

    channels: dict[str, np.ndarray | Callable[[], np.ndarray]]  # a callable reads the channel when it is chosen
    rates: list[tuple[float, str]]  # sample rates the file states, with where it states them
    rpms: dict[str, float]  # rpm scalars by variable name
    channel_rates: dict[str, tuple[float, str]]  # rate implied by a channel's own name (CWRU layout)
    skipped: dict[str, str]  # variables that are not channels -> why (shown as "name (why)")
    time_names: set[str] = dataclasses.field(default_factory=set)  # every column of times (none is a channel)
    clock_problem: str | None = None  # why a clock column states no times, where no other column gives them
    bare_times: set[str] = dataclasses.field(default_factory=set)  # where the rates of time columns without a unit
    uneven_times: list[tuple[str, float, float]] = dataclasses.field(default_factory=list)
    """Each time column that states no rate: what is wrong with it, its mean rate, and that rate's uncertainty."""
    physical: bool = True  # the samples in the sensor's unit (False: fractions of a .wav's full scale)
    notes: list[str] = dataclasses.field(default_factory=list)
    """What reading the file did that its user should know (lines above the table read as comments)."""


# ---------------------------------------------------------------------------------------------------------------------
# Public functions


def read_recording(
    path: str | os.PathLike[str],
    *,
    sample_rate_hz: float | None = None,
    channel: str | int | None = None,
    rpm: float | None = None,
) -> Recording:
    """Read one channel of the vibration recording at ``path`` (``.mat``, ``.csv``, ``.txt``, ``.npy``, ``.wav``).

    ``sample_rate_hz`` is the rate in Hz when the file does not state it; when
    it does, the two must agree within 0.1 % (the caller's value is kept), or
    a :class:`~bpsrm.errors.DataError` names both; a file that states two
    different rates needs the caller's, which must match one of them. ``channel`` picks a channel
    by name or by index into :attr:`Recording.channels` (a text that is not a
    channel name but an integer counts as an index). ``rpm``, when given,
    replaces the file's shaft speed. The rate is never guessed: it is
    ``None`` when neither the file nor the caller states it.

    The signal is returned as stored; call :func:`check_signal` before using it.
    """
    path = Path(path)
    given_rate = _positive_or_none("sample_rate_hz", sample_rate_hz)
    given_rpm = _positive_or_none("rpm", rpm)
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, (str, numbers.Integral))):
        raise ParameterError(f"channel must be a channel name or an int index, got {shown(channel)}")
    suffix = path.suffix.lower()
    if suffix not in RECORDING_SUFFIXES:
        raise DataError(
            f"{path}: unknown recording format {path.suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(RECORDING_SUFFIXES)}"
        )
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: a folder, expected a {suffix} file")
    reader = {".mat": _read_mat, ".csv": _read_text, ".txt": _read_text, ".npy": _read_npy, ".wav": _read_wav}
    content = reader[suffix](path)
    if not content.channels:
        skipped = ", ".join(f"{name} ({why})" for name, why in content.skipped.items())
        found = f"; found {skipped}" if skipped else ""
        raise DataError(f"{path}: no numeric signal (expected a numeric vector or column){found}")

    name = _choose_channel(path, content, channel)
    chosen = content.channels[name]
    try:
        values = np.asarray(chosen() if callable(chosen) else chosen)
        kept = values.dtype if values.dtype in (np.float32, np.float64) else np.float64  # float32 stays: no copy
        signal = np.ascontiguousarray(values, dtype=kept)
    except DataError as exc:  # a lazily read channel (a .mat variable)
        raise DataError(f"{path}: {exc}") from None
    if signal.size == 0:
        raise DataError(f"{path}: channel {name!r} holds no samples")

    stated = _stated_rates(content, name)
    if content.clock_problem is not None and given_rate is None:
        raise DataError(content.clock_problem)
    rate: float | None = None
    if given_rate is not None:
        if stated and not any(_same_rate(given_rate, value) for value, _ in stated):
            said = " and ".join(f"{value:.10g} Hz ({where})" for value, where in stated)
            hints = (_scale_hint(given_rate, value, where, where in content.bare_times) for value, where in stated)
            hint = next((h for h in hints if h), None)
            raise DataError(
                f"{path}: the file says {said} but a sample rate of {given_rate:.10g} Hz was given; they should "
                f"agree within {_RATE_TOLERANCE:.1%}. "
                + (
                    hint
                    or "Check the file, or leave the rate out (--sample-rate applies to every file of a command: "
                    "give the files that state their own rate in a command of their own)"
                )
            )
        rate = given_rate
    elif stated:
        first = stated[0]
        for other in stated[1:]:
            if not _same_rate(first[0], other[0]):
                raise DataError(
                    f"{path}: the file states two sample rates, {first[0]:.10g} Hz ({first[1]}) and "
                    f"{other[0]:.10g} Hz ({other[1]}); pass the right one with --sample-rate"
                )
        rate = first[0]
    for uneven in content.uneven_times:  # each time column that states no rate must agree with the rate read
        source = "given" if given_rate is not None else f"of the {stated[0][1]}" if stated else ""
        _check_uneven_times(path, uneven, rate, source)
    if rate is not None and not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        how = "given" if given_rate is not None else "stated by the file"
        raise DataError(
            f"{path}: a sample rate of {rate:.6g} Hz ({how}); expected {MIN_RATE_HZ:g} Hz to {MAX_RATE_HZ:g} Hz "
            "(is it in Hz? a time column in seconds?)"
        )
    return Recording(
        path=path,
        signal=signal,
        sample_rate_hz=rate,
        rpm=given_rpm if given_rpm is not None else _file_rpm(content, name),
        channel=name,
        channels=tuple(content.channels),
        physical=content.physical,
        notes=tuple(content.notes),
    )


def check_signal(signal: np.ndarray, where: str, *, min_samples: int) -> None:
    """Raise a :class:`~bpsrm.errors.DataError` starting with ``where`` when ``signal`` is unusable.

    Unusable: non-finite values (NaN, Inf); fewer than ``min_samples``
    samples; flat (peak-to-peak 0, or a standard deviation below 1e-12 of the
    largest magnitude) or of at most three distinct values (+-1 LSB of quantisation
    noise): a dead sensor or a disconnected channel; clipped: more
    than 1 % of the samples sit at the exact minimum or maximum value, and
    that value occurs at least twice as often as the next value inward (a
    pile-up, which coarse quantisation does not make): a saturated sensor.
    Consecutive runs are not required: a sharp impact clipped at 12 kHz
    stays at the limit for only one or two samples.
    """
    x = array(f"{where}: the signal", signal, ndim=1)
    min_samples = whole_number(f"{where}: min_samples", min_samples)
    if x.dtype.kind != "f":  # whole numbers; a float32 signal is judged as it is, without a float64 copy
        x = x.astype(np.float64)
    n = x.size
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        nan = int(np.count_nonzero(np.isnan(x)))
        first = int(np.argmax(~np.isfinite(x)))
        raise DataError(
            f"{where}: {bad} of {n} samples are not finite ({nan} NaN, {bad - nan} infinite; the first is sample "
            f"{first}, counted from 0); expected finite numbers"
        )
    if n < min_samples:
        raise DataError(f"{where}: {n} samples, fewer than the {min_samples} needed")
    lo, hi = float(x.min()), float(x.max())
    std = _spread(x)
    if not (math.isfinite(hi - lo) and math.isfinite(std)):
        raise DataError(
            f"{where}: values from {lo:g} to {hi:g}, too large to normalise (their spread overflows a 64-bit float); "
            "expected a signal in physical units"
        )
    if hi - lo == 0 or std < 1e-12 * max(1.0, abs(lo), abs(hi)):
        raise DataError(
            f"{where}: flat (peak-to-peak {hi - lo:g}, standard deviation {std:g}): "
            "a dead sensor or a disconnected channel"
        )
    dead = _few_levels(x)
    if dead is not None:
        raise DataError(
            f"{where}: only {dead.size} distinct values ({', '.join(f'{v:g}' for v in dead)}): a dead sensor "
            "reading its own quantisation noise, or a disconnected channel"
        )
    clipped = [v for v in (lo, hi) if _piles_up(x, v, lo, hi)]
    at_ends = sum(int(np.count_nonzero(x == v)) for v in clipped)
    if clipped and at_ends > 0.01 * n:
        if len(clipped) == 2 and math.isclose(-lo, hi, rel_tol=1e-9):
            levels = f"+-{hi:g}"
        else:
            levels = " and ".join(f"{v:+g}" for v in clipped)
        raise DataError(
            f"{where}: clipped at {levels}: a saturated sensor ({at_ends} of {n} samples, "
            f"{at_ends / n:.1%}, sit at that level; expected at most 1 %)"
        )


def _spread(x: np.ndarray, chunk: int = 1 << 20) -> float:
    """The standard deviation of ``x`` (about its mean, divided by n), a chunk at a time: ``x.std()`` would hold a
    copy of an hour-long recording beside it. Inf or NaN where the spread overflows a float64 (judged by the
    caller)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(x, dtype=np.float64))
        total = sum(
            float(np.square(x[i : i + chunk].astype(np.float64, copy=False) - mean).sum())
            for i in range(0, x.size, chunk)
        )
        return math.sqrt(total / x.size) if x.size else math.nan


MAX_DEAD_LEVELS = 3
"""A signal of at most this many distinct values is a dead sensor's quantisation noise (+-1 LSB), not vibration."""


def _few_levels(x: np.ndarray) -> np.ndarray | None:
    """The distinct values of ``x`` when there are at most :data:`MAX_DEAD_LEVELS` of them, else None (judged on
    a strided sample of about 65,536 values first, so that a long live signal costs little)."""
    if np.unique(x[:: max(1, x.size // 65_536)]).size > MAX_DEAD_LEVELS:
        return None
    values = np.unique(x)
    return values if values.size <= MAX_DEAD_LEVELS else None


MIN_RATE_HZ = 1e-3
MAX_RATE_HZ = 1e9
"""The sample rates a recording may have, given or stated (1 mHz to 1 GHz): beyond them a rate is a typo or a
misread unit, and the window arithmetic would overflow (1e308 Hz) or divide by nearly zero (1e-308 Hz)."""

# ---------------------------------------------------------------------------------------------------------------------
# Arguments, channels, rates


def _positive_or_none(name: str, value: Any) -> float | None:
    return None if value is None else real_number(name, value, above=0)


def _listing(names: Any, limit: int = 20) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _choose_channel(path: Path, content: _Content, channel: str | int | None) -> str:
    names = list(content.channels)
    if channel is None:
        # The training reader's rule (bpsrm.data.cwru) over every variable of the file, as the training reader
        # sees them: one that is no usable signal here (empty, a scalar) is refused, not passed over for another.
        drive_end = drive_end_variable([*names, *content.skipped], path)
        if drive_end is not None and drive_end in content.skipped:
            raise DataError(
                f"{path}: its drive-end variable is not a signal: {drive_end} ({content.skipped[drive_end]}); pass "
                "--channel NAME or --channel INDEX (0-based) to read another channel"
            )
        if drive_end is not None:
            return drive_end
        if len(names) == 1:
            return names[0]
        raise DataError(
            f"{path}: {len(names)} channels ({_listing(names)}) and none of them is the only drive-end "
            "X<n>_DE_time or the one numbered after the file; say which one to read: pass --channel NAME or "
            "--channel INDEX (0-based)"
        )
    if isinstance(channel, str):
        if channel in content.channels:
            return channel
        if channel in content.time_names:
            raise DataError(f"{path}: {shown(channel)} is a time column, not a signal; channels: {_listing(names)}")
        try:
            channel = int(channel)
        except ValueError:
            raise DataError(f"{path}: no channel {shown(channel)}; channels: {_listing(names)}") from None
    if not 0 <= channel < len(names):
        raise DataError(
            f"{path}: no channel index {channel}; expected 0 to {len(names) - 1} for channels {_listing(names)}"
        )
    return names[channel]


def _stated_rates(content: _Content, name: str) -> list[tuple[float, str]]:
    """The sample rates the file states for channel ``name``, each with where it states it."""
    stated = list(content.rates)
    if name in content.channel_rates:
        stated.append(content.channel_rates[name])
    return stated


def _same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= _RATE_TOLERANCE * max(a, b)


def _scale_hint(given: float, stated: float, where: str, bare: bool) -> str | None:
    """What to do where a rate given is a thousand or a million times the one a time column states whose name
    holds no unit (``bare``: its times in milliseconds or microseconds?), or a thousandth of the file's (kHz given
    for Hz)."""
    if bare:
        for factor, unit, names in (
            (1e3, "milliseconds", "'time_ms' or 'Time [ms]'"),
            (1e6, "microseconds", "'time_us'"),
        ):
            if _same_rate(given, stated * factor):
                return (
                    f"The rate given is {factor:,.0f} times what the {where} states: are its times in {unit}? Say "
                    f"so in the header ({names}), and the column states the rate itself"
                )
    if _same_rate(given * 1e3, stated):
        return "The rate given is a thousandth of the file's: is it in kHz? --sample-rate takes Hz"
    return None


def _file_rpm(content: _Content, name: str) -> float | None:
    cwru = _CWRU_KEY.match(name)
    return record_rpm(content.rpms, int(cwru.group(1)) if cwru else None)


def _add_array(
    content: _Content, name: str, shape: tuple[int, ...], load: Callable[[], np.ndarray] | np.ndarray
) -> None:
    """Add a variable of ``shape``: a scalar (rate, rpm or nothing), a vector, or a 2-D array of channels.

    ``load`` reads its values as float64 (or is them): it is called for a scalar at once, for a channel only
    when that channel is chosen, so a file's other variables are never read (each may hold up to
    :data:`~bpsrm.data.matfile.MAX_VARIABLE_BYTES`)."""
    read = functools.cache(load) if callable(load) else (lambda: load)
    size = math.prod(shape)
    vector = len(shape) == 1 or (len(shape) == 2 and min(shape) == 1)
    if size == 0:
        content.skipped[name] = "empty"
    elif size == 1:
        value = float(read().reshape(-1)[0])
        rate_name = _RATE_NAME.match(name)
        if rate_name:
            if not (math.isfinite(value) and value > 0):
                raise DataError(f"{name} = {value:g} is not a sample rate (expected a positive number of Hz)")
            kilo = (rate_name.group("unit") or "").lower() == "khz"
            content.rates.append((value * 1000 if kilo else value, f"variable {name}"))
        elif RPM_NAME.match(name):
            if math.isfinite(value) and value > 0:
                content.rpms[name] = value
        else:
            content.skipped[name] = "a scalar"
    elif vector:
        content.channels[name] = lambda: read().reshape(-1)
        cwru = _CWRU_KEY.match(name)
        if cwru and int(cwru.group(1)) in CWRU_RECORDS:
            number = int(cwru.group(1))
            content.channel_rates[name] = (
                float(record_sample_rate(number)),
                f"{name}: CWRU record {number} is sampled at {record_sample_rate(number) // 1000} kHz",
            )
    elif len(shape) == 2:
        along_rows = shape[0] >= shape[1]  # the long dimension is time
        for i in range(shape[1] if along_rows else shape[0]):
            content.channels[f"{name}[{i}]"] = (lambda i=i: read()[:, i]) if along_rows else (lambda i=i: read()[i, :])  # type: ignore[misc]
    else:
        content.skipped[name] = f"a {len(shape)}-D array"


# ---------------------------------------------------------------------------------------------------------------------
# .mat


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc


def _new_content() -> _Content:
    return _Content(channels={}, rates=[], rpms={}, channel_rates={}, skipped={})


def _read_mat(path: Path) -> _Content:
    data = _read_bytes(path)
    if data[:19] == b"MATLAB 7.3 MAT-file" or any(data[at : at + 8] == _HDF5_SIGNATURE for at in (0, 512, 1024, 2048)):
        return _read_mat73(path)
    try:
        mat = Mat5(data)
    except _MAT5_ERRORS as exc:
        raise DataError(
            f"{path}: not a readable MATLAB .mat file ({exc}); expected MATLAB v5 (-v6, -v7) or v7.3 (HDF5)"
        ) from exc
    content = _new_content()
    for name in dict.fromkeys(mat.names):
        header = mat.header(name)
        if header.mx_class not in MAT_NUMERIC_CLASSES or header.is_complex:
            content.skipped[name] = "not a real numeric array"
            continue

        def load(name: str = name) -> np.ndarray:
            try:
                return mat.values(name)
            except _MAT5_ERRORS as exc:
                raise DataError(f"cannot read variable {name} ({exc})") from exc

        try:
            _add_array(content, name, tuple(header.dims), load)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
    return content


def _read_mat73(path: Path) -> _Content:
    try:
        import h5py
    except ImportError:
        raise DataError(
            f"{path}: a MATLAB v7.3 (HDF5) file; reading it needs h5py: pip install h5py (or save the file with -v7)"
        ) from None
    content = _new_content()
    try:
        with h5py.File(path, "r") as file:
            for name in file:
                if name.startswith("#"):  # #refs#, #subsystem#: MATLAB's own storage
                    continue
                item = file[name]
                if not isinstance(item, h5py.Dataset):
                    content.skipped[name] = "a struct or group"
                    continue
                mat_class = item.attrs.get("MATLAB_class")
                if isinstance(mat_class, (bytes, np.bytes_)):
                    mat_class = mat_class.decode("ascii", "replace")
                if (
                    (mat_class is not None and mat_class not in _H5_NUMERIC_CLASSES)
                    or item.attrs.get("MATLAB_empty", 0)
                    or item.dtype.kind not in "iufb"
                ):
                    content.skipped[name] = "not a real numeric array"
                    continue
                shape = tuple(item.shape)[::-1] if mat_class is not None else tuple(item.shape)
                _add_array(
                    content, name, shape or (1,), functools.partial(_h5_values, path, name, mat_class is not None)
                )
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError, RuntimeError... on damaged files
        raise DataError(f"{path}: not a readable MATLAB v7.3 (HDF5) file ({type(exc).__name__}: {exc})") from exc
    return content


def _h5_values(path: Path, name: str, transposed: bool) -> np.ndarray:
    """Dataset ``name`` of an HDF5 .mat file as float64 (MATLAB's shape when ``transposed``), at most
    :data:`~bpsrm.data.matfile.MAX_VARIABLE_BYTES` of them: the file is opened again, for the one chosen.
    Its DataError does not name the file: the caller, which knows it, does."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            item = file[name]
            if item.size * 8 > MAX_VARIABLE_BYTES:  # a dataset of fill values is tiny on disk, not in memory
                raise DataError(
                    f"variable {name} holds {item.size} values, {item.size * 8} bytes as float64, "
                    f"more than this reader accepts ({MAX_VARIABLE_BYTES})"
                )
            values = np.atleast_1d(np.asarray(item[()], dtype=np.float64))
    except DataError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError, RuntimeError... on damaged files
        raise DataError(f"cannot read variable {name} ({type(exc).__name__}: {exc})") from exc
    return values.T if transposed else values


# ---------------------------------------------------------------------------------------------------------------------
# .csv / .txt


def _read_text(path: Path) -> _Content:
    """A text recording's table; where it is refused at lines above the table that are no part of it (a title,
    metadata: :func:`~bpsrm.data.text_head.table_layout`), the table below them, those lines read as comments."""
    data = _read_bytes(path)
    if b"\x00" in data[:65536]:
        raise DataError(f"{path}: binary data, expected text with numeric columns")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    del data
    odd_breaks = any(c in text for c in _ODD_BREAKS)  # line ends numpy's reader does not know: line by line only
    sniffed = list(itertools.islice(_data_lines(text, odd_breaks, few=True), 1000))  # the first data (or a header)
    if not sniffed:
        raise DataError(f"{path}: no data lines, expected numeric columns")
    try:
        return _read_table(path, text, odd_breaks, sniffed)
    except DataError as refused:
        layout = table_layout(sniffed, decimal_comma=False)
        mend = None if odd_breaks else _mended(text, sniffed, layout)  # (lines numbered as str.splitlines does)
        if mend is None:
            raise DataError(f"{refused}{layout_hint(sniffed, layout)}") from None
    mended, how = mend
    del text, mend  # the mended copy alone is read
    try:
        content = _read_table(
            path, mended, odd_breaks, list(itertools.islice(_data_lines(mended, odd_breaks, True), 1000))
        )
    except DataError as inside:  # the fault lies in the table
        raise DataError(f"{inside}; {how}") from None
    content.notes.append(f"{path}: {how}")
    return content


def _mended(text: str, sniffed: list[tuple[int, str]], layout: TableLayout | None) -> tuple[str, str] | None:
    """``text`` with what stands above its table mended, and what was done; None where nothing is to mend. A row of
    units goes into the names above it (:func:`~bpsrm.data.text_head.with_units`); a title or metadata above the
    table (:func:`~bpsrm.data.text_head.head_end`) is read as comments."""
    if layout is not None and layout.units and layout.names is not None:
        number, line = sniffed[layout.names + 1]
        how = f"line {number} ({line[:40]!r}) was read as the units of the columns"
        above = sniffed[layout.names][0] - 1
        if above:
            how += (
                "; line 1 above their names was read as a comment"
                if above == 1
                else (f"; lines 1 to {above} above their names were read as comments")
            )
        return with_units(text, sniffed, layout), how
    top = head_end(layout)
    if top is None:
        return None
    above = sniffed[top][0] - 1
    lines = "line 1 stands" if above == 1 else f"lines 1 to {above} stand"
    comments = "was read as a comment" if above == 1 else "were read as comments"
    return comment_out(text, above), f"{lines} above the table and {comments} (a title or metadata)"


def _read_table(path: Path, text: str, odd_breaks: bool, sniffed: list[tuple[int, str]]) -> _Content:
    """The table of ``text``, whose first data lines (or header) are ``sniffed``; the rates that the lines above
    it state (comments, or a head read as comments: :func:`~bpsrm.data.text_head.rates_stated`) count."""
    head = sniffed[:2]
    probe = head[1][1] if len(head) > 1 else head[0][1]
    sep = next((s for s in (";", "\t", ",") if s in probe), None)
    decimal_comma = sep != "," and any(_DECIMAL_COMMA.match(field) for field in _split(probe, sep))
    if sep == "," and _commas_are_decimal([line for _, line in sniffed]):
        sep, decimal_comma = None, True  # "0,125 -0,5" or "-0,25" alone: decimal commas between spaces, or none

    header = _header(path, head, sep, decimal_comma)
    width = len(header) if header is not None else len(_split(head[0][1], sep))
    skip = head[0][0] if header is not None else head[0][0] - 1  # the header, or the comments above the data
    clocks = _clocks(_split(head[1][1] if header is not None else head[0][1], sep)[:width], decimal_comma)
    loaded = None if odd_breaks else _fast_columns(text, sep, decimal_comma, skip, width, clocks)
    if loaded is None:  # line by line: the stripped data lines through loadtxt, else the reader that names a bad line
        first = sniffed[1 if header is not None else 0 :]  # a bad line among them is named before all lines are held
        if _joined_columns(first, sep, decimal_comma, width, clocks) is None:
            _parse_rows(path, first, sep, decimal_comma, width, header, clocks)
        lines = list(_data_lines(text, odd_breaks))[1 if header is not None else 0 :]
        loaded = _joined_columns(lines, sep, decimal_comma, width, clocks)
        if loaded is None:
            loaded = _parse_rows(path, lines, sep, decimal_comma, width, header, clocks)
    values, readings = loaded
    if header is None:
        _first_line_in_scale(path, values, [i for i in range(width) if i not in clocks], head[0])
    names = _column_names(header, width, skipped=clocks)
    content = _new_content()
    if not odd_breaks:  # rates_stated counts lines as CR and LF end them
        content.rates.extend(rates_stated(text, head[0][0] - 1))
    times: list[tuple[str, np.ndarray]] = []  # the time axes: clock columns, then the first named like time
    content.time_names.update(names[i] for i in clocks)
    for columns, seconds in clock_times(readings, {i: clock.kind for i, clock in clocks.items()}):
        name = " ".join(names[i] for i in columns)  # a date and a time of day: "Date Time"
        if is_time_axis(seconds):
            times.append((name, seconds))
        elif content.clock_problem is None:
            content.clock_problem = _clock_problem(path, text, odd_breaks, header is not None, name, seconds)
    del readings
    named_time = False
    for i, name in enumerate(names):
        if i in clocks:
            continue  # a clock column is never a channel
        unit = _TIME_NAME.match(name) if header is not None and not named_time else None
        scale = _SECONDS_PER.get(next((g.lower() for g in unit.groups() if g), "s"), 1.0) if unit else 1.0
        seconds = values[:, i] * scale if scale != 1.0 else values[:, i]
        if unit is not None and is_time_axis(seconds):
            times.append((name, seconds))  # a further column named like time is a channel, as a temperature "T"
            content.time_names.add(name)
            if not any(unit.groups()):
                content.bare_times.add(_time_where(name))
            named_time = True
            continue
        restart = first_restart(seconds) if unit is not None else None
        if restart is not None:
            number, _ = _line_of_row(text, odd_breaks, header is not None, restart)
            raise DataError(
                f"{path}: line {number}: the time column {name!r} goes back from {seconds[restart - 1]:.6g} s to "
                f"{seconds[restart]:.6g} s, as where one segment of a recording ends and the next starts: the "
                "samples are no one recording. Read each segment as a file of its own (cut the file at that line)"
            )
        content.channels[name] = values[:, i]
    _take_time_columns(content, times)
    return content


FIRST_LINE_SCALE = 1000.0
"""How many times the largest value below it a headerless file's first line may hold before it is taken for a
number written above the samples (a rate, a count: ``25600`` above values of a few g) rather than a sample."""


def _first_line_in_scale(path: Path, values: np.ndarray, columns: list[int], first: tuple[int, str]) -> None:
    """A DataError where the first line of a file without a header holds a value :data:`FIRST_LINE_SCALE` times
    the largest of its column below it, in one of the numeric ``columns`` (a clock column's values are unset), as a
    logger's rate or sample count written above the samples does (read as a sample, it passed every check:
    helper-95). Each column's largest magnitude is read off its maximum and minimum: no copy of the values."""
    if values.shape[0] < 3:
        return
    for column in columns:
        below = values[1:, column]
        largest = max(float(below.max()), -float(below.min()))
        if largest > 0 and math.isfinite(largest) and abs(values[0, column]) > FIRST_LINE_SCALE * largest:
            raise DataError(
                f"{path}: line {first[0]} holds {values[0, column]:.6g}, more than {FIRST_LINE_SCALE:g} times the "
                f"largest value below it ({largest:.6g}): a number written above the samples (a rate, a count) "
                f"rather than a sample? Mark it as a comment (# first) or remove it: {first[1][:80]!r}"
            )


def _header(path: Path, head: list[tuple[int, str]], sep: str | None, decimal_comma: bool) -> list[str] | None:
    """The first line's fields where it is a header (:func:`_names_above`), else None."""
    first = _split(head[0][1], sep)
    if not _names_above(first, _split(head[1][1], sep) if len(head) > 1 else first, decimal_comma):
        return None
    if len(head) < 2:
        raise DataError(f"{path}: a header line and no data lines, expected numeric columns")
    if lvm_comment_column(first, len(_split(head[1][1], sep))):
        return first[:-1]
    return first


def _names_above(first: list[str], below: list[str], decimal_comma: bool) -> bool:
    """Whether the fields ``first`` name the columns of the line ``below`` rather than being data: where one is
    neither a number nor a clock reading, or a clock reading stands above a field that is none (a channel named by
    its start time, "2026-03-01T12:00:00", above numbers; a date above a date-time is data)."""
    kinds = [_field_kind(field, decimal_comma) for field in first]
    others = [_field_kind(field, decimal_comma) for field in below]
    return None in kinds or any(
        kind != "number" and other in (None, "number") for kind, other in zip(kinds, others, strict=False)
    )


def _column_names(header: list[str] | None, width: int, skipped: Container[int]) -> list[str]:
    """The columns' names: the header's (an empty or repeated name: the column's index, made unique); without a
    header, the channels are numbered 0, 1, ... and the ``skipped`` columns (clocks) named by their index in the
    file, so that a channel's name and its index among the channels agree."""
    if header is None:
        numbers = iter(range(width))
        return [f"column {i}" if i in skipped else str(next(numbers)) for i in range(width)]
    names = [str(i) for i in range(width)]
    seen: set[str] = set()
    for i, field in enumerate(header):
        name = field if field and field not in seen else str(i)
        while name in seen:  # header "a,2,," names column 1 "2": column 2 is then "#2"
            name = "#" + name
        names[i] = name
        seen.add(name)
    return names


def _time_where(name: str) -> str:
    """Where a rate a time column states is said to come from."""
    return f"time column {name!r}"


def _take_time_columns(content: _Content, times: list[tuple[str, np.ndarray]]) -> None:
    """What the file's time axes say of the rate: every rate stated counts (two that disagree leave the rate to the
    caller, as any two rates a file states do), and every time axis that states none must agree with the rate read
    (a clock to the second beside a column of seconds). Where there is a time axis, a clock that states no times is
    no matter."""
    for name, seconds in times:
        rate = rate_from_times(seconds)
        if rate is not None:
            content.rates.append((rate, _time_where(name)))
        else:
            content.uneven_times.append(uneven_times(name, seconds))
    if times:
        content.clock_problem = None


def _commas_are_decimal(lines: list[str]) -> bool:
    """Whether the commas of ``lines`` (the first data lines of a text, a header perhaps first) are decimal commas
    between numbers separated by spaces or tabs ("0,125 -0,5"), or one number a line ("-0,25"), rather than
    separators. Every line must read as numbers with decimal commas, as many on every line. Then no where the
    header's names are separated by commas; yes where the header names as many columns as that reading gives;
    yes where the lines hold several such numbers each and the commas cut through the spaces between them; or,
    the commas making numbers of every line as well, as many on each, yes where some line holds what no writer of
    integers writes: a signed zero or a leading zero ("-0,25" read as the integers -0 and 25, "0,05" as 0 and
    05). Lines the commas make ragged or empty fields of ("2," or "3" among "0,512") stay comma-separated, to be
    refused as such; two integers a line with no such zero ("1,5") stay two columns: the file cannot tell."""
    if not lines:
        return False
    header = not _comma_numbers(lines[0]) and (
        not _decimal_numbers(lines[0])
        or (len(lines) > 1 and _names_above(_split(lines[0], None), _split(lines[1], None), True))
    )
    data = lines[1:] if header else lines
    if not data or not all(_decimal_numbers(line) for line in data):
        return False
    by_space = {len(_split(line, None)) for line in data}
    by_comma = {len(_split(line, ",")) for line in data}
    if len(by_space) > 1:
        return False
    if header:
        if len(_split(lines[0], ",")) > 1:
            return False  # "a,b" above "0,125": the commas separate the names, and so the numbers
        if by_space == {len(_split(lines[0], None))}:
            return True  # "accel" above "0,125", "time accel" above "0,0 0,125"
    if by_space != {1} and any(
        (" " in field or "\t" in field) and clock_kind(field) is None for line in data for field in _split(line, ",")
    ):
        return True  # "0,0 0,125": the commas cut through the spaces between numbers (not a date and time)
    if len(by_comma) > 1 or not all(_comma_numbers(line) for line in data):
        return False
    return any(_INTEGER_TELL.match(field) for line in data for field in _split(line, ","))


def _decimal_numbers(line: str) -> bool:
    """Whether every field of ``line`` split at spaces is a number written with a decimal comma ("-0,25", ",5") or
    without one ("3"), or a clock reading ("2026-03-01", "12:00:00,000039"); "2," is none."""
    fields = _split(line, None)
    return bool(fields) and all(
        _DECIMAL_COMMA.match(field)
        or ("," not in field and _number(field, False) is not None)
        or clock_kind(field) is not None
        for field in fields
    )


def _comma_numbers(line: str) -> bool:
    """Whether every field of ``line`` split at commas is a number."""
    return all(_number(field, False) is not None for field in _split(line, ","))


_INTEGER_TELL = re.compile(r"^(?:[+-]0\d*|[+-]?0\d+)$")
"""A signed zero or a zero before other digits: how a decimal comma's sides may look, and no program's integer."""


def _data_lines(text: str, odd_breaks: bool, few: bool = False) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` of the lines of ``text`` that hold something other than a comment (``#``
    or ``%`` first), one at a time: a list of them took some 130 bytes a line, 2 GB for ten minutes at 25.6 kHz.
    Lines end where ``str.splitlines`` ends them (LF, CR LF, old Macs' CR alone, and form feeds and the like,
    rare enough to be split the costly way where ``odd_breaks`` says the text holds them). With ``few`` (the
    first lines only are read) the lines are cut from ``text`` as they are asked for, without the copy of the
    whole text that a StringIO makes (4 bytes a character); the StringIO is the quicker for all lines."""
    lines: Any = text.splitlines() if odd_breaks else text_lines(text) if few else io.StringIO(text, newline=None)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "%")):
            yield number, stripped


_ODD_BREAKS = "\f\v\x1c\x1d\x1e\x85\u2028\u2029"
"""The line boundaries of ``str.splitlines`` other than LF and CR, which numpy's reader does not split at (looked
for one by one: ``str.__contains__`` is some ten times quicker than a regular expression's class)."""
_COMMENT_LINE = re.compile(r"^[ \t]*[#%]", re.MULTILINE)


_Loaded = tuple[np.ndarray, dict[int, np.ndarray]]
"""A text's values as ``[rows, width]`` float64, and its clock columns' readings by column
(:func:`~bpsrm.data.clock_column.read_column`; those columns of the values are left unset)."""


class _Clock(NamedTuple):
    """A clock column as the first data line shows it."""

    kind: ClockKind
    width: int
    """Bytes each field is read into (:data:`_CLOCK_WIDTH`); a field that fills them may have been cut."""


def _clocks(fields: list[str], decimal_comma: bool) -> dict[int, _Clock]:
    """The columns whose field of the first data line is a clock reading rather than a number."""
    clocks: dict[int, _Clock] = {}
    for i, field in enumerate(fields):
        kind = _field_kind(field, decimal_comma)
        if kind not in (None, "number"):
            clocks[i] = _Clock(cast(ClockKind, kind), max(len(field.encode()) + 12, _CLOCK_WIDTH))
    return clocks


_CLOCK_WIDTH = 40
"""Bytes a clock field is read into at the least: the longest ISO 8601 form with nanoseconds and an offset
(``2026-03-01T12:00:00.123456789+01:00``, 35) and some spaces; a first field cut short of its fraction
(``isoformat()`` on a whole second) reads in the same pass as the rest."""


def _fast_columns(
    text: str, sep: str | None, decimal_comma: bool, skip: int, width: int, clocks: dict[int, _Clock]
) -> _Loaded | None:
    """The values below the first ``skip`` lines of ``text``, read by :func:`numpy.loadtxt` from the text itself
    (blank and comment lines after the last data line left out); None where it cannot (a comment line among the
    data, a bad value, another number of columns), for the line-by-line readers."""
    end = _data_end(text)
    first = _line_offset(text, skip)
    if (text.find("#", first, end) >= 0 or text.find("%", first, end) >= 0) and _COMMENT_LINE.search(text, first, end):
        return None  # (the finds first: the expression takes ~0.3 s per 20 MB of text that holds neither)
    body = text[:end] if end < len(text) else text
    if decimal_comma:
        body = body.replace(",", ".")
    return _loaded(body, sep, width, skip, clocks)


def _joined_columns(
    lines: list[tuple[int, str]], sep: str | None, decimal_comma: bool, width: int, clocks: dict[int, _Clock]
) -> _Loaded | None:
    """The values of the stripped data ``lines`` through :func:`numpy.loadtxt` (a trailing separator or a blank
    line of spaces, which it refuses in the file's own text, stripped); None where it cannot."""
    body = "\n".join(line for _, line in lines)
    return _loaded(body.replace(",", ".") if decimal_comma else body, sep, width, 0, clocks)


def _loaded(body: str, sep: str | None, width: int, skip: int, clocks: dict[int, _Clock]) -> _Loaded | None:
    """:func:`numpy.loadtxt` of ``body`` below its first ``skip`` lines; None where it fails (its message lacks the
    line number in the file) or finds no rows, or another number of columns, or a clock field that is no reading
    of its column's form. Clock columns are read as text in the same pass, then by
    :func:`~bpsrm.data.clock_column.read_column`."""
    dtype: np.dtype[Any] = np.dtype(np.float64)
    if clocks:
        dtype = np.dtype([(f"c{i}", f"S{clocks[i].width}" if i in clocks else np.float64) for i in range(width)])
    ndmin: Literal[1, 2] = 1 if clocks else 2  # records of a row each, or a row of numbers
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values: Any = np.loadtxt(  # records where clocks stand among the numbers
                io.TextIOWrapper(io.BytesIO(body.encode()), encoding="utf-8", newline=None),  # 1/4 of a StringIO
                delimiter=sep,
                dtype=dtype,
                ndmin=ndmin,
                comments=None,
                quotechar='"',
                skiprows=skip,
            )
    except Exception:
        return None
    if not clocks:
        return (values, {}) if values.shape[1] == width and values.shape[0] > 0 else None
    if values.ndim != 1 or values.shape[0] == 0:
        return None
    fields = {i: values[f"c{i}"] for i in clocks}
    if any(int(np.char.str_len(f).max()) >= clocks[i].width for i, f in fields.items()):
        return None  # a field that fills its bytes may have been cut: the reader of single lines reads it whole
    readings = {i: read_column(f, clocks[i].kind) for i, f in fields.items()}
    if any(reading is None for reading in readings.values()):
        return None  # the reader of single lines names the field
    numbers = np.empty((values.shape[0], width), dtype=np.float64)
    for i in range(width):
        if i not in clocks:
            numbers[:, i] = values[f"c{i}"]
    return numbers, cast(dict[int, np.ndarray], readings)


def _data_end(text: str) -> int:
    """Where the last line of ``text`` that is neither blank nor a comment ends (0 when there is none)."""
    end = len(text)
    while end > 0:
        start = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        line = text[start:end].strip()
        if line and not line.startswith(("#", "%")):
            return end
        end = max(start - 1, 0)
    return 0


def _line_offset(text: str, lines: int) -> int:
    """The position in ``text`` where its line ``lines + 1`` starts (0 for ``lines == 0``)."""
    offset = 0
    for _ in range(lines):
        found = LINE_END.search(text, offset)
        if found is None:
            return len(text)
        offset = found.end()
    return offset


def _parse_rows(
    path: Path,
    lines: list[tuple[int, str]],
    sep: str | None,
    decimal_comma: bool,
    width: int,
    header: list[str] | None,
    clocks: dict[int, _Clock],
) -> _Loaded:
    """The values of ``lines``, or a DataError naming the first bad line and what is wrong with it."""
    columns = _column_names(header, width, skipped=clocks)
    out = np.empty((len(lines), width), dtype=np.float64)
    readings = {i: np.empty(len(lines), dtype=reading_dtype(clock.kind)) for i, clock in clocks.items()}
    for row, (number, line) in enumerate(lines):
        fields = _split(line, sep)
        if sep is not None and len(fields) == width - 1 and line.rstrip().endswith(sep):  # "0.5," of two columns
            raise DataError(
                f"{path}: line {number}: no value in column {columns[-1]!r}, the last (expected a number): "
                f"{line[:80]!r}"
            )
        if len(fields) != width:
            raise DataError(
                f"{path}: line {number}: {len(fields)} values, expected {width} "
                f"({'as many as the header names' if header is not None else 'as many as on the first line'}): "
                f"{line[:80]!r}"
            )
        for col, field in enumerate(fields):
            if col in clocks:
                readings[col][row] = _clock_reading(path, number, columns[col], field, clocks[col].kind)
                continue
            value = _number(field, decimal_comma)
            if value is None:
                raise DataError(
                    f"{path}: line {number}: {field[:40]!r} in column {columns[col]!r} is not a number "
                    "(expected numeric values only, below an optional header line)"
                )
            out[row, col] = value
    return out, readings


def _clock_reading(path: Path, number: int, column: str, field: str, kind: ClockKind) -> float | int:
    """One clock reading of the line-by-line reader (:func:`~bpsrm.data.clock_column.read_field`); a DataError
    naming the line and column when the field is no such reading."""
    try:
        return read_field(field, kind)
    except (ValueError, OverflowError) as exc:
        what = "a time of day" if kind == "time_of_day" else "a date-time"
        raise DataError(
            f"{path}: line {number}: {field[:40]!r} in column {column!r} is not {what} like the first line's "
            f"({exc}; expected ISO 8601 as 2026-01-01T12:00:00.000039, or HH:MM:SS.ffffff)"
        ) from None


def _line_of_row(text: str, odd_breaks: bool, header: bool, row: int) -> tuple[int, str]:
    """The line number and stripped text of data row ``row`` (0 the first below the header)."""
    return next(itertools.islice(_data_lines(text, odd_breaks, few=True), row + int(header), None))


def _clock_problem(path: Path, text: str, odd_breaks: bool, header: bool, name: str, seconds: np.ndarray) -> str:
    """Why a clock column's times are no time axis, naming the first line that shows it."""
    back = np.flatnonzero(np.diff(seconds) < 0)  # every reading is a time: read_column refuses any other field
    if back.size == 0:
        lines = "its one data line" if seconds.size == 1 else "every line"
        return f"{path}: the clock in column {name!r} reads the same time on {lines}, so it states no sample rate"
    row = int(back[0]) + 1
    number, line = _line_of_row(text, odd_breaks, header, row)
    return (
        f"{path}: line {number}: the clock in column {name!r} reads a time {seconds[row - 1] - seconds[row]:.6g} s "
        f"before the line above's (a clock set back?): {line[:80]!r}; its times state no "
        "sample rate. Give the rate (--sample-rate) to read the samples as evenly spaced at it, or write the times "
        "as date-times in UTC or with their offset (2026-10-25T02:30:00+01:00)"
    )


def _check_uneven_times(path: Path, uneven: tuple[str, float, float], rate: float | None, source: str) -> None:
    """A DataError unless there is a rate (the caller's, or another time column's: ``source`` says which) that the
    uneven time column's mean step agrees with, within 0.1 % or within what the written rounding of its two ends
    leaves uncertain (a clock written to the second, over 5 s, leaves 20 %): read as evenly spaced, samples of
    uneven times would mix sample spacings without a word."""
    what, mean_rate, uncertainty = uneven
    if rate is None:
        raise DataError(
            f"{path}: {what}, so it states no sample rate. If the samples are evenly spaced (times rounded coarser "
            "than a step, or a logger's jitter), pass their rate (--sample-rate); otherwise resample the recording "
            "onto an even grid"
        )
    if abs(rate - mean_rate) > max(_RATE_TOLERANCE, uncertainty) * max(rate, mean_rate):
        raise DataError(
            f"{path}: {what}, and its mean step is that of {mean_rate:.10g} Hz, not of the {rate:.10g} Hz "
            f"{source}; the samples cannot be read as evenly spaced at that rate. Check the rate, or resample the "
            "recording onto an even grid"
        )


# ---------------------------------------------------------------------------------------------------------------------
# .npy, .wav


def _read_npy(path: Path) -> _Content:
    try:
        values = np.load(path, allow_pickle=False)
    except Exception as exc:  # ValueError (pickled objects, bad header), EOFError, OSError, ...
        raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from exc
    if not isinstance(values, np.ndarray):
        raise DataError(f"{path}: holds {type(values).__name__}, expected a .npy array")
    if values.dtype.kind not in "iuf":
        raise DataError(f"{path}: an array of {values.dtype}, expected real numbers (int or float)")
    if values.ndim not in (1, 2):
        raise DataError(f"{path}: an array of shape {values.shape}, expected 1-D or 2-D (samples x channels)")
    if values.dtype.kind != "f" or values.dtype.itemsize < 4:  # float32 and float64 stay: no copy of a long file
        values = values.astype(np.float64)
    if values.ndim == 2 and values.shape[0] < values.shape[1]:
        values = values.T  # channels along the short dimension
    content = _new_content()
    _add_columns(content, values)
    return content


def _add_columns(content: _Content, values: np.ndarray) -> None:
    """A 1-D array as channel "0", a 2-D one column by column as channels "0", "1", ..."""
    columns = values[:, None] if values.ndim == 1 else values
    for i in range(columns.shape[1]):
        content.channels[str(i)] = columns[:, i]


def _read_wav(path: Path) -> _Content:
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, values = wavfile.read(path)
    except Exception as exc:  # ValueError, EOFError, struct.error, OSError, ...
        raise DataError(f"{path}: not a readable .wav file ({type(exc).__name__}: {exc})") from exc
    _check_wav_data_complete(path)
    values = np.asarray(values)
    kind, size = values.dtype.kind, values.dtype.itemsize
    if kind == "f":
        scaled = values.astype(np.float64)
    elif kind == "u" and size == 1:
        scaled = (values.astype(np.float64) - 128.0) / 128.0
    elif kind == "i":
        scaled = values.astype(np.float64) / float(2 ** (8 * size - 1))
    else:
        raise DataError(f"{path}: .wav samples of type {values.dtype}, expected PCM or float")
    if not (isinstance(rate, numbers.Real) and float(rate) > 0):
        raise DataError(f"{path}: the .wav header gives a sample rate of {rate}, expected a positive number")
    content = _new_content()
    content.physical = False
    content.rates.append((float(rate), "the .wav header"))
    _add_columns(content, scaled)
    return content


_WAV_UNKNOWN_SIZES = (0xFFFFFFFF, 0x7FFFFFFF)
"""Data-chunk sizes that writers streaming to a pipe put in the header when they do not know the length yet."""


def _check_wav_data_complete(path: Path) -> None:
    """Refuse a .wav whose ``data`` chunk declares more bytes than the file holds after the chunk's header.

    scipy reads whatever samples are there, and warns only when the RIFF header's size disagrees too, so a
    recording cut short (a copy interrupted, a logger that lost power) would be read as a shorter one. The
    chunk headers are walked (``id``, 4-byte size, body padded to an even length); RF64 files, whose sizes live
    in a ``ds64`` chunk, and the placeholder sizes of streamed files (:data:`_WAV_UNKNOWN_SIZES`) are left to
    scipy.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return
        order = "<" if head[:4] == b"RIFF" else ">"
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            header = handle.read(8)
            (declared,) = struct.unpack(order + "I", header[4:])
            if header[:4] == b"data":
                held = size - position - 8
                if declared > held and declared not in _WAV_UNKNOWN_SIZES:
                    raise DataError(
                        f"{path}: the .wav data chunk declares {declared} bytes but the file holds {held} after its "
                        "header: the recording was cut short (an interrupted copy?)"
                    )
                return
            position += 8 + declared + (declared & 1)


def _piles_up(x: np.ndarray, level: float, lo: float, hi: float) -> bool:
    """Whether ``level`` (the min or max of ``x``) occurs at least 3 times and twice as often as the next level
    inward: the pile-up of a sensor held at its limit, which neither a continuous signal (extremes occur once)
    nor coarse quantisation (extreme levels are rarer than their neighbours) makes."""
    count = int(np.count_nonzero(x == level))
    if count < 3:
        return False
    if level == lo:  # the next level inward, without a copy of the signal (x[x > lo] held one)
        neighbour = float(np.min(x, where=x > level, initial=np.inf))
    else:
        neighbour = float(np.max(x, where=x < level, initial=-np.inf))
    return count >= 2 * int(np.count_nonzero(x == neighbour))
