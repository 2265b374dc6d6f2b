"""CWRU Bearing Data Center, 12 kHz drive-end records (Case Western Reserve University, public, cite CWRU).

One MATLAB file per record, named by its official number (``105.mat``), laid
out as ``<root>/<load>HP/<number>.mat`` (``0HP/97.mat``) or all in one folder.
Each file holds the drive-end accelerometer as ``X<number>_DE_time``; real
downloads sometimes name the variable after another number (``99.mat`` holds
``X098_DE_time``), so the key is found by its suffix.

The normal records (97-100) exist only at 48 kHz: they are decimated by 4 (FIR
anti-alias filter, zero phase) so that every record is at 12 kHz before it is
cut into windows, or a classifier could learn the sample rate instead of the
fault. Train windows come from the first ``train_fraction`` of every record,
test windows from the rest; no window crosses that border.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checks import choice, flag, real_number, whole_number
from ..errors import DataError, DataNotFoundError, ParameterError, shown
from .base import SampleDataset, check_split, register
from .download import UrlOpener, fetch
from .locate import cache_dir, locate, search_roots
from .matfile import Mat5, MatError, NotRealNumeric
from .vibration import (
    FEATURES,
    NORMALIZE,
    VibrationPreprocess,
    jitter_span,
    jitter_window,
    levels_at,
    prepare_windows,
    window_features,
)

__all__ = [
    "CWRU",
    "CWRU_RECORDS",
    "CWRU_SHA256",
    "CWRU_URL",
    "CLASSES_10",
    "CLASSES_9",
    "CLASSES_4",
    "SAMPLE_RATE_HZ",
    "RPM_NAME",
    "record_rpm",
    "record_sample_rate",
    "read_cwru_record",
    "locate_records",
    "read_cwru_record_rpm",
    "drive_end_variable",
    "prepare_windows",
    "window_features",
]

SAMPLE_RATE_HZ = 12_000
"""The common sample rate every record is brought to before windowing."""

CWRU_URL = "https://engineering.case.edu/sites/default/files/{number}.mat"
"""Official download address of a record, ``CWRU_URL.format(number=105)``."""

STRETCHES = 20
"""Stretches per record part that validation takes whole (:attr:`CWRU.groups`)."""

CLASSES_10 = ["normal", "B007", "B014", "B021", "IR007", "IR014", "IR021", "OR007@6", "OR014@6", "OR021@6"]
CLASSES_9 = CLASSES_10[1:]
CLASSES_4 = ["normal", "ball", "inner_race", "outer_race"]
_CLASS_SETS = {"10": CLASSES_10, "9": CLASSES_9, "4": CLASSES_4}
_FAULT_TYPE = {"normal": "normal", "B": "ball", "IR": "inner_race", "OR": "outer_race"}

# Official record numbers for loads 0, 1, 2, 3 HP (fault diameter in mils; outer race centred at 6 o'clock).
_NUMBERS = {
    "normal": (97, 98, 99, 100),
    "B007": (118, 119, 120, 121),
    "B014": (185, 186, 187, 188),
    "B021": (222, 223, 224, 225),
    "IR007": (105, 106, 107, 108),
    "IR014": (169, 170, 171, 172),
    "IR021": (209, 210, 211, 212),
    "OR007@6": (130, 131, 132, 133),
    "OR014@6": (197, 198, 199, 200),
    "OR021@6": (234, 235, 236, 237),
}
CWRU_RECORDS: dict[int, tuple[str, int]] = {
    number: (name, load) for name, numbers_ in _NUMBERS.items() for load, number in enumerate(numbers_)
}
"""Official record number -> (class name, motor load in HP), for the 40 records of the 12 kHz drive-end set."""

_NORMAL_48K = frozenset(_NUMBERS["normal"])

CWRU_SHA256: dict[int, str] = {
    97: "16bf48babcf1c7ac224bc1a81cd9eafdb27e42d5cf559761907e067e8eeadf3c",
    105: "f80b0ea04fd06b372a0eaec7c056543ea37e4bb4727a5b173d2a5bacd2aa9cab",
    106: "e5cec7cdd138e6cd1deb9ed8634e5aaa9bc1bd7094ddc075bff606580eb6e883",
    107: "111ba8996a115684661a13c913bd74d8029a59294492f88aec7b03e175fdd388",
    118: "b00628f8dd8d1d930af77fa465d1e5cdb385fe259489053f91f3680bda7f640e",
    119: "bc72d9df7668219e004a0f711232b23ec0aed393eb9bd8f9f5483426f6b51330",
    120: "e0b7a584c49af52335ff0904a97d4afcf02d045625c582de63a7c85ce10b489c",
    130: "35a095307d0971477049b343a1b5981dde465a58fb7f233ad89b035068c1717d",
    131: "7883f7b83beadc54b2f301767f9145ce07055707182fb0278fdf0a6bb53ce3cb",
    132: "17a69ed5d2270b42532e678e35bbe2fa04a2cc413cf2bf9e88c7692de8662d18",
    169: "f5448673725c4ea2735fe7d3fe4b16ad82b217eac6b62c4bf351c4549b0a5229",
    170: "bcb73a5208b67265468232a2e342f53719850901671d0ee28494f3af97621f46",
    171: "63d0fdc1a68e64610ddfaf56a9c224d6137ab7b5c0d318eea1d542b9e5ffc029",
    185: "5bea2c60f177215ba3ec4ae287faf745d7e14aed1a12efe9e37b27c27044bafc",
    186: "1b3b6f3ad38e891feaa8026fe957b34f62f9082785089cc74f6878acdfe88ec5",
    187: "0f1338cce89beb5c8d8e5e154579bc576354e7c7d1617ebd1759662c6f3100b2",
    197: "fa571b47cd942f9514a920b403fb7c053cd442bb2963a360a96d0f61432f03e9",
    198: "dbd58e4585ca8f8332c708b15936987ec0990ca701359fd2483dae2719df5b49",
    199: "ca4e6407fdb68845a6973da6028477911a62d018580063749fe956441be95cf2",
    209: "9f723d6d9d2eba714c6dc50f99321dffa73d8b1e4d3605675b2c2251511eff80",
    210: "596692397e77e129a00f7b7a61c4c3ffd6c7a59979b89039e7f70a7431cce1c7",
    211: "8296a02ee489c2d16cbd9fc278ca2e29b22475cec70ebe840558c78b6b743dc1",
    222: "fcc0ee740fa123b1f4683f555458891719efb2857afd9fdee63e8fde0ed14469",
    223: "7287410fd2217e3b332c5ab4732a68963be046d7d17bd40efa41cabe6a0514e5",
    224: "8a16894c2ff4d6bcdb9f4c345c0d5f13737b3bd6d15015d6b566c86e7a3ee7b7",
    234: "ebcbdb96612e8085bbdbf81f0e5e8e8a8d1a693d1ec559c4894f7792771aa9b2",
    235: "667e4bf1f213f92d10dca71d494ad002d8fd22bfd8004b31a4c71ccf0d764b66",
    236: "c411d6d9826cba8073430555dc833e05fcbe4c38535f3eb7f03c525ea6797589",
}
"""sha256 of the official (complete, as downloaded) files known so far, by record number."""

_DE_KEY = re.compile(r"^X(\d+)_DE_time$")
_HOW_TO_GET = (
    "Get the CWRU 12 kHz drive-end records from the CWRU Bearing Data Center, one file per record: "
    + CWRU_URL.format(number="<number>")
    + " (e.g. 97.mat normal, 105.mat IR007 at 0 HP), and lay them out as <root>/<load>HP/<number>.mat "
    "(e.g. 0HP/97.mat) or all in one folder; in Python, download=True fetches the records with a known sha256."
)


def record_sample_rate(number: int) -> int:
    """Sample rate in Hz of official record ``number``: 48 kHz for the normal records 97-100, else 12 kHz."""
    return 48_000 if number in _NORMAL_48K else SAMPLE_RATE_HZ


RPM_NAME = re.compile(r"^(?:X(\d+)RPM|rpm|speed_rpm)$", re.IGNORECASE)
"""Names of a scalar variable that holds a shaft speed in rpm: CWRU's ``X<n>RPM``, or ``rpm`` / ``speed_rpm``."""


