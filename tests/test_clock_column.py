"""Time columns written as clock readings (ISO 8601 date-times, times of day, a date and a time in two fields).

The files are written from Python's own ``datetime`` (a sample's time is the start plus ``i / rate`` seconds,
rounded to the microsecond by ``isoformat``), never from bpsrm's reader; the rates and seconds expected are the
construction's, and the lines named in refusals are counted by hand.
"""

from __future__ import annotations

import datetime as dt
import re
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


def test_elapsed_seconds_are_exact_to_the_nanosecond() -> None:
    start = 1_772_366_400 * 10**9  # 2026-03-01T12:00:00Z: as a float64, its nanoseconds would be lost
    ns = np.array([start, start + 39_063, start + 86_400 * 10**9 * 100 + 1], dtype=np.int64)
    np.testing.assert_array_equal(elapsed_seconds(ns), [0.0, 39_063e-9, 8_640_000 + 1e-9])
    np.testing.assert_array_equal(elapsed_seconds(ns.view("datetime64[ns]")), elapsed_seconds(ns))


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
    path = _write(tmp_path / "log.csv", None, rows)
    rec = read_recording(path, channel="0")
    assert rec.sample_rate_hz == 10_000 and rec.channels == ("0", "1")  # numbered among the channels
    np.testing.assert_array_equal(rec.signal, x)
    np.testing.assert_array_equal(read_recording(path, channel=0).signal, x)  # a name and an index agree
    np.testing.assert_array_equal(read_recording(path, channel=1).signal, -x)


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
        match=r"local\.csv: line 5: the clock in column 'time' reads a time 3599\.75 s before the line above's "
        r"\(a clock set back\?\): '2026-10-25T02:00:00\.00,2'.*--sample-rate.*UTC",
    ):
        read_recording(path)
    assert read_recording(path, sample_rate_hz=4).sample_rate_hz == 4  # the caller's rate reads the samples


@pytest.mark.parametrize("other", ["", "NaT", "now", "0", "2026", "2026-03-01T13", "2026-03-01T12:00:00.01+99:00"])
def test_a_field_of_another_form_is_refused_naming_the_line(tmp_path: Path, other: str) -> None:
    """numpy's own reader takes "NaT", "now", "0" (the year 0) and "2026-03-01T13" as date-times: every line must
    hold the first one's form (helper-92)."""
    rows = [f"{t},{i}" for i, t in enumerate(_stamps(6, 100))]
    rows[4] = f"{other},4"
    with pytest.raises(DataError, match=rf"gap\.csv: line 6: '{re.escape(other)}' in column 'time' is not a date-time"):
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


# ---------------------------------------------------------------------------------------------------------------------
# Found by helper-92's review


@pytest.mark.parametrize(
    ("header", "below"),
    [
        ("2026-03-01T12:00:00", ["0.0", "0.5", "-0.25"]),  # one channel named by its start time
        ("12:00:00,13:00:00", ["0.0,1.0", "0.5,1.5", "-0.25,2.0"]),
        ("2026-03-01,2026-03-02", ["0,1", "5,6", "7,8"]),
    ],
)
def test_a_first_line_of_clocks_above_numbers_is_the_header(tmp_path: Path, header: str, below: list[str]) -> None:
    rec = read_recording(_write(tmp_path / "h.csv", header, below), channel=0)
    assert rec.channels == tuple(header.split(","))
    np.testing.assert_array_equal(rec.signal, [float(line.split(",")[0]) for line in below])


@pytest.mark.parametrize("values", ["0,5", "0.5"])
@pytest.mark.parametrize("header", ["Date Time accel", None])
def test_decimal_commas_in_the_seconds_of_a_file_split_at_spaces(tmp_path: Path, values: str, header) -> None:
    n = 400
    rows = [f"{t.replace('.', ',')} {values}" for t in _stamps(n, 2000, sep=" ")]
    rec = read_recording(_write(tmp_path / "sp.txt", header, rows))
    assert rec.sample_rate_hz == 2000 and rec.channels == (("accel",) if header else ("0",))
    np.testing.assert_array_equal(rec.signal, np.full(n, 0.5))


def test_a_date_time_and_a_number_split_at_commas_stay_two_columns(tmp_path: Path) -> None:
    rows = [f"{t},{i}" for i, t in enumerate(_stamps(300, 1000, sep=" "))]  # "2026-03-01 12:00:00.001000,1"
    rec = read_recording(_write(tmp_path / "c.csv", None, rows))
    assert rec.sample_rate_hz == 1000 and rec.channels == ("0",)
    np.testing.assert_array_equal(rec.signal, np.arange(300))


