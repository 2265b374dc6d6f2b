"""Reading vibration recordings for ``bpsrm predict`` (bpsrm.data.recordings).

Every file is written here, in each format, from a real CWRU record (0HP/105.mat,
IR007 at 0 HP, 12 kHz) read with scipy.io.loadmat and resampled with
scipy.signal.resample_poly directly; the expected values come from those
arrays, from scipy / h5py / numpy readers, or from hand computations.
"""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile
import scipy.signal

from bpsrm.data import matfile, recordings
from bpsrm.data.cwru import read_cwru_record, read_cwru_record_rpm
from bpsrm.data.matfile import Mat5
from bpsrm.data.recordings import RECORDING_SUFFIXES, Recording, check_signal, read_recording, resample
from bpsrm.data.vibration import VibrationPreprocess
from bpsrm.errors import DataError, ParameterError
from conftest import REPO

pytestmark = pytest.mark.data

# Official CWRU numbers of the 12 kHz drive-end set, from the data README; 97-100 (normal) are 48 kHz.
NORMAL_48K = {97, 98, 99, 100}


@pytest.fixture(scope="module")
def cwru_root(shared_data: Path) -> Path:
    return shared_data / "cwru"


@pytest.fixture(scope="module")
def rec105(cwru_root: Path) -> dict[str, np.ndarray]:
    """Record 105 at 12 kHz (as loadmat reads it) and resampled to 20, 25.6 and 48 kHz here."""
    mat = scipy.io.loadmat(cwru_root / "0HP" / "105.mat")
    x = mat["X105_DE_time"].ravel()
    return {
        "12k": x,
        "20k": scipy.signal.resample_poly(x, 5, 3),
        "25.6k": scipy.signal.resample_poly(x, 32, 15),
        "48k": scipy.signal.resample_poly(x, 4, 1),
        "rpm": mat["X105RPM"],
    }


def write_mat73(path: Path, variables: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file: HDF5 with a 512-byte userblock holding the MAT header, arrays stored transposed."""
    classes = {"float64": "double", "float32": "single", "uint16": "uint16", "int16": "int16", "uint8": "uint8"}
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            value = np.asarray(value)
            if value.dtype.kind == "U":  # a MATLAB char array: uint16 codes
                codes = np.array([[ord(c) for c in str(value)]], dtype=np.uint16)
                ds = f.create_dataset(name, data=codes.T)
                ds.attrs["MATLAB_class"] = np.bytes_(b"char")
                continue
            matlab = np.atleast_2d(value) if value.ndim < 2 else value
            ds = f.create_dataset(name, data=matlab.T)  # MATLAB is column-major: HDF5 holds the transpose
            ds.attrs["MATLAB_class"] = np.bytes_(classes[str(value.dtype)].encode())
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    assert len(header) == 128
    with open(path, "r+b") as f:
        f.write(header)


# ---------------------------------------------------------------------------------------------------------------------
# MAT v5


def test_real_records_read_like_loadmat_and_pass_check(cwru_root: Path) -> None:
    files = sorted(cwru_root.glob("*HP/*.mat"))
    assert len(files) == 28
    for path in files:
        number = int(path.stem)
        mat = scipy.io.loadmat(path)
        rec = read_recording(path)
        assert rec.channel == f"X{number:03d}_DE_time"
        assert rec.channels == (rec.channel,)
        np.testing.assert_array_equal(rec.signal, mat[rec.channel].ravel())
        assert rec.signal.dtype == np.float64 and rec.signal.ndim == 1
        assert rec.sample_rate_hz == (48_000 if number in NORMAL_48K else 12_000)
        assert rec.rpm == float(mat[f"X{number:03d}RPM"][0, 0])
        check_signal(rec.signal, str(path), min_samples=2048)


def test_real_record_105(cwru_root: Path, rec105) -> None:
    rec = read_recording(cwru_root / "0HP" / "105.mat")
    assert isinstance(rec, Recording)
    assert rec.path == cwru_root / "0HP" / "105.mat"
    assert rec.rpm == 1797.0 == float(rec105["rpm"][0, 0])
    assert rec.sample_rate_hz == 12_000
    assert rec.signal.size == 121_265


@pytest.mark.parametrize("compress", [False, True])
def test_mat_any_variable_name_with_fs(tmp_path: Path, rec105, compress: bool) -> None:
    path = tmp_path / "motor_a.mat"
    scipy.io.savemat(path, {"accel": rec105["20k"], "fs": 20_000.0, "note": "pump 3, DE"}, do_compression=compress)
    rec = read_recording(path)
    assert rec.channel == "accel" and rec.channels == ("accel",)
    np.testing.assert_array_equal(rec.signal, scipy.io.loadmat(path)["accel"].ravel())
    np.testing.assert_array_equal(rec.signal, rec105["20k"])
    assert rec.sample_rate_hz == 20_000
    assert rec.rpm is None


def test_mat_without_rate_gives_none_or_the_callers(tmp_path: Path, rec105) -> None:
    path = tmp_path / "sig.mat"
    scipy.io.savemat(path, {"vib": rec105["20k"][:, None], "rpm": 1797.0})  # a column vector
    rec = read_recording(path)
    assert rec.sample_rate_hz is None
    assert rec.rpm == 1797.0
    assert read_recording(path, sample_rate_hz=20_000).sample_rate_hz == 20_000


def test_mat_cwru_layout_rate_and_rpm_from_variables(tmp_path: Path, rec105) -> None:
    path = tmp_path / "anything.mat"
    scipy.io.savemat(path, {"X105_DE_time": rec105["12k"][:, None], "X105RPM": np.uint16(1797)})
    rec = read_recording(path)
    assert (rec.channel, rec.sample_rate_hz, rec.rpm) == ("X105_DE_time", 12_000, 1797.0)
    np.testing.assert_array_equal(rec.signal, rec105["12k"])


def test_mat_cwru_48k_from_the_variable_number_not_the_file_name(tmp_path: Path, rec105) -> None:
    pump = tmp_path / "pump3.mat"
    scipy.io.savemat(pump, {"X097_DE_time": rec105["48k"][:, None], "X097RPM": np.uint16(1796)})
    rec = read_recording(pump)
    assert rec.sample_rate_hz == 48_000 and rec.rpm == 1796.0
    np.testing.assert_array_equal(rec.signal, rec105["48k"])

    named_97 = tmp_path / "97.mat"  # the file name says "normal, 48 kHz"; the content says record 105, 12 kHz
    scipy.io.savemat(named_97, {"X105_DE_time": rec105["12k"][:, None]})
    assert read_recording(named_97).sample_rate_hz == 12_000


def test_mat_unofficial_cwru_number_has_no_rate(tmp_path: Path, rec105) -> None:
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"X999_DE_time": rec105["12k"][:, None]})
    rec = read_recording(path)
    assert rec.channel == "X999_DE_time" and rec.sample_rate_hz is None


def test_mat_prefers_the_drive_end_over_fan_end(tmp_path: Path, rec105) -> None:
    path = tmp_path / "x.mat"
    fe = rec105["12k"][::-1].copy()
    scipy.io.savemat(path, {"X105_FE_time": fe[:, None], "X105_DE_time": rec105["12k"][:, None]})
    rec = read_recording(path)
    assert rec.channel == "X105_DE_time" and rec.channels == ("X105_FE_time", "X105_DE_time")
    rec_fe = read_recording(path, channel="X105_FE_time")
    np.testing.assert_array_equal(rec_fe.signal, fe)
    assert rec_fe.sample_rate_hz == 12_000


def test_mat_two_drive_end_variables_take_the_files_own_like_training(tmp_path: Path, rec105) -> None:
    """An official CWRU file may hold a neighbour record's drive-end variable as well: bpsrm predict then reads
    the one numbered after the file, the variable training reads (bpsrm.data.cwru.read_cwru_record); a file of
    another name still has to be told which."""
    own, neighbour = rec105["12k"], 2.0 * rec105["12k"][::-1]
    variables = {"X105_DE_time": own[:, None], "X106_DE_time": neighbour[:, None]}
    scipy.io.savemat(tmp_path / "105.mat", variables)
    rec = read_recording(tmp_path / "105.mat")
    assert rec.channel == "X105_DE_time" and rec.sample_rate_hz == 12_000
    np.testing.assert_array_equal(rec.signal, own)
    np.testing.assert_array_equal(read_cwru_record(tmp_path / "105.mat")[0], own)
    scipy.io.savemat(tmp_path / "pump.mat", variables)
    with pytest.raises(DataError, match=r"pump\.mat: 2 channels .*--channel"):
        read_recording(tmp_path / "pump.mat")


@pytest.mark.parametrize(
    ("speeds", "expected"),
    [
        ({"X105RPM": 1797}, 1797.0),  # the official layout
        ({"rpm": 1790}, 1790.0),
        ({"speed_rpm": 1780, "RPM": 1780}, 1780.0),  # two names, one speed
        ({"X106RPM": 1772, "X105RPM": 1797}, 1797.0),  # the channel's own record's speed
        ({"X106RPM": 1772, "rpm": 1797}, None),  # two speeds, neither the channel's: not guessed
        ({"X106RPM": 1772}, 1772.0),  # the only speed, though numbered after another record
        ({"note": 3.0}, None),  # a scalar that is no speed
        ({"rpm": "fast", "X105RPM": 1797}, 1797.0),  # text named rpm: no speed, skipped
        ({"speed_rpm": {"value": 1.0}, "rpm": 1750}, 1750.0),  # a struct named speed_rpm: skipped
    ],
)
def test_the_training_reader_and_predict_read_one_shaft_speed(
    tmp_path: Path, rec105, speeds: dict[str, float], expected: float | None
) -> None:
    """One rule for a file's shaft speed (bpsrm.data.cwru.record_rpm) in both readers, by hand-chosen cases."""
    path = tmp_path / "105.mat"
    variables = {k: v if isinstance(v, (str, dict)) else np.array([[v]]) for k, v in speeds.items()}
    scipy.io.savemat(path, {"X105_DE_time": rec105["12k"][:, None], **variables})
    assert read_recording(path).rpm == expected
    assert read_cwru_record_rpm(path)[2] == expected


def test_neither_reader_guesses_the_rate_of_an_unknown_record(tmp_path: Path, rec105) -> None:
    """Record 300 is not in the 12 kHz drive-end set: its rate is unknown to both readers, and said so."""
    path = tmp_path / "300.mat"
    scipy.io.savemat(path, {"X300_DE_time": rec105["12k"][:, None]})
    assert read_recording(path).sample_rate_hz is None
    assert read_recording(path, sample_rate_hz=12_000).sample_rate_hz == 12_000
    with pytest.raises(
        DataError, match=r"300\.mat: neither X300_DE_time nor the file's name .* sample rate is unknown"
    ):
        read_cwru_record(path)
    official = tmp_path / "97.mat"  # a neighbour's variable in an official file: the variable's record decides
    scipy.io.savemat(official, {"X098_DE_time": rec105["12k"][:, None]})
    assert read_cwru_record(official)[1] == 48_000 and read_recording(official).sample_rate_hz == 48_000


def test_mat_two_vectors_need_a_channel(tmp_path: Path, rec105) -> None:
    path = tmp_path / "two.mat"
    a, b = rec105["20k"], 2.0 * rec105["20k"][::-1]
    scipy.io.savemat(path, {"acc_x": a, "acc_y": b})
    with pytest.raises(DataError) as info:
        read_recording(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "'acc_x'" in msg and "'acc_y'" in msg and "--channel" in msg
    np.testing.assert_array_equal(read_recording(path, channel="acc_y").signal, b)
    np.testing.assert_array_equal(read_recording(path, channel=1).signal, b)
    np.testing.assert_array_equal(read_recording(path, channel="0").signal, a)
    assert read_recording(path, channel=0).channels == ("acc_x", "acc_y")
    with pytest.raises(DataError, match=r"no channel 'acc_z'.*'acc_x', 'acc_y'"):
        read_recording(path, channel="acc_z")
    with pytest.raises(DataError, match="no channel index 2"):
        read_recording(path, channel=2)
    with pytest.raises(ParameterError):
        read_recording(path, channel=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("transpose", [False, True])
def test_mat_2d_array_channels_along_the_short_dimension(tmp_path: Path, rec105, transpose: bool) -> None:
    a, b, c = rec105["20k"][:50_000], rec105["20k"][50_000:100_000], rec105["20k"][100_000:150_000]
    table = np.column_stack([a, b, c])
    path = tmp_path / "array.mat"
    scipy.io.savemat(path, {"data": table.T if transpose else table, "Fs": 20_000.0})
    rec = read_recording(path, channel=2)
    assert rec.channels == ("data[0]", "data[1]", "data[2]") and rec.channel == "data[2]"
    np.testing.assert_array_equal(rec.signal, c)
    assert rec.sample_rate_hz == 20_000
    np.testing.assert_array_equal(read_recording(path, channel="data[1]").signal, b)


def test_mat_contradictory_rates_in_the_file(tmp_path: Path, rec105) -> None:
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"X105_DE_time": rec105["12k"][:, None], "fs": 48_000.0})
    with pytest.raises(DataError, match=r"48000 Hz.*12000 Hz"):
        read_recording(path)
    assert read_recording(path, sample_rate_hz=12_000).sample_rate_hz == 12_000  # the caller settles it
    with pytest.raises(DataError, match=r"48000 Hz .*and 12000 Hz .*but a sample rate of 20000 Hz"):
        read_recording(path, sample_rate_hz=20_000)


def test_mat_bad_rate_variable(tmp_path: Path, rec105) -> None:
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"sig": rec105["12k"], "sample_rate": 0.0})
    with pytest.raises(DataError, match=r"sample_rate = 0 is not a sample rate"):
        read_recording(path)


