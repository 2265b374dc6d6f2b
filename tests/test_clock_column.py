"""Time columns written as clock readings (ISO 8601 date-times, times of day, a date and a time in two fields).

The files are written from Python's own ``datetime`` (a sample's time is the start plus ``i / rate`` seconds,
rounded to the microsecond by ``isoformat``), never from bpsrm's reader; the rates and seconds expected are the
construction's, and the lines named in refusals are counted by hand.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from bpsrm.data.clock_column import (
    clock_kind,
    clock_times,
    date_time_ns,
    elapsed_seconds,
    past_midnight,
    seconds_of_day,
)
from bpsrm.data.recordings import read_recording
from bpsrm.errors import DataError

START = dt.datetime(2026, 3, 1, 12, 0, 0)


def _signal(n: int) -> np.ndarray:
    return np.round(np.sin(np.arange(n) * 0.37) * 0.8, 6)


def _write(path: Path, header: str | None, rows: list[str]) -> Path:
    path.write_text(((header + "\n") if header else "") + "\n".join(rows) + "\n")
    return path


def _stamps(n: int, rate: float, start: dt.datetime = START, sep: str = "T", timespec: str = "microseconds"):
    return [(start + dt.timedelta(seconds=i / rate)).isoformat(sep=sep, timespec=timespec) for i in range(n)]


# ---------------------------------------------------------------------------------------------------------------------
# The readings, one at a time


def test_the_forms_are_told_apart() -> None:
    assert clock_kind("2026-03-01T12:00:00.000039") == "date_time"
    assert clock_kind("2026-03-01 12:00:00") == "date_time"
    assert clock_kind("2026-03-01T12:00:00Z") == "date_time"
    assert clock_kind("2026-03-01T12:00:00.5+01:00") == "date_time"
    assert clock_kind("2026-03-01") == "date"
    assert clock_kind("12:00:00.000039") == "time_of_day"
    assert clock_kind("7:05:09") == "time_of_day"
    for other in ("0.25", "-1e-3", "accel", "2026/03/01 12:00:00", "12:00", "1,5", "", "NaT"):
        assert clock_kind(other) is None, other


def test_seconds_of_day_by_hand() -> None:
    assert seconds_of_day("00:00:00") == 0.0
    assert seconds_of_day("23:59:59.5") == 23 * 3600 + 59 * 60 + 59.5
    assert seconds_of_day("7:05:09,25") == 7 * 3600 + 5 * 60 + 9.25
    for bad in ("24:00:00", "12:60:00", "12:00:60", "12:00"):
        with pytest.raises(ValueError, match="time of day"):
            seconds_of_day(bad)


def test_date_times_with_offsets_are_brought_to_utc() -> None:
    def utc_ns(*args: int) -> int:
        return int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()) * 10**9

    assert date_time_ns("2026-03-01T12:00:00") == utc_ns(2026, 3, 1, 12)
    assert date_time_ns("2026-03-01 12:00:00.25Z") == utc_ns(2026, 3, 1, 12) + 250_000_000
    assert date_time_ns("2026-03-01T12:00:00+01:00") == utc_ns(2026, 3, 1, 11)
    assert date_time_ns("2026-03-01T12:00:00-0330") == utc_ns(2026, 3, 1, 15, 30)
    assert date_time_ns("2026-03-01T12:00:00+05") == utc_ns(2026, 3, 1, 7)
    assert date_time_ns("2026-03-01") == utc_ns(2026, 3, 1)
    for bad in ("2026-13-01T12:00:00", "2026-03-01T12:00:60", "NaT"):
        with pytest.raises(ValueError, match="date-time"):
            date_time_ns(bad)


def test_elapsed_seconds_are_exact_to_the_nanosecond_and_missing_is_nan() -> None:
    start = 1_772_366_400 * 10**9  # 2026-03-01T12:00:00Z
    ns = np.array([start, start + 39_063, start + 86_400 * 10**9 * 100 + 1], dtype=np.int64)
    np.testing.assert_array_equal(elapsed_seconds(ns), [0.0, 39_063e-9, 8_640_000 + 1e-9])
    with_nat = np.array(["NaT", "2026-03-01T12:00:00", "2026-03-01T12:00:01"], dtype="datetime64[ns]")
    got = elapsed_seconds(with_nat)
    assert np.isnan(got[0]) and got[1:].tolist() == [0.0, 1.0]


def test_times_of_day_run_on_past_midnight() -> None:
    np.testing.assert_array_equal(past_midnight(np.array([86399.0, 86399.5, 0.0, 0.5])), [0.0, 0.5, 1.0, 1.5])
    assert past_midnight(np.array([100.0, 99.0]))[1] == -1.0  # a second back is no midnight: the check refuses it


def test_a_date_and_the_time_beside_it_make_one_time() -> None:
    dates = np.array(["2026-03-01", "2026-03-01", "2026-03-02"], dtype="datetime64[ns]")
    times = clock_times(
        {3: dates, 4: np.array([86399.0, 86399.5, 0.0]), 6: np.array([10.0, 10.5, 11.0])},
        {3: "date", 4: "time_of_day", 6: "time_of_day"},
    )
    assert [columns for columns, _ in times] == [(3, 4), (6,)]
    np.testing.assert_array_equal(times[0][1], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(times[1][1], [0.0, 0.5, 1.0])


# ---------------------------------------------------------------------------------------------------------------------
# Files


@pytest.mark.parametrize("sep", ["T", " "])
@pytest.mark.parametrize("rate", [25_600, 48_000, 12_000])
def test_iso_date_times_state_the_rate(tmp_path: Path, sep: str, rate: int) -> None:
    n = 3000
    x = _signal(n)
    rows = [f"{t},{v}" for t, v in zip(_stamps(n, rate, sep=sep), x, strict=True)]
    rec = read_recording(_write(tmp_path / "log.csv", "timestamp,accel", rows))
    assert rec.sample_rate_hz == rate
    assert rec.channels == ("accel",)
    np.testing.assert_array_equal(rec.signal, x)


def test_without_a_header_the_clock_is_no_channel(tmp_path: Path) -> None:
    n = 500
    x = _signal(n)
    rows = [f"{t},{v},{-v}" for t, v in zip(_stamps(n, 10_000), x, strict=True)]
    rec = read_recording(_write(tmp_path / "log.csv", None, rows), channel="1")
    assert rec.sample_rate_hz == 10_000 and rec.channels == ("1", "2")
    np.testing.assert_array_equal(rec.signal, x)


def test_an_offset_that_changes_with_daylight_saving_runs_on(tmp_path: Path) -> None:
    # 2026-10-25, Central Europe: 02:59:59.75+02:00 is followed by 02:00:00+01:00, a quarter second later.
    end_of_summer = dt.datetime(2026, 10, 25, 0, 59, 59, tzinfo=dt.timezone.utc)
    berlin = [dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=1))]
    stamps = []
    for i in range(8):
        utc = end_of_summer + dt.timedelta(seconds=i / 4)
        stamps.append(utc.astimezone(berlin[0] if utc.hour == 0 else berlin[1]).isoformat(timespec="milliseconds"))
    assert stamps[3].endswith("02:59:59.750+02:00") and stamps[4].endswith("02:00:00.000+01:00")
    rec = read_recording(_write(tmp_path / "dst.csv", "time,accel", [f"{t},{i}" for i, t in enumerate(stamps)]))
    assert rec.sample_rate_hz == 4


def test_local_times_set_back_are_refused_naming_the_line(tmp_path: Path) -> None:
    stamps = ["2026-10-25T02:59:59.50", "2026-10-25T02:59:59.75", "2026-10-25T02:00:00.00", "2026-10-25T02:00:00.25"]
    path = _write(tmp_path / "local.csv", "# logger 7\ntime,accel", [f"{t},{i}" for i, t in enumerate(stamps)])
    with pytest.raises(
        DataError,
        match=r"local\.csv: line 5: the clock in column 'time' reads a time 3599\.75 s "
        r"before the line above's.*UTC.*--sample-rate",
    ):
        read_recording(path)


def test_a_missing_time_is_refused_naming_the_line(tmp_path: Path) -> None:
    rows = [f"{t},{i}" for i, t in enumerate(_stamps(6, 100))]
    rows[4] = ",4"
    with pytest.raises(DataError, match=r"line 6: the clock in column 'time' reads no time"):
        read_recording(_write(tmp_path / "gap.csv", "time,accel", rows))


def test_a_bad_date_time_names_its_line(tmp_path: Path) -> None:
    rows = [f"{t},{i}" for i, t in enumerate(_stamps(6, 100))]
    rows[2] = "2026-13-01T12:00:00.020000,2"
    with pytest.raises(
        DataError,
        match=r"bad\.csv: line 4: '2026-13-01T12:00:00\.020000' in column 'time' is not "
        r"a date-time.*Month out of range",
    ):
        read_recording(_write(tmp_path / "bad.csv", "time,accel", rows))


def test_times_of_day_across_midnight(tmp_path: Path) -> None:
    n = 2000
    start = dt.datetime(2026, 3, 1, 23, 59, 59, 950000)  # midnight after 50 ms, the 400th sample
    rows = [f"{(start + dt.timedelta(seconds=i / 8000)).time().isoformat()},{v}" for i, v in enumerate(_signal(n))]
    assert rows[399].startswith("23:59:59.999875") and rows[400].startswith("00:00:00,")
    rec = read_recording(_write(tmp_path / "tod.csv", "Time,accel", rows))
    assert rec.sample_rate_hz == 8000


def test_a_date_and_a_time_in_two_fields_of_a_file_split_at_spaces(tmp_path: Path) -> None:
    n = 1000
    x = _signal(n)
    rows = [f"{t} {v}" for t, v in zip(_stamps(n, 5000, sep=" "), x, strict=True)]
    rec = read_recording(_write(tmp_path / "log.txt", "Date Time accel", rows))
    assert rec.sample_rate_hz == 5000 and rec.channels == ("accel",)
    np.testing.assert_array_equal(rec.signal, x)


def test_decimal_commas_in_the_clock_and_the_values(tmp_path: Path) -> None:
    n = 800
    x = _signal(n)
    rows = [
        f"{t.replace('.', ',')};{str(v).replace('.', ',')}" for t, v in zip(_stamps(n, 2000, sep=" "), x, strict=True)
    ]
    rec = read_recording(_write(tmp_path / "eu.csv", "Zeitstempel;Beschleunigung", rows))
    assert rec.sample_rate_hz == 2000 and rec.channels == ("Beschleunigung",)
    np.testing.assert_array_equal(rec.signal, x)


def test_a_clock_written_to_the_millisecond_states_no_rate_of_fast_samples(tmp_path: Path) -> None:
    n = 51_200  # 2 s: the last time, cut to the millisecond, moves the mean step by 0.05%, within the 0.1% allowed
    rows = [f"{t},{v}" for t, v in zip(_stamps(n, 25_600, timespec="milliseconds"), _signal(n), strict=True)]
    path = _write(tmp_path / "ms.csv", "timestamp,accel", rows)
    with pytest.raises(DataError, match=r"not evenly spaced.*--sample-rate"):
        read_recording(path)
    assert read_recording(path, sample_rate_hz=25_600).sample_rate_hz == 25_600
    with pytest.raises(DataError, match="mean step"):
        read_recording(path, sample_rate_hz=12_000)


@pytest.mark.parametrize(
    "layout", ["comments among the data", "form feeds", "comma fractions in the clock alone", "a value missing"]
)
def test_the_line_by_line_readers_read_clocks_alike(tmp_path: Path, layout: str) -> None:
    n = 300
    x = _signal(n)
    rows = [f"{t},{v}" for t, v in zip(_stamps(n, 1000), x, strict=True)]
    if layout == "comments among the data":
        rows.insert(100, "# a note in the middle")
        rec = read_recording(_write(tmp_path / "c.csv", "time,accel", rows))
    elif layout == "form feeds":
        rec = read_recording(_write(tmp_path / "f.csv", "time,accel", [rows[0] + "\f" + rows[1], *rows[2:]]))
    elif layout == "comma fractions in the clock alone":  # numpy's reader takes none: the reader of single lines
        tabbed = [f"{t.replace('.', ',')}\t{v}" for t, v in zip(_stamps(n, 1000, sep=" "), x, strict=True)]
        rec = read_recording(_write(tmp_path / "t.txt", "time\taccel", tabbed))
    else:
        rows[7] = rows[7].split(",")[0] + ","
        with pytest.raises(DataError, match=r"line 9: no value in column 'accel'"):
            read_recording(_write(tmp_path / "m.csv", "time,accel", rows))
        return
    assert rec.sample_rate_hz == 1000
    np.testing.assert_array_equal(rec.signal, x)