def test_a_date_pairs_with_its_time_wherever_it_stands(tmp_path: Path) -> None:
    n = 300
    stamps = [(START + dt.timedelta(seconds=i / 500)) for i in range(n)]
    rows = [f"{s.time().isoformat(timespec='microseconds')},{i},{s.date().isoformat()}" for i, s in enumerate(stamps)]
    rec = read_recording(_write(tmp_path / "tda.csv", "Time,accel,Date", rows))
    assert rec.sample_rate_hz == 500 and rec.channels == ("accel",)
    np.testing.assert_array_equal(rec.signal, np.arange(n))


def test_a_constant_date_beside_a_time_column_in_seconds_is_no_channel(tmp_path: Path) -> None:
    rows = [f"2026-03-01,{i / 1000:.3f},{i}" for i in range(300)]
    rec = read_recording(_write(tmp_path / "ds.csv", "Date,time_s,accel", rows))
    assert rec.sample_rate_hz == 1000 and rec.channels == ("accel",)
    only = _write(tmp_path / "d.csv", "Date,accel", [f"2026-03-01,{i}" for i in range(300)])
    with pytest.raises(DataError, match=r"the clock in column 'Date' reads the same time on every line"):
        read_recording(only)
    assert read_recording(only, sample_rate_hz=1000).channels == ("accel",)


def test_a_time_column_in_seconds_beside_a_clock_is_no_channel_and_its_rate_counts(tmp_path: Path) -> None:
    n = 300
    rows = [f"{t},{i / 1000:.3f},{i}" for i, t in enumerate(_stamps(n, 1000))]
    rec = read_recording(_write(tmp_path / "two.csv", "timestamp,time_s,accel", rows))
    assert rec.sample_rate_hz == 1000 and rec.channels == ("accel",)
    rows = [f"{t},{i / 1000:.3f},{i}" for i, t in enumerate(_stamps(n, 2000))]  # the two disagree
    with pytest.raises(DataError, match=r"2000 Hz.*1000 Hz"):
        read_recording(_write(tmp_path / "disagree.csv", "timestamp,time_s,accel", rows))