def record_rpm(speeds: Mapping[str, float], number: int | None) -> float | None:
    """The shaft speed of record ``number`` among ``speeds`` (rpm by variable name, names of :data:`RPM_NAME`).

    The value of ``X<number>RPM`` when there is one; else the value every variable holds when they agree;
    ``None`` when there is none or they disagree: a speed is never guessed. The one rule of the training reader
    (:func:`read_cwru_record_rpm`) and of :func:`bpsrm.data.recordings.read_recording`."""
    if number is not None:
        for name, value in speeds.items():
            match = RPM_NAME.match(name)
            if match and match.group(1) is not None and int(match.group(1)) == number:
                return value
    values = set(speeds.values())
    return values.pop() if len(values) == 1 else None


def _file_number(path: Path) -> int | None:
    return int(path.stem) if path.stem.isdigit() else None


def _record_of(name: str) -> int | None:
    """The record number of an ``X<n>_DE_time`` variable's name, None for another name."""
    match = _DE_KEY.match(name)
    return int(match.group(1)) if match else None


def drive_end_variable(names: list[str], path: Path) -> str | None:
    """Which variable of a CWRU-style file is its drive-end signal: among the ``X<n>_DE_time`` variables, the one
    numbered after the file (``105.mat``: ``X105_DE_time``; an official file may hold its neighbour's too), else
    the only one; None when there is none or several and none numbered after the file. The one rule of training
    (:func:`read_cwru_record_rpm`) and of ``bpsrm predict`` (:mod:`bpsrm.data.recordings`)."""
    candidates = [name for name in names if _DE_KEY.match(name)]
    number = _file_number(path)
    own = [name for name in candidates if number is not None and _record_of(name) == number]
    if own:
        return own[0]
    return candidates[0] if len(candidates) == 1 else None