def test_mat_without_numeric_vector(tmp_path: Path) -> None:
    path = tmp_path / "text.mat"
    scipy.io.savemat(path, {"note": "nothing here", "gain": 2.0})
    with pytest.raises(DataError, match=r"no numeric signal.*note.*gain"):
        read_recording(path)


def test_mat_corrupt_files(tmp_path: Path, cwru_root: Path, rec105) -> None:
    real = (cwru_root / "0HP" / "105.mat").read_bytes()
    truncated = tmp_path / "truncated.mat"
    truncated.write_bytes(real[: len(real) // 2])
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    short = tmp_path / "short.mat"
    short.write_bytes(b"MATLAB 5.0")
    compressed = tmp_path / "compressed.mat"
    scipy.io.savemat(compressed, {"sig": rec105["12k"]}, do_compression=True)
    data = bytearray(compressed.read_bytes())
    data[200:400] = bytes(200)  # damage the zlib stream
    damaged = tmp_path / "damaged.mat"
    damaged.write_bytes(bytes(data))
    for path in (truncated, garbage, short, damaged):
        with pytest.raises(DataError) as info:
            read_recording(path)
        assert str(info.value).startswith(str(path)), str(info.value)


# ---------------------------------------------------------------------------------------------------------------------
# MAT v7.3


def test_mat73_cwru_layout(tmp_path: Path, rec105) -> None:
    path = tmp_path / "v73.mat"
    write_mat73(
        path,
        {"X105_DE_time": rec105["12k"][:, None], "X105RPM": np.array([[1797]], dtype=np.uint16), "who": "pump 3"},
    )
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["X105_DE_time"].shape == (1, rec105["12k"].size)  # stored transposed
    rec = read_recording(path)
    assert (rec.channel, rec.channels, rec.sample_rate_hz, rec.rpm) == ("X105_DE_time", ("X105_DE_time",), 12_000, 1797)
    np.testing.assert_array_equal(rec.signal, rec105["12k"])


def test_mat73_matrix_of_channels(tmp_path: Path, rec105) -> None:
    a = rec105["25.6k"][:60_000].astype(np.float32)
    b = rec105["25.6k"][60_000:120_000].astype(np.float32)
    path = tmp_path / "logger.mat"
    write_mat73(path, {"data": np.column_stack([a, b]), "sampling_rate": np.array([[25_600.0]])})
    rec = read_recording(path, channel="data[1]")
    assert rec.channels == ("data[0]", "data[1]") and rec.sample_rate_hz == 25_600
    np.testing.assert_array_equal(rec.signal, b.astype(np.float64))


def test_mat73_needs_h5py(tmp_path: Path, rec105, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v73.mat"
    write_mat73(path, {"X105_DE_time": rec105["12k"][:, None]})
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(DataError, match=r"v7\.3.*pip install h5py") as info:
        read_recording(path)
    assert str(info.value).startswith(str(path))


def test_mat73_corrupt(tmp_path: Path, rec105) -> None:
    path = tmp_path / "v73.mat"
    write_mat73(path, {"X105_DE_time": rec105["12k"][:, None]})
    data = path.read_bytes()
    truncated = tmp_path / "truncated73.mat"
    truncated.write_bytes(data[:2000])
    header_only = tmp_path / "header73.mat"
    header_only.write_bytes(data[:128])
    for bad in (truncated, header_only):
        with pytest.raises(DataError, match=r"not a readable MATLAB v7\.3") as info:
            read_recording(bad)
        assert str(info.value).startswith(str(bad))


# ---------------------------------------------------------------------------------------------------------------------
# CSV / TXT


@pytest.mark.parametrize("time_format", ["%.10f", "%.6f"])
def test_csv_with_header_and_time_column(tmp_path: Path, rec105, time_format: str) -> None:
    x = rec105["25.6k"][:51_200]
    t = np.arange(x.size) / 25_600
    path = tmp_path / "export.csv"
    np.savetxt(
        path, np.column_stack([t, x]), delimiter=",", header="time,accel", comments="", fmt=[time_format, "%.17g"]
    )
    rec = read_recording(path)
    assert rec.channel == "accel" and rec.channels == ("accel",)  # the time column is no channel
    np.testing.assert_array_equal(rec.signal, x)
    assert rec.sample_rate_hz == pytest.approx(25_600, rel=1e-6)
    with pytest.raises(DataError, match="time column"):
        read_recording(path, channel="time")


def test_csv_uneven_time_column_states_no_rate_and_is_read_only_at_its_mean_rate(tmp_path: Path, rec105) -> None:
    """An uneven time column states no rate; it was then read as evenly spaced at any --sample-rate given, without
    a word (session 27's notes). Now: refused without a rate, read at a rate its mean step agrees with (a logger's
    jitter), refused at another."""
    x = rec105["20k"][:1000]
    t = np.cumsum(np.random.default_rng(1).uniform(0.5, 1.5, x.size)) / 20_000
    path = tmp_path / "uneven.csv"
    np.savetxt(path, np.column_stack([t, x]), delimiter=",", header="t,vib", comments="", fmt="%.17g")
    with pytest.raises(DataError, match=r"uneven\.csv: the time column 't' is not evenly spaced \(steps from 2\.5"):
        read_recording(path)
    mean_rate = (x.size - 1) / (t[-1] - t[0])  # by hand: steps between the first and the last time
    rec = read_recording(path, sample_rate_hz=mean_rate)
    assert rec.channel == "vib" and rec.sample_rate_hz == mean_rate
    np.testing.assert_array_equal(rec.signal, x)
    with pytest.raises(DataError, match=r"and its mean step is that of \d{5}(\.\d+)? Hz, not of the 30000 Hz given"):
        read_recording(path, sample_rate_hz=30_000)


@pytest.mark.parametrize(("start", "time_format"), [(0.0, "%.5f"), (300.0, "%.8g"), (99.5, "%.8g")])
def test_a_time_column_rounded_finer_than_a_step_states_the_rate(
    tmp_path: Path, rec105, start: float, time_format: str
) -> None:
    """A logger writing 25.6 kHz times with 5 decimals, or with 8 significant digits from 100 s on, rounds them by
    up to 0.13 of a step: more than the tenth of a step evenly spaced times were allowed, so such a column was
    refused and the rate asked for (session 36's notes). The column still places every sample: it states 25.6 kHz,
    and a time column of real jitter written the same way is still refused."""
    x = rec105["25.6k"][:30_000]
    t = start + np.arange(x.size) / 25_600
    path = tmp_path / "logger.csv"
    np.savetxt(path, np.column_stack([t, x]), delimiter=",", header="time,acc", comments="", fmt=[time_format, "%.17g"])
    assert np.max(np.abs(np.loadtxt(path, delimiter=",", skiprows=1)[:, 0] - t)) > 0.1 / 25_600  # rounded past it
    rec = read_recording(path)
    assert rec.channels == ("acc",) and rec.sample_rate_hz == 25_600
    np.testing.assert_array_equal(rec.signal, x)
    jitter = np.random.default_rng(2).uniform(-0.3, 0.3, x.size) / 25_600  # 0.3 of a step, then the same rounding
    np.savetxt(
        path,
        np.column_stack([t + jitter, x]),
        delimiter=",",
        header="time,acc",
        comments="",
        fmt=[time_format, "%.17g"],
    )
    with pytest.raises(DataError, match=r"the time column 'time' is not evenly spaced"):
        read_recording(path)


@pytest.mark.parametrize(
    ("case", "time_format", "rate"),
    [("dropped", "%.5f", 25_600), ("twice", "%.5f", 25_600), ("dropped", "%.4f", 8_000), ("twice", "%.4f", 9_900)],
)
def test_a_sample_missing_or_written_twice_is_no_even_time_column(tmp_path: Path, case, time_format, rate) -> None:
    """The allowance for rounding let a column with one sample missing (read at 7999.8 Hz) or one time written
    twice (9900.25 Hz) pass as even (helper-88). Each step is now held to the step too, and a precision coarser
    than a fifth of a step (``%.4f`` at 8 kHz: 0.4) allows nothing."""
    t = np.arange(20_001) / rate
    t = np.delete(t, 10_000) if case == "dropped" else np.insert(t, 7_000, t[7_000])[:-2]
    path = tmp_path / "gap.csv"
    x = np.sin(np.arange(t.size) * 0.01)
    np.savetxt(path, np.column_stack([t, x]), delimiter=",", header="time,acc", comments="", fmt=[time_format, "%.6g"])
    with pytest.raises(DataError, match=r"the time column 'time' is not evenly spaced"):
        read_recording(path)


@pytest.mark.parametrize(("start", "samples"), [(10_000.0, 128_000), (300.0, 2_048), (100.0, 2_048), (1_000.0, 20_000)])
def test_times_from_a_large_start_state_the_rate(tmp_path: Path, start: float, samples: int) -> None:
    """A short run of times from 10,000 s clusters near a multiple of 10,000: it seemed written with one digit,
    coarser than a step, and was refused (helper-88). Grids coarser than the step are no longer tried."""
    t = start + np.arange(samples) / 25_600
    path = tmp_path / "late.csv"
    x = np.sin(np.arange(samples) * 0.01)
    np.savetxt(path, np.column_stack([t, x]), delimiter=",", header="time,acc", comments="", fmt=["%.5f", "%.6g"])
    assert read_recording(path).sample_rate_hz == 25_600


@pytest.mark.parametrize(("rate", "time_format"), [(8_000, "%.5f"), (51_200, "%.6f"), (25_600, "%.5f")])
def test_a_rate_within_the_rounding_of_the_ends_is_the_whole_rate(tmp_path: Path, rate: int, time_format: str) -> None:
    """8 kHz times written %.5f lie within a tenth of a step of their grid, so the rounding was not looked at, and
    the rate read was 8000.04 Hz for this second of times (helper-90): the ends' rounding (5e-6 s each over 1 s)
    allows 8000 Hz +- 0.08."""
    t = np.arange(rate) / rate
    path = tmp_path / "rate.csv"
    x = np.sin(np.arange(rate) * 0.01)
    np.savetxt(path, np.column_stack([t, x]), delimiter=",", header="time,acc", comments="", fmt=[time_format, "%.6g"])
    assert read_recording(path).sample_rate_hz == rate


def test_written_rounding_is_half_the_last_digit_written() -> None:
    """By hand: ``%.5f`` moves a time by at most 5e-6 s; ``%.8g`` by 5e-7 s below 100 s and 5e-6 s from 100 s on
    (one decimal fewer); times written in full, not at all."""
    from bpsrm.data.time_column import written_rounding

    def rounding_of(values: np.ndarray, form: str) -> np.ndarray:
        written = np.array([float(form % v) for v in values])
        return written_rounding(written)(written)

    t = np.linspace(0.0, 2.0, 1001) + 1 / 3
    np.testing.assert_allclose(rounding_of(t, "%.5f"), 5e-6)
    crossing = 99.9 + np.arange(5120) / 25_600  # 99.9 s to 100.1 s
    expected = np.where(np.array([float(f"{v:.8g}") for v in crossing]) < 100, 5e-7, 5e-6)
    np.testing.assert_allclose(rounding_of(crossing, "%.8g"), expected)
    np.testing.assert_array_equal(rounding_of(t, "%.17g"), 0.0)


def test_a_time_column_rounded_coarser_than_a_step_reads_at_the_rate_given(tmp_path: Path, rec105) -> None:
    """25.6 kHz times written with 4 decimals step 0 or 1e-4 s: evenly spaced samples whose time column cannot
    say so (helper-52); read at the rate given, which their mean step agrees with."""
    x = rec105["25.6k"][:51_200]
    path = tmp_path / "rounded.csv"
    t = np.arange(x.size) / 25_600
    np.savetxt(path, np.column_stack([t, x]), delimiter=",", header="time,acc", comments="", fmt=["%.4f", "%.17g"])
    with pytest.raises(DataError, match=r"the time column 'time' is not evenly spaced \(steps from 0 to 0\.0001 s\)"):
        read_recording(path)
    rec = read_recording(path, sample_rate_hz=25_600)
    assert rec.channels == ("acc",) and rec.sample_rate_hz == 25_600
    np.testing.assert_array_equal(rec.signal, x)


@pytest.mark.parametrize("column", [[21.5, 21.4, 21.6, 21.5], [0.0, 1e-4, np.nan, 3e-4], [5.0, 5.0, 5.0, 5.0]])
def test_a_column_named_like_time_that_is_no_time_axis_is_a_channel(tmp_path: Path, column: list[float]) -> None:
    """A temperature named T (it falls), a time column with a hole, a constant: none is a time axis, so each is a
    channel like the others; the file was refused whole (helper-52)."""
    path = tmp_path / "with-t.csv"
    np.savetxt(path, np.column_stack([column, [1.0, 2.0, 3.0, 4.0]]), delimiter=",", header="T,acc", comments="")
    rec = read_recording(path, sample_rate_hz=10_000, channel="acc")
    assert rec.channels == ("T", "acc") and rec.signal.tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(DataError, match=r"2 channels \('T', 'acc'\)"):
        read_recording(path, sample_rate_hz=10_000)


def test_csv_without_header(tmp_path: Path, rec105) -> None:
    x = rec105["20k"][:40_000]
    path = tmp_path / "plain.csv"
    np.savetxt(path, x, fmt="%.17g")
    rec = read_recording(path)
    assert rec.channels == ("0",) and rec.channel == "0"
    np.testing.assert_array_equal(rec.signal, x)
    assert rec.sample_rate_hz is None  # not guessed
    assert read_recording(path, sample_rate_hz=20_000).sample_rate_hz == 20_000


def test_csv_semicolon_with_header_two_channels(tmp_path: Path, rec105) -> None:
    x, y = rec105["20k"][:20_000], rec105["20k"][20_000:40_000]
    path = tmp_path / "two.csv"
    lines = ["DE;FE"]
    lines += [f"{a:.17g};{b:.17g}" for a, b in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"'DE', 'FE'.*--channel"):
        read_recording(path)
    rec = read_recording(path, channel="FE")
    assert rec.channels == ("DE", "FE")
    np.testing.assert_array_equal(rec.signal, y)
    np.testing.assert_array_equal(read_recording(path, channel=0).signal, x)


def test_csv_semicolon_decimal_comma(tmp_path: Path, rec105) -> None:
    x = rec105["12k"][:5_000]
    path = tmp_path / "excel.csv"
    rows = [f"{i / 12_000:.8f};{v:.10f}".replace(".", ",") for i, v in enumerate(x)]
    path.write_text("time_s;accel\r\n" + "\r\n".join(rows) + "\r\n", encoding="utf-8-sig")
    rec = read_recording(path)
    np.testing.assert_allclose(rec.signal, x, rtol=0, atol=5e-11)
    assert rec.sample_rate_hz == pytest.approx(12_000, rel=1e-6)


@pytest.mark.parametrize("header", [None, "accel", "time accel"])
def test_decimal_commas_between_spaces_or_alone_on_a_line_are_decimal_commas(tmp_path: Path, rec105, header) -> None:
    """One channel written with decimal commas ("-0,012345" a line) was read as two integer columns, 0 and 12345,
    the sign lost; "--channel 1" then gave those integers as the signal without a word. With spaces between
    the numbers ("0,00005 -0,012345") the reader refused every line. Both are read as the numbers written now."""
    x = rec105["20k"][:4_000]
    lines = [f"{v:.6f}" for v in x]
    if header == "time accel":
        lines = [f"{i / 20_000:.5f} {v}" for i, v in enumerate(lines)]
    path = tmp_path / "logger.txt"
    path.write_text((f"{header}\n" if header else "") + "\n".join(lines).replace(".", ",") + "\n")
    rec = read_recording(path, sample_rate_hz=None if header == "time accel" else 20_000)
    assert rec.channels == ((header.split()[-1],) if header else ("0",))
    np.testing.assert_array_equal(rec.signal, [float(f"{v:.6f}") for v in x])
    assert rec.sample_rate_hz == 20_000


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("1,5\n2,7\n3,1\n", [[1, 5], [2, 7], [3, 1]]),  # two integers a line: the file cannot tell, so commas separate
        ("0,512\n1,498\n2,-3\n", [[0, 512], [1, 498], [2, -3]]),  # a sample number and ADC counts
        ("a,b\n0,125\n0,05\n", [[0, 125], [0, 5]]),  # the header's commas separate its names: so do the data's
        ("0.5,1.25\n-0.5,2\n", [[0.5, 1.25], [-0.5, 2]]),
    ],
)
def test_commas_that_separate_columns_stay_separators(tmp_path: Path, text: str, columns: list) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(text)
    for channel in (0, 1):
        rec = read_recording(path, sample_rate_hz=1_000, channel=channel)
        np.testing.assert_array_equal(rec.signal, [row[channel] for row in columns])


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("sample,adc\n0,512\n1,498\n2,\n3,500\n", r"line 4: no value in column 'adc', the last"),
        ("0,512\n1,498\n2,501\n3\n", r"line 4: 1 values, expected 2"),
    ],
)
def test_an_integer_csv_with_a_value_missing_is_refused_not_read_with_decimal_commas(tmp_path, text, refusal) -> None:
    """The first reading of decimal commas took a line the commas left ragged as a sign of them, and read these
    files as one channel, 0.512, 1.498, 2.0 and 3.5 (helper-90); they are refused as before."""
    path = tmp_path / "adc.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=refusal):
        read_recording(path, sample_rate_hz=1_000, channel=0)