def test_a_year_beyond_nanoseconds_is_refused_not_wrapped(tmp_path: Path) -> None:
    rows = [f"2300-01-01T00:00:00.{i:03d},{i}" for i in range(5)]
    with pytest.raises(DataError, match=r"line 2: '2300-01-01T00:00:00\.000' in column 'time' .*1678-2261"):
        read_recording(_write(tmp_path / "y.csv", "time,accel", rows))
    with pytest.raises(ValueError, match="offset"):
        date_time_ns("2026-03-01T12:00:00+24:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        date_time_ns("2026-03-01-05")  # an offset needs a time before it


@pytest.mark.parametrize("form", ["%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f+01:00", "%Y-%m-%dT%H:%M:%S.%fZ"])
def test_one_form_on_every_line_is_read_at_once_and_alike_line_by_line(tmp_path: Path, form: str) -> None:
    """The vectorised reading of a logger's fixed form and the reading field by field (a first line of another
    length sends the column there) give the same rate and samples."""
    n = 2000
    stamps = [(START + dt.timedelta(seconds=i / 4000)).strftime(form) for i in range(n)]
    x = _signal(n)
    fixed = read_recording(
        _write(tmp_path / "fixed.csv", "time,accel", [f"{t},{v}" for t, v in zip(stamps, x, strict=True)])
    )
    stamps[0] = stamps[0].replace(".000000", ".0")  # another length: field by field
    loose = read_recording(
        _write(tmp_path / "loose.csv", "time,accel", [f"{t},{v}" for t, v in zip(stamps, x, strict=True)])
    )
    assert fixed.sample_rate_hz == loose.sample_rate_hz == 4000
    np.testing.assert_array_equal(fixed.signal, x)
    np.testing.assert_array_equal(loose.signal, x)


@pytest.mark.parametrize(
    ("fields", "kind", "expected"),
    [
        (["2026-03-01T12:00:00.000000", "2026-03-01T12:00:00.250000"], "date_time", [0.0, 0.25]),
        (["2026-03-01 23:59:59,750", "2026-03-02 00:00:00,000"], "date_time", [0.0, 0.25]),
        (["2026-03-01T12:00:00.5Z", "2026-03-01T12:00:01.0Z"], "date_time", [0.0, 0.5]),
        (["2026-10-25T02:59:59.5+02:00", "2026-10-25T02:00:00.0+01:00"], "date_time", [0.0, 0.5]),
        (["2026-03-01T12:00:00-0330", "2026-03-01T12:00:01-0330"], "date_time", [0.0, 1.0]),
        (["2026-03-01", "2026-03-02"], "date", [0.0, 86400.0]),
        (["12:00:00.000039", "13:00:00.000039"], "time_of_day", [43200.000039, 46800.000039]),
        (["7:05:09,25", "9:05:09,50"], "time_of_day", [25509.25, 32709.5]),
    ],
)
def test_a_column_of_one_form_is_read_at_once(monkeypatch, fields: list[str], kind: str, expected: list[float]) -> None:
    """Fields of one form to the character are read without a reading field by field (which is made to fail
    here), to the same values: seconds since the first of a date-time or date, seconds of the day of a time."""
    from bpsrm.data import clock_column

    def field_by_field(field: str) -> None:
        raise AssertionError(f"{field!r} was read field by field")

    monkeypatch.setattr(clock_column, "date_time_ns", field_by_field)
    monkeypatch.setattr(clock_column, "seconds_of_day", field_by_field)
    raw = np.array([f.encode() for f in fields], dtype=f"S{max(map(len, fields)) + 1}")
    got = clock_column.read_column(raw, kind)
    seconds = got if kind == "time_of_day" else elapsed_seconds(got)
    np.testing.assert_allclose(seconds, expected, rtol=0, atol=1e-9)


def test_a_field_of_the_first_ones_length_but_another_form_is_read_by_itself(tmp_path: Path) -> None:
    """numpy would read "1970-01-01T" + "12:00:00.5+0100" as 11:00:00.5 UTC; a time of day has no offset."""
    rows = [f"12:00:00.{i}00000,{i}" for i in range(5)]
    rows[3] = "12:00:00.5+0100,3"  # the first field's length, another form
    with pytest.raises(DataError, match=r"line 5: '12:00:00\.5\+0100' in column 'time' is not a time of day"):
        read_recording(_write(tmp_path / "tz.csv", "time,accel", rows))


# ---------------------------------------------------------------------------------------------------------------------
# Found by helper-93's review


def test_a_further_column_named_like_time_stays_a_channel(tmp_path: Path) -> None:
    """As before clocks were read: "T" under "time" is a temperature, a channel (it never decreases here)."""
    rows = ["0.000,25.0,0.1", "0.001,25.0,-0.2", "0.002,25.1,0.3", "0.003,25.1,-0.4", "0.004,25.3,0.5"]
    rec = read_recording(_write(tmp_path / "t.csv", "time,T,accel", rows), channel=0)
    assert rec.sample_rate_hz == 1000 and rec.channels == ("T", "accel")
    np.testing.assert_array_equal(rec.signal, [25.0, 25.0, 25.1, 25.1, 25.3])


def test_a_clock_to_the_second_leaves_the_rate_to_a_column_of_seconds_or_to_the_caller(tmp_path: Path) -> None:
    n = 5500  # 5.5 s at 1 kHz
    clock = [(START + dt.timedelta(seconds=i // 1000)).isoformat() for i in range(n)]
    rows = [f"{c},{i / 1000:.3f},{i}" for i, c in enumerate(clock)]
    rec = read_recording(_write(tmp_path / "both.csv", "Timestamp,time_s,x", rows))
    assert rec.sample_rate_hz == 1000 and rec.channels == ("x",)
    alone = _write(tmp_path / "alone.csv", "Timestamp,x", [f"{c},{i}" for i, c in enumerate(clock)])
    with pytest.raises(DataError, match="not evenly spaced"):
        read_recording(alone)
    # the mean step of times to the second is that of 5499 / 5 s = 1099.8 Hz, uncertain by (0.5 + 0.5) / 5 s = 20%
    assert read_recording(alone, sample_rate_hz=1000).sample_rate_hz == 1000
    with pytest.raises(DataError, match="mean step"):
        read_recording(alone, sample_rate_hz=800)


@pytest.mark.parametrize("name", ["2026-03-01T12:00:00", "2026-03-01", "12:00:00"])
def test_one_channel_of_decimal_commas_named_by_a_clock(tmp_path: Path, name: str) -> None:
    rec = read_recording(_write(tmp_path / "c.csv", name, ["0,5", "-0,25", "0,125"]))
    assert rec.channels == (name,)
    np.testing.assert_array_equal(rec.signal, [0.5, -0.25, 0.125])


def test_midnight_written_as_a_date_alone_is_data(tmp_path: Path) -> None:
    rows = [
        "2026-03-02,0.5",
        "2026-03-02T00:00:00.001,0.7",
        "2026-03-02T00:00:00.002,0.9",
        "2026-03-02T00:00:00.003,1.1",
    ]
    rec = read_recording(_write(tmp_path / "m.csv", None, rows))
    assert rec.sample_rate_hz == 1000 and rec.channels == ("0",)
    np.testing.assert_array_equal(rec.signal, [0.5, 0.7, 0.9, 1.1])


@pytest.mark.parametrize("layout", ["whole second first", "comma and space"])
def test_common_layouts_are_read_in_one_pass(tmp_path: Path, monkeypatch, layout: str) -> None:
    """isoformat() leaves the fraction off a whole second, and ", " separators put a space before each field: both
    are read by numpy's reader with the rest, not line by line (which holds every line as a string at once)."""
    from bpsrm.data import recordings

    def line_by_line(*args, **kwargs):
        raise AssertionError("read line by line")

    monkeypatch.setattr(recordings, "_parse_rows", line_by_line)
    n = 1000
    stamps = [(START + dt.timedelta(seconds=i / 1000)).isoformat() for i in range(n)]
    assert len(stamps[0]) == 19 and len(stamps[1]) == 26
    sep = "," if layout == "whole second first" else ", "
    rec = read_recording(_write(tmp_path / "l.csv", f"time{sep}x", [f"{t}{sep}{i}" for i, t in enumerate(stamps)]))
    assert rec.sample_rate_hz == 1000
    np.testing.assert_array_equal(rec.signal, np.arange(n))


def test_a_bad_value_beside_a_clock_names_the_channel_as_it_is_named(tmp_path: Path) -> None:
    rows = ["12:00:00.000,1,2", "12:00:00.001,1,abc"]
    with pytest.raises(DataError, match=r"line 2: 'abc' in column '1' is not a number"):
        read_recording(_write(tmp_path / "n.csv", None, rows))


@pytest.mark.parametrize(
    ("header", "asked"),
    [
        ("Date,Time,accel", "Date"),
        ("Date,Time,accel", "Time"),
        ("timestamp,accel", "timestamp"),
        ("time_s,accel", "time_s"),
    ],
)
def test_a_column_of_times_asked_for_as_a_channel_is_named_as_such(tmp_path: Path, header: str, asked: str) -> None:
    stamps = [START + dt.timedelta(seconds=i / 100) for i in range(50)]
    first = {
        "Date,Time,accel": lambda s: f"{s.date().isoformat()},{s.time().isoformat(timespec='microseconds')}",
        "timestamp,accel": lambda s: s.isoformat(timespec="microseconds"),
        "time_s,accel": lambda s: f"{(s - START).total_seconds():.2f}",
    }[header]
    path = _write(tmp_path / "t.csv", header, [f"{first(s)},{i}" for i, s in enumerate(stamps)])
    assert read_recording(path).channels == ("accel",)
    with pytest.raises(DataError, match=rf"'{asked}' is a time column, not a signal; channels: 'accel'"):
        read_recording(path, channel=asked)


# ---------------------------------------------------------------------------------------------------------------------
# Found by helper-94's review


@pytest.mark.parametrize(
    ("times", "given", "expected"),
    [
        # 2 s from 10,000 s at 25.6 kHz written %.4f: near round numbers, yet no digit or two of precision
        (np.round(10_000 + np.arange(51_200) / 25_600, 4), 1000.0, "mean step is that of 25599"),
        # a clock to the second at 10 Hz for 10 s, the last time exactly 10 s: 10 % uncertain, not 55 %
        (np.floor(np.arange(101) / 10), 5.0, "mean step is that of 10 Hz"),
        # whole seconds, one sample missing
        (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10.0]), 1.9, "mean step is that of 0.9 Hz"),
    ],
)
def test_a_wrong_rate_for_uneven_times_is_refused(tmp_path: Path, times, given: float, expected: str) -> None:
    rows = [f"{t!r},{i}" for i, t in enumerate(times.tolist())]
    with pytest.raises(DataError, match=expected):
        read_recording(_write(tmp_path / "u.csv", "time,accel", rows), sample_rate_hz=given)


def test_a_clock_beside_a_column_of_seconds_must_agree_with_it(tmp_path: Path) -> None:
    n = 200  # 20 s at 10 Hz: the clock's mean step, 199 steps over 19 s, is that of 10.47 Hz, 10 % uncertain
    clock = [(START + dt.timedelta(seconds=i // 10)).isoformat() for i in range(n)]
    agree = [f"{c},{i / 10:.1f},{i}" for i, c in enumerate(clock)]
    assert read_recording(_write(tmp_path / "a.csv", "Timestamp,time_s,x", agree)).sample_rate_hz == 10
    numbers = [f"{c},{i},{i}" for i, c in enumerate(clock)]  # "t" holds sample numbers: 1 Hz, not the clock's 10
    with pytest.raises(
        DataError,
        match=r"'Timestamp' is not evenly spaced.*mean step is that of 10\.47\d* Hz, not of the "
        r"1 Hz of the time column 't'",
    ):
        read_recording(_write(tmp_path / "n.csv", "Timestamp,t,x", numbers))