def read_cwru_record(path: str | Path) -> tuple[np.ndarray, int]:
    """The drive-end signal (float64, 1-D) of one CWRU ``.mat`` file and its sample rate in Hz.

    (:func:`read_cwru_record_rpm` also gives the shaft speed.)

    The variable is the one named ``X<n>_DE_time``: the file's own number if
    present, else the only such variable. The sample rate follows from the
    variable's record number, else the file's (97-100 are 48 kHz, every other
    record 12 kHz); when neither is an official record the rate is unknown and a
    :class:`~bpsrm.errors.DataError` says so (it is never guessed). The variable's
    number gives the rate in :func:`bpsrm.data.recordings.read_recording` too,
    which does not trust a file name of a user's file. A
    :class:`~bpsrm.errors.DataError` names the file and the problem. MATLAB
    v5 files (saved with -v6 or -v7, compressed or not) are read.
    """
    signal, rate, _ = read_cwru_record_rpm(path)
    return signal, rate


def read_cwru_record_rpm(path: str | Path) -> tuple[np.ndarray, int, float | None]:
    """:func:`read_cwru_record` and the shaft speed in rpm: the file's speed variables (:data:`RPM_NAME`) by
    :func:`record_rpm`'s rule, None when there is none or they disagree."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    try:
        mat = Mat5(data)
    except (MatError, zlib.error, struct.error, ValueError, OverflowError) as exc:
        raise DataError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    names = mat.names
    key = drive_end_variable(names, path)
    if key is None:
        candidates = [name for name in names if _DE_KEY.match(name)]
        if not candidates:
            raise DataError(f"{path}: no drive-end variable X<number>_DE_time; variables found: {names}")
        raise DataError(
            f"{path}: several drive-end variables and none numbered after the file: {candidates} "
            f"(variables found: {names})"
        )
    number = _file_number(path)
    try:
        signal = mat.values(key)
    except (MatError, zlib.error, struct.error, ValueError, OverflowError, MemoryError) as exc:
        raise DataError(f"{path}: cannot read variable {key} ({exc})") from exc
    if signal.ndim > 2 or (signal.ndim == 2 and min(signal.shape) > 1):
        raise DataError(f"{path}: {key} should be a vector, got shape {signal.shape}")
    signal = np.ascontiguousarray(signal.reshape(-1))
    if signal.size == 0:
        raise DataError(f"{path}: {key} is empty")
    if not np.all(np.isfinite(signal)):
        raise DataError(f"{path}: {key} holds {int(np.count_nonzero(~np.isfinite(signal)))} non-finite values")
    # The rate follows the record number of the variable (the file's content), else of the file's name (the layout
    # names every file after its record); a number that is no official record gives no rate: it is never guessed.
    own_number = int(_DE_KEY.match(key).group(1))  # type: ignore[union-attr]
    known = [n for n in (own_number, number) if n in CWRU_RECORDS]
    if not known:
        raise DataError(
            f"{path}: neither {key} nor the file's name is one of the {len(CWRU_RECORDS)} official records of the "
            "12 kHz drive-end set (bpsrm.data.cwru.CWRU_RECORDS), so its sample rate is unknown; read it with "
            "bpsrm.data.recordings.read_recording and give the rate (bpsrm predict --sample-rate)"
        )
    rate = record_sample_rate(known[0])
    speeds: dict[str, float] = {}
    for name in names:
        if not RPM_NAME.match(name):
            continue
        try:
            values = mat.values(name).reshape(-1)
        except NotRealNumeric:
            continue  # a struct or text named rpm: no speed, as read_recording skips it
        except (MatError, zlib.error, struct.error, ValueError, OverflowError) as exc:
            raise DataError(f"{path}: cannot read variable {name} ({exc})") from exc
        if values.size == 1 and np.isfinite(values[0]) and values[0] > 0:
            speeds[name] = float(values[0])
    rpm = record_rpm(speeds, own_number)
    return signal, rate, rpm


def download_cwru(numbers: Sequence[int], target: str | Path | None = None, opener: UrlOpener | None = None) -> Path:
    """Fetch official records over HTTPS into ``target/<load>HP/<number>.mat`` (default: the user cache).

    Each file is checked against its official sha256 before it is moved into
    place; a record whose checksum bpsrm does not know is not fetched (a
    DataNotFoundError names it). Returns the folder.
    """
    folder = Path(target) if target is not None else cache_dir() / "cwru"
    unknown = sorted(n for n in numbers if n not in CWRU_SHA256)
    if unknown:
        raise DataNotFoundError(
            f"CWRU: no verified sha256 is known for records {unknown}; download them by hand from "
            f"{CWRU_URL.format(number='<number>')} into {folder}/<load>HP/"
        )
    for number in numbers:
        load = CWRU_RECORDS[number][1]
        fetch(
            CWRU_URL.format(number=number), folder / f"{load}HP" / f"{number}.mat", CWRU_SHA256[number], opener=opener
        )
    return folder


def _check_loads(load: Any) -> list[int]:
    items = [load] if isinstance(load, numbers.Integral) or not isinstance(load, Sequence) else list(load)
    if isinstance(load, str) or not items:
        raise ParameterError(f"cwru: load must be an int 0-3 or a list of them, got {shown(load)}")
    loads: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or not 0 <= int(item) <= 3:
            raise ParameterError(f"cwru: load must be an int 0-3 or a list of them, got {shown(load)}")
        if int(item) not in loads:
            loads.append(int(item))
    return loads


def _find(root: str | Path | None, selected: list[tuple[int, int]], request: str) -> Path:
    """The folder that holds the ``selected`` (record number, label) pairs; a DataNotFoundError names what is
    missing, and where a partial copy lies, for ``request`` (the options asked for)."""
    by_label: dict[tuple[int, int], list[int]] = {}
    for number, label in selected:
        by_label.setdefault((CWRU_RECORDS[number][1], label), []).append(number)

    def is_complete(folder: Path) -> bool:
        # At least one record of every requested class at every requested load.
        return all(any(_record_path(folder, n) for n in group) for group in by_label.values())

    def missing(folder: Path) -> list[int]:
        return [number for number, _ in selected if _record_path(folder, number) is None]

    def describe(numbers_: list[int]) -> str:
        return ", ".join(f"{n}.mat ({CWRU_RECORDS[n][0]}, {CWRU_RECORDS[n][1]} HP)" for n in numbers_)

    try:
        folder = locate("CWRU", root, is_complete, ("cwru", "CWRU"), _HOW_TO_GET)
    except DataNotFoundError as exc:
        # Name what is missing in the folders that hold some of the records.
        partial = []
        for place in search_roots(root):
            for candidate in (place, place / "cwru", place / "CWRU"):
                if not candidate.is_dir():
                    continue
                lacking = missing(candidate)
                # a copy that holds some of these records, or others (a load it does not have: load=3)
                if len(lacking) < len(selected) or any(_record_path(candidate, n) for n in CWRU_RECORDS):
                    partial.append(f"{candidate} lacks {describe(lacking)}")
        if not partial:
            raise
        # the cause first: a record or two missing from a copy, not the dataset missing
        raise DataNotFoundError(f"CWRU for {request}: {'; '.join(partial)}\n(the search: {exc})") from None
    lacking = missing(folder)
    if lacking:
        raise DataNotFoundError(f"CWRU in {folder}: missing records for {request}: {describe(lacking)}")
    return folder


def _selection(loads: Sequence[int], class_set: str) -> list[tuple[int, int]]:
    """(record number, label) of each class of ``class_set`` at each load, ordered by load, then class."""
    classes = list(_CLASS_SETS[class_set])
    fine = CLASSES_9 if class_set == "9" else CLASSES_10
    return [
        (_NUMBERS[name][load], classes.index(_coarse(name) if class_set == "4" else name))
        for load in loads
        for name in fine
    ]


def locate_records(loads: int | Sequence[int], class_set: str | int = "10", root: str | Path | None = None) -> Path:
    """The folder holding every record of ``class_set`` at ``loads``, found as :class:`CWRU` finds it, without
    reading a record: for checks before work that would need them (``bpsrm crossload``). Raises
    ParameterError for a load outside 0-3 or an unknown class set, DataNotFoundError naming what is missing."""
    checked = _check_loads(loads)
    if type(class_set) is int:  # as CWRU takes it
        class_set = str(class_set)
    if class_set not in _CLASS_SETS:
        raise ParameterError(f"cwru: class_set must be one of {sorted(_CLASS_SETS)}, got {shown(class_set)}")
    return _find(root, _selection(checked, class_set), f"load={checked} class_set={class_set!r}")


def _record_path(folder: Path, number: int) -> Path | None:
    _, load = CWRU_RECORDS[number]
    for candidate in (folder / f"{load}HP" / f"{number}.mat", folder / f"{number}.mat"):
        if candidate.is_file():
            return candidate
    return None


TRAIN_FRACTION = 0.7
"""The share of every record that trains (from its start) unless ``train_fraction`` says otherwise."""


@register
class CWRU(SampleDataset):
    """Windows of CWRU drive-end vibration at 12 kHz: ``(float32 [1, window], label)``.

    Options: ``load`` (0-3 HP, or a list), ``class_set`` ("10" or 10: normal + 9
    faults; "9": the faults only, for cross-load work; "4": normal / ball /
    inner race / outer race), ``window`` samples per window, ``stride`` between
    window starts (default ``window``: no overlap), ``train_fraction`` of each
    record that feeds train windows (test windows come from the rest), and
    ``normalize``: "train" (one mean and std from the train part of every
    selected record, the same for both splits), "window" (each window on its
    own) or "none"; ``features``: "raw", "spectrum" or "envelope".
    ``speed_normalize`` resamples every record to ``reference_rpm`` from its own
    shaft speed (``X<n>RPM``; order-domain resampling, see
    :mod:`bpsrm.data.vibration`). ``augment_speed`` / ``augment_gain`` (training
    split only): each training window is taken at a random speed in
    [1 - s, 1 + s] and scaled by a random gain in [1 - g, 1 + g].
    ``preprocess`` is the :class:`~bpsrm.data.vibration.VibrationPreprocess`
    that makes every sample (kept in checkpoints for ``predict``).

    ``windows`` lists ``(record number, start sample)`` per sample, the start
    counted in the record's 12 kHz signal; ``groups`` and ``spans`` keep
    validation windows apart from training windows that overlap them.
    """

    name = "cwru"
    split_options = ("load", "class_set", "train_fraction", "whole")
    independent_samples = False  # windows of 4 to 5 records per class
    preprocess: VibrationPreprocess
    windows: list[tuple[int, int]]  # (record number, start sample) of each window
    augment_speed: float
    augment_gain: float
    augmented: bool

    @classmethod
    def training_overlap(cls, trained: Mapping[str, Any], evaluated: Mapping[str, Any]) -> str | None:
        """On a load the model trained on: ``whole=true`` (every window of its records, the trained part too), or
        a ``train_fraction`` below the trained one (a test part that starts inside the trained part)."""
        both = sorted(set(_check_loads(trained.get("load", 0))) & set(_check_loads(evaluated.get("load", 0))))
        if not both:
            return None
        loads = ", ".join(map(str, both))
        if evaluated.get("whole", False):
            return (
                f"whole=true reads every window of load {loads}, which the model trained on: its training windows "
                "are among them, so this accuracy is no test figure (leave whole out for the test part of a trained "
                "load, or evaluate a load it did not train on)"
            )
        was = float(trained.get("train_fraction", TRAIN_FRACTION))
        now = float(evaluated.get("train_fraction", TRAIN_FRACTION))
        if now < was:
            return (
                f"train_fraction={now:g} starts the test part of load {loads} at {now:g} of each record, and the model "
                f"trained on the first {was:g}: its training windows are among them, so this accuracy is no test "
                f"figure (keep train_fraction={was:g})"
            )
        return None

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        load: int | Sequence[int] = 0,
        class_set: str | int = "10",
        window: int = 2048,
        stride: int | None = None,
        train_fraction: float = TRAIN_FRACTION,
        normalize: str = "train",
        features: str = "raw",
        whole: bool = False,
        speed_normalize: bool = False,
        reference_rpm: float = 1800.0,
        augment_speed: float = 0.0,
        augment_gain: float = 0.0,
    ) -> None:
        self.split = check_split("cwru", split)
        self.loads = _check_loads(load)
        if type(class_set) is int:  # class_set=9 on a command line or in YAML reads as a number
            class_set = str(class_set)
        if not isinstance(class_set, str) or class_set not in _CLASS_SETS:
            raise ParameterError(f"cwru: class_set must be one of {sorted(_CLASS_SETS)}, got {shown(class_set)}")
        self.class_set = class_set
        self.window = whole_number("cwru: window", window, 16)
        self.stride = self.window if stride is None else whole_number("cwru: stride", stride)
        self.train_fraction = real_number("cwru: train_fraction", train_fraction, above=0, below=1)
        self.features = choice("cwru: features", features, FEATURES)
        self.normalize = choice("cwru: normalize", normalize, NORMALIZE)
        speed_normalize = flag("cwru: speed_normalize", speed_normalize)
        try:  # the preprocessing checks reference_rpm (and keeps it as a float)
            self.preprocess = VibrationPreprocess(
                window=self.window,
                sample_rate_hz=float(SAMPLE_RATE_HZ),
                normalize=normalize,
                features=features,
                speed_normalize=speed_normalize,
                reference_rpm=reference_rpm,
            )
        except ParameterError as exc:
            raise ParameterError(f"cwru: {exc}") from None
        # Augmentation draws a speed factor in [1 - s, 1 + s] and a gain in [1 - g, 1 + g] per training window.
        self.augment_speed = real_number("cwru: augment_speed", augment_speed, at_least=0, below=0.5)
        self.augment_gain = real_number("cwru: augment_gain", augment_gain, at_least=0, below=0.5)
        self.augmented = self.split == "train" and not whole and (self.augment_speed > 0 or self.augment_gain > 0)
        self.classes = list(_CLASS_SETS[class_set])
        self.sample_rate_hz = SAMPLE_RATE_HZ
        self.input_shape = (1, self.preprocess.input_length)

        selected = _selection(self.loads, class_set)
        try:
            self.location = _find(root, selected, f"load={self.loads} class_set={self.class_set!r}")
        except DataNotFoundError:
            if not download:
                raise
            self.location = download_cwru([number for number, _ in selected])
        self.records = [number for number, _ in selected]

        # Load every record once, at 12 kHz (and at the reference speed with speed_normalize).
        self.signals: dict[int, np.ndarray] = {}
        self.borders: dict[int, int] = {}
        self.rpms: dict[int, float | None] = {}
        for number, _ in selected:
            path = _record_path(self.location, number)
            signal, rate, rpm = read_cwru_record_rpm(path)  # type: ignore[arg-type]
            self.signals[number] = self.preprocess.signal(signal, rate, rpm, str(path))
            self.rpms[number] = rpm
            self.borders[number] = math.floor(self.train_fraction * self.signals[number].size)

        windows: list[tuple[int, int]] = []
        targets: list[int] = []
        self.bounds: dict[int, tuple[int, int]] = {}
        record_starts: dict[int, range] = {}
        for number, label in selected:
            border, size = self.borders[number], self.signals[number].size
            lo, hi = (0, border) if self.split == "train" else (border, size)
            if whole:  # evaluation on another load: every window of the whole record
                lo, hi = 0, size
            self.bounds[number] = (lo, hi)
            starts = range(lo, hi - self.window + 1, self.stride)
            if len(starts) == 0:
                raise ParameterError(
                    f"cwru: window={self.window} does not fit in the {self.split} part of record {number} "
                    f"({hi - lo} samples at 12 kHz with train_fraction={self.train_fraction})"
                )
            record_starts[number] = starts
            windows.extend((number, start) for start in starts)
            targets.extend([label] * len(starts))
        self.windows = windows
        self.targets = targets
        if self.split == "train":  # the levels a model's new recordings are held to (bpsrm predict)
            levels = [levels_at(self.signals[n], record_starts[n], self.window) for n in self.records]
            self.preprocess = self.preprocess.with_level_range(np.concatenate(levels))

        if normalize == "train":
            parts = [self.signals[n][: self.borders[n]] for n in self.records]
            total = sum(p.size for p in parts)
            mean = sum(float(p.sum()) for p in parts) / total
            var = sum(float(np.square(p - mean).sum()) for p in parts) / total
            if not var > 0:
                raise DataError(f"cwru: the train part of records {self.records} is constant; cannot normalise")
            self.set_statistics(mean, math.sqrt(var))

    @property
    def groups(self) -> list[str]:
        """Each window's stretch, ``"record:k"``: the part of its record it comes from (``bounds``) cut into
        ``STRETCHES`` = 20 equal stretches (at least one window long), ``k`` the stretch its start falls in. A
        validation share then holds whole stretches of neighbouring windows (a 10% share of a class: about two
        stretches per record; the quota is per class, and a stretch that would overshoot it is passed over, so the
        share may fall short of 10%) rather than single windows scattered among training windows that overlap them
        (:func:`bpsrm.data.splits.group_holdout`)."""
        keys = []
        for number, start in self.windows:
            low, high = self.bounds[number]
            stretch = max(self.window, math.ceil((high - low) / STRETCHES))
            keys.append(f"{number}:{(start - low) // stretch}")
        return keys

    @property
    def spans(self) -> list[tuple[int, int, int]]:
        """``(record, first, stop)``: the samples ``first .. stop - 1`` of its record each window may read (with
        ``augment_speed`` s, at any speed up to 1 + s: :func:`~bpsrm.data.vibration.jitter_span`). ``bpsrm train``
        leaves out training windows whose span meets a validation window's (:func:`bpsrm.engine.experiment.prepare`
        through :func:`bpsrm.data.splits.drop_overlapping`)."""
        max_speed = 1.0 + self.augment_speed if self.augmented else 1.0
        return [
            (number, *jitter_span(start, self.window, *self.bounds[number], max_speed))
            for number, start in self.windows
        ]

    @property
    def mean(self) -> float | None:
        """Mean of the training data (``normalize: train``), else None."""
        return self.preprocess.mean

    @property
    def std(self) -> float | None:
        """Standard deviation of the training data (``normalize: train``), else None."""
        return self.preprocess.std

    def set_statistics(self, mean: float | None, std: float | None) -> None:
        """Normalise with these statistics (a checkpoint's training data) instead of this data's own."""
        self.preprocess = dataclasses.replace(self.preprocess, mean=mean, std=std)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        number, start = self.windows[index]
        signal = self.signals[number]
        if self.augmented:
            draws = (1.0 + f * (2.0 * float(torch.rand(())) - 1.0) for f in (self.augment_speed, self.augment_gain))
            speed, gain = draws
            x = jitter_window(signal, start, self.window, *self.bounds[number], speed, gain)
        else:
            x = signal[start : start + self.window]
        return torch.from_numpy(self.preprocess.windows(x[None, :])[0]), self.targets[index]


def _coarse(name: str) -> str:
    return _FAULT_TYPE[re.match(r"normal|B|IR|OR", name).group(0)]  # type: ignore[union-attr]