def test_txt_whitespace_and_tabs(tmp_path: Path, rec105) -> None:
    x, y = rec105["20k"][:10_000], rec105["20k"][10_000:20_000]
    spaces = tmp_path / "spaces.txt"
    spaces.write_text(
        "# logger 7, 20 kHz\n" + "\n".join(f"  {a:.17g}   {b:.17g}" for a, b in zip(x, y, strict=True)) + "\n"
    )
    rec = read_recording(spaces, channel=1)
    assert rec.channels == ("0", "1") and rec.channel == "1" and rec.sample_rate_hz is None
    np.testing.assert_array_equal(rec.signal, y)
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("a\tb\n" + "\n".join(f"{a:.17g}\t{b:.17g}" for a, b in zip(x, y, strict=True)))
    np.testing.assert_array_equal(read_recording(tabs, channel="a").signal, x)


def test_csv_text_in_a_numeric_column_names_the_line(tmp_path: Path, rec105) -> None:
    x = rec105["20k"][:1000]
    lines = ["time,accel"] + [f"{i / 20_000!r},{v:.17g}" for i, v in enumerate(x)]
    lines[501] = f"{500 / 20_000!r},overload"  # line 502 of the file
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        read_recording(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "line 502" in msg and "'overload'" in msg and "'accel'" in msg


def test_csv_ragged_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("1.0,2.0\n3.0,4.0\n5.0\n7.0,8.0\n")
    with pytest.raises(DataError, match=r"line 3: 1 values, expected 2"):
        read_recording(path)


def test_text_corrupt_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.csv"
    binary.write_bytes(np.arange(1000, dtype=np.float64).tobytes())
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    words = tmp_path / "words.txt"
    words.write_text("this is not a recording\n")
    for path, what in ((binary, "binary data"), (empty, "no data lines"), (words, "no data lines")):
        with pytest.raises(DataError, match=what) as info:
            read_recording(path)
        assert str(info.value).startswith(str(path))


# ---------------------------------------------------------------------------------------------------------------------
# NPY


def test_npy_1d(tmp_path: Path, rec105) -> None:
    path = tmp_path / "x.npy"
    np.save(path, rec105["25.6k"])
    rec = read_recording(path)
    assert rec.channels == ("0",) and rec.sample_rate_hz is None and rec.rpm is None
    np.testing.assert_array_equal(rec.signal, rec105["25.6k"])
    rec = read_recording(path, sample_rate_hz=25_600, rpm=1797)
    assert rec.sample_rate_hz == 25_600 and rec.rpm == 1797


@pytest.mark.parametrize("transpose", [False, True])
def test_npy_2d(tmp_path: Path, rec105, transpose: bool) -> None:
    x = rec105["48k"][:300_000].reshape(2, -1).T.astype(np.float32)  # 150,000 samples x 2 channels
    path = tmp_path / "x.npy"
    np.save(path, x.T if transpose else x)
    with pytest.raises(DataError, match="--channel"):
        read_recording(path)
    rec = read_recording(path, channel=1)
    assert rec.channels == ("0", "1")
    np.testing.assert_array_equal(rec.signal, x[:, 1].astype(np.float64))


def test_npy_bad_files(tmp_path: Path, rec105) -> None:
    cases = {}
    cases["3d.npy"] = ("1-D or 2-D", np.zeros((2, 3, 4)))
    cases["complex.npy"] = ("real numbers", rec105["12k"][:100] * 1j)
    cases["text.npy"] = ("real numbers", np.array(["a", "b"]))
    for name, (_, value) in cases.items():
        np.save(tmp_path / name, value)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["objects.npy"] = ("not a readable .npy", None)
    np.save(tmp_path / "full.npy", rec105["12k"])
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "full.npy").read_bytes()[:5000])
    cases["truncated.npy"] = ("not a readable .npy", None)
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    cases["garbage.npy"] = ("not a readable .npy", None)
    for name, (what, _) in cases.items():
        with pytest.raises(DataError, match=what) as info:
            read_recording(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))


# ---------------------------------------------------------------------------------------------------------------------
# WAV


def test_wav_int16(tmp_path: Path, rec105) -> None:
    x = rec105["48k"]
    pcm = np.round(x / np.max(np.abs(x)) * 30_000).astype(np.int16)
    path = tmp_path / "phone.wav"
    scipy.io.wavfile.write(path, 48_000, pcm)
    rec = read_recording(path)
    assert rec.sample_rate_hz == 48_000 and rec.channels == ("0",)
    np.testing.assert_array_equal(rec.signal, pcm / 32_768)  # full scale, by hand
    check_signal(rec.signal, str(path), min_samples=2048)


def test_wav_float32_stereo_and_uint8(tmp_path: Path, rec105) -> None:
    x = rec105["25.6k"]
    stereo = np.column_stack([x, -x]).astype(np.float32)
    path = tmp_path / "stereo.wav"
    scipy.io.wavfile.write(path, 25_600, stereo)
    with pytest.raises(DataError, match="--channel"):
        read_recording(path)
    rec = read_recording(path, channel="1")
    assert rec.channels == ("0", "1") and rec.sample_rate_hz == 25_600
    np.testing.assert_array_equal(rec.signal, stereo[:, 1].astype(np.float64))

    u8 = np.clip(np.round(x / np.max(np.abs(x)) * 100 + 128), 0, 255).astype(np.uint8)
    path8 = tmp_path / "u8.wav"
    scipy.io.wavfile.write(path8, 12_000, u8)
    np.testing.assert_array_equal(read_recording(path8).signal, (u8.astype(np.float64) - 128) / 128)

    i32 = np.round(x / np.max(np.abs(x)) * 2**30).astype(np.int32)
    path32 = tmp_path / "i32.wav"
    scipy.io.wavfile.write(path32, 25_600, i32)
    np.testing.assert_array_equal(read_recording(path32).signal, i32 / 2.0**31)


def test_wav_rate_conflict_and_tolerance(tmp_path: Path, rec105) -> None:
    path = tmp_path / "x.wav"
    scipy.io.wavfile.write(path, 48_000, rec105["48k"].astype(np.float32))
    with pytest.raises(DataError) as info:
        read_recording(path, sample_rate_hz=12_000)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "48000 Hz" in msg and "12000 Hz" in msg
    assert read_recording(path, sample_rate_hz=48_030).sample_rate_hz == 48_030  # 0.0625 %: the caller's value
    with pytest.raises(DataError):
        read_recording(path, sample_rate_hz=48_100)  # 0.21 %


def test_wav_corrupt(tmp_path: Path, rec105) -> None:
    good = tmp_path / "good.wav"
    scipy.io.wavfile.write(good, 12_000, (rec105["12k"] * 1000).astype(np.int16))
    data = good.read_bytes()
    (tmp_path / "header.wav").write_bytes(data[:30])
    (tmp_path / "garbage.wav").write_bytes(np.random.default_rng(2).bytes(2000))
    (tmp_path / "notwav.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    for name in ("header.wav", "garbage.wav", "notwav.wav"):
        with pytest.raises(DataError, match=r"not a readable \.wav") as info:
            read_recording(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))


def test_wav_cut_short_is_refused(tmp_path: Path) -> None:
    """A data chunk declaring more bytes than the file holds is a truncated recording, whether or not the RIFF
    header's size was fixed up to the shorter file; chunks after the data chunk (odd-sized: padded) still read."""
    pcm = (np.arange(1000) % 100).astype(np.int16)
    good = tmp_path / "good.wav"
    scipy.io.wavfile.write(good, 12_000, pcm)
    data = good.read_bytes()
    assert data[36:40] == b"data" and struct.unpack("<I", data[40:44])[0] == 2000  # the layout scipy writes
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:1044])  # 500 of 1000 samples; the RIFF size still says 2036
    fixed = bytearray(data[:1044])
    fixed[4:8] = struct.pack("<I", 1044 - 8)  # the RIFF size agrees with the short file: scipy says nothing
    fixed_path = tmp_path / "fixed.wav"
    fixed_path.write_bytes(bytes(fixed))
    for path in (cut, fixed_path):
        with pytest.raises(DataError, match="declares 2000 bytes but the file holds 1000") as info:
            read_recording(path)
        assert str(info.value).startswith(str(path))
    # An odd-sized chunk before the data chunk (one pad byte after it) is stepped over, also in a short file.
    odd = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"
    before = bytearray(data[:36] + odd + data[36:1044])
    before[4:8] = struct.pack("<I", len(before) - 8)
    (tmp_path / "odd-cut.wav").write_bytes(bytes(before))
    with pytest.raises(DataError, match="declares 2000 bytes but the file holds 1000"):
        read_recording(tmp_path / "odd-cut.wav")
    # Streamed files carry a placeholder size when the writer did not know the length: read as they are.
    for placeholder in (0xFFFFFFFF, 0x7FFFFFFF):
        streamed = bytearray(data)
        streamed[4:8] = struct.pack("<I", placeholder)
        streamed[40:44] = struct.pack("<I", placeholder)
        (tmp_path / "streamed.wav").write_bytes(bytes(streamed))
        assert np.array_equal(read_recording(tmp_path / "streamed.wav").signal, pcm / 32768.0)
    tail = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"  # odd body, one pad byte
    whole = bytearray(data + tail)
    whole[4:8] = struct.pack("<I", len(whole) - 8)
    listed = tmp_path / "listed.wav"
    listed.write_bytes(bytes(whole))
    assert np.array_equal(read_recording(listed).signal, pcm / 32768.0)


# ---------------------------------------------------------------------------------------------------------------------
# Arguments, suffixes, rpm


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataError) as info:
        read_recording(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and all(s in msg for s in RECORDING_SUFFIXES)
    with pytest.raises(DataError, match="no such file"):
        read_recording(tmp_path / "absent.wav")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="a folder"):
        read_recording(tmp_path / "folder.csv")


def test_suffix_case_does_not_matter(tmp_path: Path, rec105) -> None:
    path = tmp_path / "X.NPY"
    np.save(tmp_path / "x.npy", rec105["12k"])
    (tmp_path / "x.npy").rename(path)
    np.testing.assert_array_equal(read_recording(path).signal, rec105["12k"])


@pytest.mark.parametrize("bad", [0, -12_000, math.nan, math.inf, True, "12000"])
def test_bad_rate_or_rpm_arguments(tmp_path: Path, rec105, bad) -> None:
    path = tmp_path / "x.npy"
    np.save(path, rec105["12k"])
    with pytest.raises(ParameterError):
        read_recording(path, sample_rate_hz=bad)
    with pytest.raises(ParameterError):
        read_recording(path, rpm=bad)


def test_callers_rpm_wins(cwru_root: Path) -> None:
    rec = read_recording(cwru_root / "0HP" / "105.mat", rpm=1750)
    assert rec.rpm == 1750


def test_cwru_rate_conflict(cwru_root: Path) -> None:
    path = cwru_root / "0HP" / "105.mat"
    with pytest.raises(DataError, match=r"12000 Hz.*48000 Hz"):
        read_recording(path, sample_rate_hz=48_000)
    assert read_recording(path, sample_rate_hz=12_000).sample_rate_hz == 12_000


# ---------------------------------------------------------------------------------------------------------------------
# check_signal


def test_check_signal_nan_and_inf(rec105) -> None:
    x = rec105["12k"].copy()
    x[[10, 20, 30]] = np.nan
    x[40] = np.inf
    message = r"^pump\.csv: 4 of 121265 samples are not finite \(3 NaN, 1 infinite; the first is sample 10, counted"
    with pytest.raises(DataError, match=message):  # where to look: it gave no position (helper-82)
        check_signal(x, "pump.csv", min_samples=2048)


def test_an_empty_last_value_of_a_csv_line_is_named_as_such(tmp_path) -> None:
    """ "0.5," under "time_s,a" was "1 values, expected 2": the separator at the end was read as a trailing one."""
    path = tmp_path / "gap.csv"
    lines = [f"{i / 1000:.3f},{np.sin(i * 0.1):.5f}" for i in range(3000)]
    lines[7] = "0.007,"
    path.write_text("time_s,a\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"gap\.csv: line 9: no value in column 'a', the last \(expected a number\)"):
        read_recording(path)


def test_check_signal_too_short(rec105) -> None:
    with pytest.raises(DataError, match=r"^where: 100 samples, fewer than the 2048 needed"):
        check_signal(rec105["12k"][:100], "where", min_samples=2048)
    check_signal(rec105["12k"][:2048], "where", min_samples=2048)


@pytest.mark.parametrize("value", [0.0, 3.7])
def test_check_signal_flat(value: float) -> None:
    with pytest.raises(DataError, match=r"^x: flat .*a dead sensor or a disconnected channel"):
        check_signal(np.full(10_000, value), "x", min_samples=2048)


def test_check_signal_tiny_but_not_flat_passes(rec105) -> None:
    check_signal(rec105["12k"] * 1e-6, "x", min_samples=2048)  # micro-g signals are still signals


def test_check_signal_clipped(rec105) -> None:
    x = rec105["12k"]
    level = 0.3 * np.max(np.abs(x))
    clipped = np.clip(x, -level, level)
    with pytest.raises(DataError, match=rf"^rec: clipped at \+-{level:g}: a saturated sensor"):
        check_signal(clipped, "rec", min_samples=2048)
    one_sided = np.minimum(x, level)
    with pytest.raises(DataError, match=rf"clipped at \+{level:g}: a saturated sensor"):
        check_signal(one_sided, "rec", min_samples=2048)


def test_check_signal_clipped_int16_wav(tmp_path: Path, rec105) -> None:
    x = rec105["12k"]
    pcm = np.clip(np.round(x / np.max(np.abs(x)) * 4 * 32_767), -32_768, 32_767).astype(np.int16)  # 4x overdriven
    path = tmp_path / "hot.wav"
    scipy.io.wavfile.write(path, 12_000, pcm)
    with pytest.raises(DataError, match="clipped"):
        check_signal(read_recording(path).signal, str(path), min_samples=2048)


def test_check_signal_coarse_quantisation_is_not_clipping(rec105) -> None:
    x = rec105["12k"]
    coarse = np.round(x / np.std(x) * 2)  # a few ADC levels: many samples at the extremes' neighbours
    check_signal(coarse, "x", min_samples=2048)


def test_check_signal_arguments(rec105) -> None:
    with pytest.raises(ParameterError):
        check_signal(np.zeros((10, 2)), "x", min_samples=1)
    with pytest.raises(ParameterError):
        check_signal(rec105["12k"], "x", min_samples=0)


# ---------------------------------------------------------------------------------------------------------------------
# resample


def test_resample_sine_matches_analytic_samples() -> None:
    n = np.arange(48_000)
    x = np.sin(2 * np.pi * 1000 * n / 48_000)
    y = resample(x, 48_000, 12_000)
    assert y.shape == (12_000,) and y.dtype == np.float64
    expected = np.sin(2 * np.pi * 1000 * np.arange(12_000) / 12_000)
    np.testing.assert_allclose(y[200:-200], expected[200:-200], rtol=0, atol=1e-3)


@pytest.mark.parametrize(("from_hz", "to_hz"), [(20_000, 12_000), (25_600, 12_000), (12_000, 25_600), (44_100, 12_000)])
def test_resample_sine_other_ratios(from_hz: int, to_hz: int) -> None:
    n = np.arange(2 * from_hz)
    x = np.sin(2 * np.pi * 700 * n / from_hz + 0.3)
    y = resample(x, from_hz, to_hz)
    assert y.size == round(x.size * to_hz / from_hz)
    expected = np.sin(2 * np.pi * 700 * np.arange(y.size) / to_hz + 0.3)
    # scipy's default Kaiser (beta 5) filter has a pass-band ripple of about 0.2 %
    np.testing.assert_allclose(y[300:-300], expected[300:-300], rtol=0, atol=3e-3)


def test_resample_removes_what_would_alias() -> None:
    n = np.arange(48_000)
    tone = np.sin(2 * np.pi * 10_000 * n / 48_000)  # above 6 kHz, the Nyquist frequency of 12 kHz
    naive = tone[::4]  # decimation without a filter: the tone aliases to 2 kHz at full amplitude
    assert np.sqrt(np.mean(naive**2)) > 0.5
    y = resample(tone, 48_000, 12_000)
    assert np.sqrt(np.mean(y[200:-200] ** 2)) < 1e-2 * np.sqrt(np.mean(tone**2))


def test_resample_lengths_and_identity(rec105) -> None:
    x = rec105["12k"][:1001]
    for from_hz, to_hz in [(20_000, 25_600), (12_000, 44_100), (32_768, 12_000), (1_000, 999)]:
        assert resample(x, from_hz, to_hz).size == round(1001 * to_hz / from_hz)
    assert resample(x, 48_000, 12_000).size == 251  # a whole factor: every 4th sample from the first
    same = resample(x, 12_000, 12_000)
    np.testing.assert_array_equal(same, x)
    assert same is not x


def test_resample_round_trip_of_a_real_record(rec105) -> None:
    """25.6 kHz (made from 12 kHz by scipy here) back to 12 kHz: the original record, away from the edges."""
    back = resample(rec105["25.6k"], 25_600, 12_000)
    x = rec105["12k"]
    assert back.size == x.size
    err = back[500:-500] - x[500:-500]
    assert np.sqrt(np.mean(err**2)) < 0.05 * np.sqrt(np.mean(x**2))


@pytest.mark.parametrize(("from_hz", "to_hz"), [(0, 12_000), (12_000, -1), (math.nan, 12_000), (12_000, 1)])
def test_resample_bad_rates(from_hz: float, to_hz: float) -> None:
    with pytest.raises(ParameterError):
        resample(np.zeros(100), from_hz, to_hz)


def test_resample_refuses_more_than_16x_up_sampling() -> None:
    """A rate misread from a file (1e-6 Hz in a .mat's fs, 1 Hz from a time column of sample numbers) turned 20
    samples into 2.4e11 at 12 kHz: numpy asked for 1.75 TiB."""
    assert resample(np.zeros(100), 750, 12_000).size == 1600  # 16x: still taken
    with pytest.raises(ParameterError, match=r"1 Hz to 12000 Hz is 1.2e\+04x up-sampling, more than the 16x"):
        resample(np.zeros(2000), 1, 12_000)
    with pytest.raises(DataError, match=r"^x.csv: resample: 1e-06 Hz"):
        VibrationPreprocess().signal(np.zeros(20), 1e-6, None, "x.csv")


def test_only_the_chosen_channel_of_a_mat_file_is_read(tmp_path, monkeypatch) -> None:
    """Every variable used to be read (and made float64) before the channel was chosen: four 64 MiB variables
    of a 261 KB file took 2.4 GB. Scalars (rates, speeds) are read at once; a channel when it is chosen."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3000), rng.normal(size=3000)
    read: list[str] = []
    values = Mat5.values
    monkeypatch.setattr(Mat5, "values", lambda self, name: read.append(name) or values(self, name))
    for compress in (False, True):
        path = tmp_path / f"two-{compress}.mat"
        scipy.io.savemat(path, {"a": a, "b": b, "fs": 12_000.0}, do_compression=compress)
        read.clear()
        recording = read_recording(path, channel="b")
        np.testing.assert_array_equal(recording.signal, b)
        assert recording.sample_rate_hz == 12_000.0 and recording.channels == ("a", "b")
        assert sorted(read) == ["b", "fs"]
    path = tmp_path / "two.h5.mat"
    write_mat73(path, {"a": a, "b": b, "fs": np.array(12_000.0)})
    np.testing.assert_array_equal(read_recording(path, channel="a").signal, a)


def test_a_variable_beyond_the_limit_as_float64_is_refused(tmp_path, monkeypatch) -> None:
    """The limit holds for the values as float64 (a variable of bytes grows 8-fold), in v5 and v7.3 files."""
    monkeypatch.setattr(matfile, "MAX_VARIABLE_BYTES", 1000)
    monkeypatch.setattr(recordings, "MAX_VARIABLE_BYTES", 1000)
    path = tmp_path / "bytes.mat"
    scipy.io.savemat(path, {"x": np.arange(200, dtype=np.uint8) % 7, "fs": 12_000.0})  # 200 bytes, 1600 as float64
    with pytest.raises(DataError, match=r"bytes.mat: cannot read variable x \(variable 'x' holds 200 values, 1600"):
        read_recording(path)
    path = tmp_path / "fill.mat"
    write_mat73(path, {"x": np.ones(200), "fs": np.array(12_000.0)})
    with pytest.raises(DataError, match=r"fill.mat: variable x holds 200 values, 1600 bytes as float64"):
        read_recording(path)


def test_every_csv_column_stays_a_channel_when_names_repeat_or_are_empty(tmp_path) -> None:
    """Header "a,2,,": column 1 is named "2" and the unnamed column 2 took the name "2" too, overwriting it."""
    path = tmp_path / "names.csv"
    path.write_text("a,2,,\n1,2,3\n4,5,7\n2,3,1\n")
    assert read_recording(path, sample_rate_hz=12_000, channel=0).channels == ("a", "2", "#2")
    np.testing.assert_array_equal(read_recording(path, sample_rate_hz=12_000, channel="2").signal, [2, 5, 3])
    np.testing.assert_array_equal(read_recording(path, sample_rate_hz=12_000, channel="#2").signal, [3, 7, 1])
    path.write_text("x,x,y\n1,2,3\n4,5,7\n")  # a repeated name: the second is its index, as before
    assert read_recording(path, sample_rate_hz=12_000, channel=0).channels == ("x", "1", "y")


def test_a_1d_dataset_of_an_hdf5_file_without_matlab_attributes_is_a_channel(tmp_path) -> None:
    """h5py writes a vector as a 1-D dataset; the lazy reader first took only MATLAB's 2-D shapes for vectors."""
    path = tmp_path / "h5py.mat"
    signal = np.random.default_rng(0).normal(size=1000)
    with h5py.File(path, "w", userblock_size=512) as f:
        f["sig"] = signal
        f["fs"] = 12_000.0
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    recording = read_recording(path)
    np.testing.assert_array_equal(recording.signal, signal)
    assert recording.channel == "sig" and recording.sample_rate_hz == 12_000.0


def test_a_text_file_with_carriage_returns_alone_reads_its_lines(tmp_path) -> None:
    """Old Mac line ends (\\r alone) made one line of the whole file: "a header line and no data lines"."""
    path = tmp_path / "mac.csv"
    path.write_bytes(b"accel\r0.1\r-0.2\r0.3\r")
    np.testing.assert_array_equal(read_recording(path, sample_rate_hz=12_000).signal, [0.1, -0.2, 0.3])
    path.write_bytes(b"accel\r0.1\rsensor fault\r0.3\r")
    with pytest.raises(DataError, match="line 3"):
        read_recording(path, sample_rate_hz=12_000)


def test_an_empty_own_drive_end_variable_is_refused_not_passed_over_for_the_neighbours(tmp_path: Path, rec105) -> None:
    """105.mat with an empty X105_DE_time beside its neighbour's X106_DE_time: predict read X106 (the only usable
    drive-end channel) where training refuses the file; both refuse now (one rule, helper-46)."""
    path = tmp_path / "105.mat"
    scipy.io.savemat(path, {"X105_DE_time": np.zeros((0, 1)), "X106_DE_time": rec105["12k"][:, None]})
    with pytest.raises(DataError, match=r"X105_DE_time is empty"):
        read_cwru_record(path)
    with pytest.raises(DataError, match=r"105\.mat: its drive-end variable is not a signal: X105_DE_time \(empty\)"):
        read_recording(path)
    assert read_recording(path, channel="X106_DE_time").signal.size == rec105["12k"].size  # asked for by name: read


def test_sample_rates_outside_one_millihertz_to_one_gigahertz_are_refused(tmp_path: Path) -> None:
    """1e305 Hz overflowed the window arithmetic, 1e-308 Hz the resampling message, and a time column with steps of
    1e-310 s the rate's rounding: each a traceback before (helper-50). The bounds themselves are accepted."""
    signal = np.random.default_rng(0).normal(size=4000)
    np.save(tmp_path / "x.npy", signal)
    for rate in (1e305, 1e-308, 5e-324, 2e9):
        with pytest.raises(
            DataError, match=r"x\.npy: a sample rate of .* Hz \(given\); expected 0\.001 Hz to 1e\+09 Hz"
        ):
            read_recording(tmp_path / "x.npy", sample_rate_hz=rate)
    for rate in (1e-3, 1e9):
        assert read_recording(tmp_path / "x.npy", sample_rate_hz=rate).sample_rate_hz == rate
    rows = "\n".join(f"{i * 1e-310!r},{float(v)!r}" for i, v in enumerate(signal[:100]))
    (tmp_path / "t.csv").write_text("time,x\n" + rows + "\n")
    with pytest.raises(DataError, match=r"t\.csv: a sample rate of inf Hz \(stated by the file\)"):
        read_recording(tmp_path / "t.csv")


def test_a_signal_whose_spread_overflows_is_refused() -> None:
    """Values of +-1e308 (finite) passed the check and came out of the network as NaN, reported as an error of
    'srm: the input x' with a Python-only option; 1e200 gave 'unknown' for every window (helper-50)."""
    alternating = np.where(np.arange(1000) % 2, 1e308, -1e308)
    with pytest.raises(DataError, match=r"rec: values from -1e\+308 to 1e\+308, too large to normalise"):
        check_signal(alternating, "rec", min_samples=10)
    with pytest.raises(DataError, match="too large to normalise"):
        check_signal(np.random.default_rng(0).normal(size=1000) * 1e200, "rec", min_samples=10)
    check_signal(np.random.default_rng(0).normal(size=1000) * 1e100, "rec", min_samples=10)  # large, but usable


@pytest.mark.parametrize("header", ["time_ms", "t_ms", "Time [ms]", "time (MS)"])
def test_a_time_column_in_milliseconds_gives_the_rate(tmp_path, header) -> None:
    """A logger's "time_ms" column was read as a second channel, and the file then had no rate."""
    rate = 25_600
    x = np.sin(np.arange(600) * 0.3)
    path = tmp_path / "ms.csv"
    times_ms = np.arange(600) * 1000.0 / rate
    np.savetxt(path, np.column_stack([times_ms, x]), delimiter=",", header=f"{header},acc", comments="", fmt="%.17g")
    rec = read_recording(path)
    assert rec.channels == ("acc",) and rec.channel == "acc"
    assert rec.sample_rate_hz == pytest.approx(rate, rel=1e-9)
    np.testing.assert_array_equal(rec.signal, x)


@pytest.mark.parametrize(
    ("header", "seconds_per_unit"),
    [("timestamp", 1.0), ("Time (sec)", 1.0), ("Zeit [s]", 1.0), ("time seconds", 1.0), ("time_us", 1e-6),
     ("t [µs]", 1e-6), ("time_msec", 1e-3)],
)  # fmt: skip
def test_time_columns_as_loggers_name_them_give_the_rate(tmp_path, header, seconds_per_unit) -> None:
    """ "timestamp,a" and "Time (sec)" were read as a second channel (helper-82): the file had 2 channels and, with
    --channel a, no rate."""
    rate = 20_000
    x = np.sin(np.arange(500) * 0.2)
    path = tmp_path / "logger.csv"
    times = np.arange(500) / rate / seconds_per_unit
    np.savetxt(path, np.column_stack([times, x]), delimiter=",", header=f"{header},a", comments="", fmt="%.17g")
    rec = read_recording(path)
    assert rec.channels == ("a",) and rec.sample_rate_hz == pytest.approx(rate, rel=1e-9)


@pytest.mark.parametrize(("name", "value", "rate"), [("fs_khz", 12.0, 12_000.0), ("samplerate", 25_600.0, 25_600.0)])
def test_a_rate_variable_in_kilohertz_or_run_together_gives_the_rate(tmp_path, name, value, rate) -> None:
    """A .mat with "fs_khz = 12" was read without a rate, without a word (helper-82)."""
    path = tmp_path / "rec.mat"
    scipy.io.savemat(path, {"accel": np.sin(np.arange(5000) * 0.1).reshape(-1, 1), name: value})
    assert read_recording(path).sample_rate_hz == rate


def test_a_dead_sensor_reading_its_quantisation_noise_is_refused() -> None:
    """+-1 LSB of a 16-bit converter passed as a signal and was answered "unknown" without a reason (helper-61)."""
    lsb = np.random.default_rng(0).integers(-1, 2, size=50_000) / 32768.0
    with pytest.raises(DataError, match=r"^dead\.wav: only 3 distinct values \(-3\.05176e-05, 0, 3\.05176e-05\)"):
        check_signal(lsb, "dead.wav", min_samples=2048)
    live = np.round(np.sin(np.arange(50_000) * 0.05) * 40) / 32768.0  # 81 levels: a weak but live signal
    check_signal(live, "live.wav", min_samples=2048)


@pytest.mark.data
def test_cwru_to_recording_keeps_the_first_or_the_last_seconds(cwru_root, tmp_path) -> None:
    """--seconds kept the first N seconds only: the training part of a record of a trained load (helper-61);
    --last keeps the end, from the test part. Checked against the record itself at its own rate."""
    import subprocess
    import sys

    from bpsrm.data.cwru import read_cwru_record

    record = cwru_root / "0HP" / "105.mat"
    signal, rate = read_cwru_record(record)
    for flags, part in (([], signal[:12_000]), (["--last"], signal[-12_000:])):
        out = tmp_path / f"x{len(flags)}.npy"
        args = [str(record), str(out), "--rate", str(rate), "--seconds", "1", *flags]
        subprocess.run([sys.executable, str(REPO / "scripts" / "cwru_to_recording.py"), *args], check=True)
        np.testing.assert_array_equal(np.load(out), part)


@pytest.mark.parametrize(
    ("above", "header", "channel"),
    [
        ("", "time_s,acc", "acc"),
        ("# exported by the logger\n% units: g\n\n", "time_s,acc", "acc"),
        ("Logger export\nSample Rate,25600\nChannels,1\n\n", "time_s,acc", "acc"),
        ("Run 3\n", "time,acc\ns,g", "acc [g]"),
    ],
    ids=["plain", "comments above", "metadata above", "units row"],
)
def test_a_long_csv_is_read_without_a_python_object_per_line(tmp_path: Path, above: str, header: str, channel: str):
    """Ten minutes at 25.6 kHz in a 150 MB CSV took 4.1 GB to predict on (helper-86): the reader kept a tuple and a
    string per line. Its memory at the peak is now a few times the file's, with comments above the header too:
    7.0 times until 2026-12-07 (the text copied into a StringIO for the first lines and for numpy's reader, at 4
    bytes a character), 4.0 times since; and with metadata above the table, read as comments after the file is
    refused at them (13.4 times in 2a70a28, helper-96: every line held before the refusal at line 2); and with a
    row of units under the names (13.2 times in 983438c, helper-97: a comment under the header sent the file to the
    line-by-line reader)."""
    import tracemalloc

    x = np.random.default_rng(0).normal(size=200_000)
    path = tmp_path / "long.csv"
    rows = "\n".join(f"{i / 25_600:.10g},{v:.6g}" for i, v in enumerate(x))
    path.write_text(f"{above}{header}\n{rows}\n")
    read_recording(path)  # imports and caches, outside the measurement
    tracemalloc.start()
    try:
        recording = read_recording(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert recording.sample_rate_hz == pytest.approx(25_600) and recording.channel == channel
    np.testing.assert_allclose(recording.signal, x, rtol=1e-5, atol=1e-6)  # 6 significant digits in the file
    size = path.stat().st_size
    assert peak < 5 * size, f"{peak / 1e6:.1f} MB at the peak for a {size / 1e6:.1f} MB file"


@pytest.mark.parametrize(
    ("tail", "ending"),
    [("# end of recording\n", "\n"), ("  \n\n", "\n"), ("% done\r\n", "\r\n"), ("", "\t\n"), ("", "\r")],
)
def test_a_csv_ending_in_comments_blanks_or_trailing_separators_reads_its_numbers(tmp_path: Path, tail, ending) -> None:
    """Lines numpy's reader refuses in the file's own text (a comment or blank line after the data, a tab after the
    last column, old Macs' CR) are read as the lines they are: by hand, times 0.00, 0.01, ... and values 0, 1, ..."""
    sep = "\t" if ending == "\t\n" else ","
    rows = "".join(f"{i / 100:.2f}{sep}{i}{ending}" for i in range(300))
    path = tmp_path / "r.csv"
    path.write_bytes(f"time_s{sep}acc{ending}{rows}{tail}".encode())
    recording = read_recording(path)
    assert recording.channel == "acc" and recording.sample_rate_hz == pytest.approx(100.0)
    assert recording.signal.tolist() == [float(i) for i in range(300)]


@pytest.mark.parametrize("seed", range(20))
def test_the_first_lines_are_cut_as_str_splitlines_cuts_them(seed: int) -> None:
    """The lazy line cutter of the sniff and of the clock's error equals ``str.splitlines`` on texts of LF, CR LF
    and lone CR (old Macs), with blank, comment and unended last lines, and so does the StringIO of the full pass."""
    from bpsrm.data.recordings import _data_lines

    rng = np.random.default_rng(seed)
    pieces = ["1,2", " ", "#x", "%", "\n", "\r\n", "\r", "a", "\t", ""]
    text = "".join(rng.choice(pieces, size=int(rng.integers(0, 60))).tolist())
    expected = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith(("#", "%"))
    ]
    assert list(_data_lines(text, False, few=True)) == expected
    assert list(_data_lines(text, False)) == expected


@pytest.mark.parametrize("odd", ["\f", "\v", "\x1c", "\x85", "\u2028", "\u2029"])
def test_line_ends_that_only_str_splitlines_knows_end_lines(tmp_path: Path, odd: str) -> None:
    """A form feed, a vertical tab, a file separator, NEL or a Unicode line or paragraph separator ends a line
    where it stands between samples (as ``str.splitlines`` reads the text), though numpy's reader would not cut
    there: by hand, times 0.00, 0.01, ... and values 0, 1, ..."""
    rows = [f"{i / 100:.2f},{i}" for i in range(300)]
    text = "time_s,acc\n" + "".join(row + (odd if i % 7 == 3 else "\n") for i, row in enumerate(rows))
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    recording = read_recording(path)
    assert recording.channel == "acc" and recording.sample_rate_hz == pytest.approx(100.0)
    assert recording.signal.tolist() == [float(i) for i in range(300)]


@pytest.mark.parametrize("header", ["Time (\u03bcs),Acc [g]", "Time [\u03bcs],Acc [g]", "time \u03bcs,Acc [g]"])
def test_microseconds_written_with_the_greek_mu_are_microseconds(tmp_path: Path, header: str) -> None:
    """UTF-8 exports write micro with the Greek mu (U+03BC) as often as with the micro sign (U+00B5); the name
    matched, but the unit was looked up as seconds and the rate read a million times too low (0.0256 Hz,
    helper-95). By hand: 25.6 kHz is a step of 39.0625 us."""
    path = tmp_path / "mu.csv"
    path.write_text(header + "\n" + "".join(f"{i * 39.0625:.4f},{i % 7}\n" for i in range(2000)), encoding="utf-8")
    recording = read_recording(path)
    assert recording.sample_rate_hz == pytest.approx(25_600.0) and recording.channel == "Acc [g]"


def segments_file(tmp_path: Path, name: str = "Time") -> Path:
    """Two segments of 300 samples at 100 Hz, each timed from 0, one after the other under one header."""
    rows = [f"{i / 100:.2f},{segment * 1000 + i}" for segment in range(2) for i in range(300)]
    path = tmp_path / "segments.csv"
    path.write_text(f"{name},acc\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("rate", [None, 100.0])
def test_a_time_column_that_starts_again_is_refused_naming_the_line(tmp_path: Path, rate: float | None) -> None:
    """Segments appended one after another (a multi-trigger export) made the time column a channel, and with the
    channel and rate given the two segments were read as one recording (helper-95). Line 1 is the header, the
    second segment's first sample (0.00 s after 2.99 s) is on line 302."""
    with pytest.raises(
        DataError, match=r"segments\.csv: line 302: the time column 'Time' goes back from 2\.99 s to 0 s"
    ):
        read_recording(segments_file(tmp_path), sample_rate_hz=rate, channel="acc")


@pytest.mark.parametrize(
    ("values", "restart"),
    [
        ([0, 1, 2, 0, 1, 2], 3),  # starts again from 0
        ([5, 6, 7, 5, 6], 3),  # falls to its first value
        ([5, 6, 7, 5.5, 6.5], None),  # falls by 1.5 of the 2 it rose, but not to its first value: a counter's wrap
        ([0, 1, 2, 3, 2, 3, 4], None),  # falls by 1 of 3: a temperature's dip
        ([0, 1, 2, 0, 1, 0, 1], None),  # goes back at 2 of 6 steps: more than 1 %
        ([21.5, 21.4, 21.6, 21.5], None),  # a temperature T that falls at once
        ([0, 0, 0, 0], None),  # never goes back
        ([0, 1, float("nan"), 0, 1], None),  # not finite
        ([3, 2, 3, 4], None),  # falls before it rose
    ],
)
def test_first_restart_by_hand(values: list[float], restart: int | None) -> None:
    from bpsrm.data.time_column import first_restart

    assert first_restart(np.asarray(values, dtype=np.float64)) == restart


def test_a_slowly_rising_temperature_named_t_that_cools_over_some_samples_stays_a_channel(tmp_path: Path) -> None:
    """A heater cycle: 20 to 25 degrees over 400 samples, back to 20 over 20 samples, twice. It goes back at 40 of
    839 steps (more than 1 %), each by a twentieth of the rise: no restart; a channel as before."""
    cycle = np.r_[np.linspace(20, 25, 400), np.linspace(24.75, 20, 20)]
    path = tmp_path / "heater.csv"
    np.savetxt(
        path, np.column_stack([np.r_[cycle, cycle], np.arange(840.0)]), delimiter=",", header="T,acc", comments=""
    )
    recording = read_recording(path, sample_rate_hz=100.0, channel="acc")
    assert recording.channels == ("T", "acc")


@pytest.mark.parametrize(
    ("scale", "header", "given", "says"),
    [
        (
            1e3,
            "time",
            25_600.0,
            r"1,000 times what the time column 'time' states: are its times in milliseconds\? "
            r"Say so in the header \('time_ms' or 'Time \[ms\]'\)",
        ),
        (
            1e6,
            "Time",
            25_600.0,
            r"1,000,000 times what the time column 'Time' states: are its times in "
            r"microseconds\?",
        ),
        (1.0, "time", 25.6, r"a thousandth of the file's: is it in kHz\? --sample-rate takes Hz"),
    ],
)
def test_a_rate_a_thousand_times_off_says_which_unit_is_wrong(tmp_path, scale, header, given, says) -> None:
    """An Arduino's millis() or micros() under a header "time" states 25.6 Hz or 0.0256 Hz; the right rate given
    was refused with the advice to leave it out (helper-95). The message now names the likely unit."""
    path = tmp_path / "logger.csv"
    path.write_text(f"{header},ax\n" + "".join(f"{i * scale / 25_600:.6f},{i % 5}\n" for i in range(3000)))
    with pytest.raises(DataError, match=says):
        read_recording(path, sample_rate_hz=given)


def rows_of(sep: str = ",", comma: bool = False, count: int = 50) -> str:
    """``count`` rows of a time at 100 Hz and a value, by hand."""
    rows = "".join(f"{i / 100:.2f}{sep}{i % 7}.5\n" for i in range(count))
    return rows.replace(".", ",") if comma else rows


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "Time (s)   Acc DE (g)\n" + rows_of("   "),
            r"line 1 \('Time \(s\)   Acc DE \(g\)'\) splits into 5 fields above a table of 2 columns: names with",
        ),
    ],
    ids=["names with spaces"],
)
def test_lines_above_the_table_are_named_in_the_refusal(tmp_path: Path, text: str, says: str) -> None:
    """Names that do not split as the numbers do: the refusal named the line with "2 values, expected 5" and no word
    of why (helper-95). It now says what the line looks like and what to do."""
    path = tmp_path / "export.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=says):
        read_recording(path)


@pytest.mark.parametrize(
    ("head", "sep", "comma", "channel", "note"),
    [
        (
            "Sample Rate,100\nSamples,50\nUnit,g\n\ntime,acc\n",
            ",",
            False,
            "acc",
            "lines 1 to 4 stand above the table and were read as comments",
        ),
        (
            "Messung Lager 1;\nZeit [s];Beschleunigung [g]\n",
            ";",
            True,
            "Beschleunigung [g]",
            "line 1 stands above the table and was read as a comment",
        ),
        (
            "Sampling frequency: 100 Hz\nChannel: DE\n",
            None,
            False,
            "0",
            "lines 1 to 2 stand above the table and were read as comments",
        ),
    ],
    ids=["metadata lines", "a title", "metadata in words"],
)
def test_a_title_or_metadata_above_the_table_is_read_as_comments(tmp_path, head, sep, comma, channel, note) -> None:
    """DAQ and spreadsheet exports put a title or metadata above the table; each such file was refused at its first
    line (helper-95). The table is read below them, the rate they state counts, and a note says so. By hand: 50
    samples at 100 Hz, values 0.5, 1.5, ..."""
    values = [f"{i % 7}.5" for i in range(50)]
    if sep is None:
        rows = "".join(f"{v}\n" for v in values)
    else:
        rows = "".join(f"{i / 100:.2f}{sep}{v}\n" for i, v in enumerate(values))
    path = tmp_path / "export.csv"
    path.write_text(head + (rows.replace(".", ",") if comma else rows))
    recording = read_recording(path)
    assert recording.channel == channel and recording.sample_rate_hz == pytest.approx(100.0)
    assert recording.signal.tolist() == [float(v) for v in values]
    assert recording.notes == (f"{path}: {note} (a title or metadata)",)


@pytest.mark.parametrize(
    ("text", "channel", "units"),
    [
        ("time,acc\ns,g\n" + rows_of(), "acc [g]", "'s,g'"),
        ("time;acc\n[ms];[g]\n" + "".join(f"{i * 10}.0;{i % 7}.5\n" for i in range(50)), "acc [g]", "'[ms];[g]'"),
        ("time acc\nms g\n" + "".join(f"{i * 10}.0 {i % 7}.5\n" for i in range(50)), "acc_g", "'ms g'"),
    ],
    ids=["seconds", "milliseconds in brackets", "split at spaces"],
)
def test_a_row_of_units_under_the_names_gives_the_time_unit(tmp_path: Path, text: str, channel: str, units: str):
    """DIAdem and DEWESoft write a row of units under the column names; the file was refused at it ("'s' in column
    'time' is not a number", helper-95). The units now go into the names, so the time column's unit counts: by hand,
    50 samples at 100 Hz in seconds or in milliseconds, values 0.5, 1.5, ..."""
    path = tmp_path / "units.csv"
    path.write_text(text)
    recording = read_recording(path)
    assert recording.channel == channel and recording.sample_rate_hz == pytest.approx(100.0)
    assert recording.signal.tolist() == [float(f"{i % 7}.5") for i in range(50)]
    assert recording.notes == (f"{path}: line 2 ({units}) was read as the units of the columns",)


def test_a_rate_stated_above_the_table_must_agree_with_the_time_column(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Sample Rate,25600\nSamples,50\ntime,acc\n" + rows_of())
    with pytest.raises(
        DataError,
        match=r"states two sample rates, 25600 Hz \(line 1 \('Sample Rate,25600'\)\) and 100 Hz \(time column 'time'\)",
    ):
        read_recording(path)
    assert read_recording(path, sample_rate_hz=100.0).sample_rate_hz == 100.0  # the caller decides between them


def test_a_fault_inside_the_table_below_metadata_is_named(tmp_path: Path) -> None:
    """A bad value past the first thousand lines (the table known from them) is named, and so are the lines read
    as comments above the table; one among them leaves the table unknown, and the refusal is the plain one."""
    lines = rows_of(count=1200).splitlines()
    lines[1100] = "11.00,x"
    path = tmp_path / "export.csv"
    path.write_text("Title: bearing 1\nSample Rate,100\ntime,acc\n" + "\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"line 1104: 'x' in column 'acc' is not a number.*; lines 1 to 2 stand above the table and"
    ):
        read_recording(path)
    lines[1100], lines[30] = "11.00,5.5", "0.30,x"
    path.write_text("Title: bearing 1\nSample Rate,100\ntime,acc\n" + "\n".join(lines) + "\n")
    with pytest.raises(
        DataError,
        match=r"export\.csv: line 2: 2 values, expected 1 \(as many as the header names\): 'Sample Rate,100'$",
    ):
        read_recording(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("time,acc\n" + rows_of(count=300) + "3.00", r"line 302: 1 values, expected 2"),  # a last line cut short
        ("time,acc\n" + rows_of(count=300) + "3.00,", r"line 302: no value in column 'acc'"),
        ("time,acc\n" + rows_of(count=300) + "3.00,0.1,0.2", r"line 302: 3 values, expected 2"),
        ("time,acc\n0.00,\n" + rows_of(count=300)[10:], r"line 2: no value in column 'acc'"),  # a first row without
        ("time,acc\n0.00,NA\n" + rows_of(count=300)[10:], r"line 2: 'NA' in column 'acc' is not a number"),
        ("Report\f\f\ntime,acc\n" + rows_of(count=300), r"line 4: 2 values, expected 1"),  # odd breaks above it
        ("T\f\f\f\f\nM\n" + "".join(f"12:00:00.{i},{i}\n" for i in range(1, 9)), r"line 6: 'M' in column 'T'"),
    ],
    ids=["cut short", "last value missing", "too wide", "first value missing", "NA", "form feeds", "clock"],
)
def test_a_damaged_first_or_last_row_is_no_title(tmp_path: Path, text: str, says: str) -> None:
    """helper-96: a short file whose last line was cut read every line above it as a title (one sample, named
    after a row); a first row with a value missing took the header with it (the time column then a channel); odd
    line breaks above the table commented out data rows or raised an IndexError. Each is refused, naming the line,
    as before the lines above a table were read as comments."""
    path = tmp_path / "damaged.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=says):
        read_recording(path)


def test_two_lines_of_names_that_are_no_names_and_units_are_not_read_past(tmp_path: Path) -> None:
    """helper-96, helper-97: "Test, run 3" above "time,acc" read as names above a row of units, and "time,acc" above
    "NA,NA" or "Seconds,Volts" unknown as units made the lower line the header (the time column a channel). Which
    line names the columns is not known: refused, as before 2a70a28, with what to do."""
    path = tmp_path / "titled.csv"
    path.write_text("Test, run 3\ntime,acc\n" + rows_of())
    with pytest.raises(DataError, match=r"line 1 stands above the table of 2 columns \(from 'Test, run 3'\)"):
        read_recording(path)
    path.write_text("time,acc\nNA,NA\n" + rows_of())
    with pytest.raises(DataError, match=r"line 2: 'NA' in column 'time' is not a number"):
        read_recording(path)


@pytest.mark.parametrize(
    ("head", "channel", "note"),
    [
        ("Run 3\ntime,acc\ns,g\n", "acc [g]", "line 3 ('s,g') was read as the units of the columns; line 1 above"),
        ("time,acc\nSeconds,Volts\n", "acc [Volts]", "line 2 ('Seconds,Volts') was read as the units"),
        ("Time (s),acc\ns,g\n", "acc [g]", "line 2 ('s,g') was read as the units of the columns"),
    ],
)
def test_names_above_units_with_a_title_above_them(tmp_path: Path, head: str, channel: str, note: str) -> None:
    """helper-97: a title above names and units made the units the header. The units row is known by a common unit
    among its fields; a name that ends in its unit ("Time (s)") keeps it. By hand: 50 samples at 100 Hz."""
    path = tmp_path / "units.csv"
    path.write_text(head + rows_of())
    recording = read_recording(path)
    assert recording.channel == channel and recording.sample_rate_hz == pytest.approx(100.0)
    assert recording.signal.tolist() == [float(f"{i % 7}.5") for i in range(50)]
    assert note in recording.notes[0]


def test_a_wrapping_counter_named_like_time_is_no_restart(tmp_path: Path) -> None:
    """helper-96: a millisecond counter that wraps at 1000 ((7 i) % 1000) was refused as segments after 2a70a28;
    it falls back, but not to its first value: a channel, as before, and the samples read at the rate given."""
    path = tmp_path / "counter.csv"
    path.write_text("timestamp,acc\n" + "".join(f"{(i * 7) % 1000},{i % 5}\n" for i in range(2000)))
    recording = read_recording(path, channel="acc", sample_rate_hz=1000.0)
    assert recording.channels == ("timestamp", "acc") and recording.signal.size == 2000


def test_the_unit_hint_is_for_time_columns_without_a_unit(tmp_path: Path) -> None:
    """helper-96: a column "time_ms" was told to name itself "time_ms"."""
    path = tmp_path / "ms.csv"
    path.write_text("time_ms,ax\n" + "".join(f"{i * 1e3 / 25.6:.6f},{i % 5}\n" for i in range(3000)))
    with pytest.raises(DataError) as caught:
        read_recording(path, sample_rate_hz=25_600_000)
    assert "Say so in the header" not in str(caught.value) and "Check the file" in str(caught.value)


def lvm(x_columns: str) -> str:
    """A LabVIEW LVM file as LabVIEW writes it (tab-separated, two header blocks, a last column "Comment" that the
    rows leave empty): 40 samples at 25.6 kHz of two channels, DE = 0.5, 1.5, ... and FE = -DE."""
    head = (
        "LabVIEW Measurement\t\nWriter_Version\t2\nReader_Version\t2\nSeparator\tTab\nDecimal_Separator\t.\n"
        f"Multi_Headings\tNo\nX_Columns\t{x_columns}\nTime_Pref\tRelative\n***End_of_Header***\t\n\t\n"
        "Channels\t2\t\t\nSamples\t40\t40\t\nX0\t0.0000000000000000E+0\t0.0000000000000000E+0\t\n"
        "Delta_X\t3.906250E-5\t3.906250E-5\t\n***End_of_Header***\t\t\t\n"
    )
    if x_columns == "One":
        names = "X_Value\tDE\tFE\tComment\n"
        rows = "".join(f"{i * 3.90625e-5:.7f}\t{i % 7}.5\t-{i % 7}.5\n" for i in range(40))
    else:
        names = "DE\tFE\tComment\n"
        rows = "".join(f"{i % 7}.5\t-{i % 7}.5\n" for i in range(40))
    return head + names + rows


@pytest.mark.parametrize("x_columns", ["One", "No"])
def test_a_labview_lvm_file_reads_its_rate_and_channels(tmp_path: Path, x_columns: str) -> None:
    """LVM: the rate from Delta_X (one per channel) and from the X_Value column where there is one; the empty
    Comment column is no column, X_Value no channel. helper-95 found every LVM file refused at line 2."""
    path = tmp_path / "run.lvm.txt"
    path.write_text(lvm(x_columns))
    recording = read_recording(path, channel="DE")
    assert recording.channels == ("DE", "FE") and recording.sample_rate_hz == pytest.approx(25_600.0)
    assert recording.signal.tolist() == [float(f"{i % 7}.5") for i in range(40)]
    assert "lines 1 to 15 stand above the table" in recording.notes[0]


@pytest.mark.parametrize(
    ("line", "rate"),
    [
        ("# Sample rate: 25600 Hz", 25_600.0),
        ("Sample Rate,25600", 25_600.0),
        ("% fs = 25.6 kHz", 25_600.0),
        ("Sampling frequency [Hz];12000", 12_000.0),
        ("samplerate 48000", 48_000.0),
        ("Scan rate: 25.6 kS/s", 25_600.0),
        ("Delta_X\t3.906250E-5\t3.906250E-5\t", 25_600.0),
        ('"Delta X"\t"3.90625e-05"', 25_600.0),
        ("dt = 39.0625 us", 25_600.0),
        ("Sample interval (ms): 0.0390625", 25_600.0),
        ("dt = 0.001", 1_000.0),
        ("# dT = 5", None),  # a difference of temperatures
        ("dt 5", None),  # a short name without : or =
        ("sampling period: 1e-3", 1_000.0),
        ("Delta_X\t3.906250E-5\t7.812500E-5", None),  # channels at two rates
        ("# Sample rate: 25600 Hz, decimated to 12000 Hz", None),  # more than a statement
        ("# fs: unknown", None),
        ("Sample rate [kHz]: 25600 Hz", None),  # two units that disagree
        ("Sample rate: 25600 furlongs", None),  # no unit of a rate
        ("Sample rate: 0", None),
        ("Samples,4096", None),
        ("time,acc", None),
    ],
)
def test_rate_statements_by_hand(line: str, rate: float | None) -> None:
    from bpsrm.data.text_head import rate_statement

    assert rate_statement(line) == (pytest.approx(rate) if rate is not None else None)


def test_a_rate_in_a_comment_above_a_headerless_column_is_the_rate(tmp_path: Path) -> None:
    """helper-95: "# Sample rate: 25600 Hz" above one column of values read no rate, and 12000 given was taken."""
    path = tmp_path / "c.txt"
    path.write_text("# Sample rate: 25600 Hz\n" + "".join(f"{i % 5}.25\n" for i in range(100)))
    assert read_recording(path).sample_rate_hz == 25_600.0
    with pytest.raises(
        DataError, match=r"the file says 25600 Hz \(line 1 \('Sample rate: 25600 Hz'\)\) but a sample rate of 12000 Hz"
    ):
        read_recording(path, sample_rate_hz=12_000)


def test_a_bad_value_inside_the_table_gets_no_word_of_lines_above_it(tmp_path: Path) -> None:
    lines = rows_of(count=600).splitlines()
    lines[400] = "4.00,x"
    path = tmp_path / "bad.csv"
    path.write_text("time,acc\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 402: 'x' in column 'acc' is not a number") as caught:
        read_recording(path)
    assert "above the table" not in str(caught.value) and "units" not in str(caught.value)


def test_a_rate_written_above_headerless_samples_is_not_read_as_a_sample(tmp_path: Path) -> None:
    """A logger wrote its rate on the first line and one value a line below it: 25600 was read as the first sample
    and passed every check (helper-95). It is now refused, naming the line; a first sample of the signal's scale
    is read, and so is a first line of a time column's 0 or a counter."""
    values = [f"{(i % 9 - 4) / 10:.1f}" for i in range(200)]  # -0.4 .. 0.4
    path = tmp_path / "logger.txt"
    path.write_text("25600\n" + "\n".join(values) + "\n")
    with pytest.raises(
        DataError,
        match=r"logger\.txt: line 1 holds 25600, more than 1000 times the largest value "
        r"below it \(0\.4\): a number written above the samples",
    ):
        read_recording(path)
    path.write_text("390\n" + "\n".join(values) + "\n")  # 975 times: a spike, still a sample
    assert read_recording(path, sample_rate_hz=100.0).signal[0] == 390.0
    path.write_text("".join(f"{i},{v}\n" for i, v in enumerate(values)))  # sample numbers from 0
    assert read_recording(path, sample_rate_hz=100.0, channel="1").signal.size == 200


def test_the_first_line_check_reads_no_clock_column(tmp_path: Path, monkeypatch) -> None:
    """The check of a headerless file's first line read the clock columns' values, which are left unset: whatever
    memory held (6.9e-310 above 2.8e-322 once in the suite) refused a good file. Here unset float values are 1e300
    on the first row and 1 below it, so that reading them would refuse it."""
    empty = np.empty

    def unset(*args, **kwargs):  # type: ignore[no-untyped-def]
        made = empty(*args, **kwargs)
        if made.dtype.kind == "f" and made.ndim and made.shape[0]:
            made[...] = 1.0
            made[0] = 1e300
        return made

    monkeypatch.setattr(np, "empty", unset)
    path = tmp_path / "stamped.txt"
    path.write_text("".join(f"12:00:00.{i:03d} {i % 5}.5\n" for i in range(200)))
    recording = read_recording(path)
    assert recording.sample_rate_hz == pytest.approx(1000.0) and recording.signal.size == 200
