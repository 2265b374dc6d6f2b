"""Classifying new files with a trained model, and adapting a model to a new condition.

``bpsrm predict CHECKPOINT FILE... [--sample-rate HZ] [--rpm RPM] [--channel C]
[--out FILE.csv]`` calls :func:`predict_files`; ``bpsrm adapt CHECKPOINT FILE...
--out ADAPTED.pt`` calls :func:`adapt_checkpoint`. Every file becomes network
input through the checkpoint's preprocessing (:mod:`bpsrm.data.preprocess`),
the same path the data loader took in training:

* images: one input per file;
* event files (N-MNIST ``.bin``, ASL-DVS ``.mat``, ``.npy`` arrays with fields x, y, t, p: the format the
  model's dataset names in its ``reader``): one input per file;
* vibration recordings (``.mat``, ``.csv``, ``.txt``, ``.npy``, ``.wav``): read
  with :func:`bpsrm.data.recordings.read_recording`, checked (NaN, flat,
  clipped, too short), then brought to the model's rate (and reference speed), cut
  into windows without overlap and classified :data:`BATCH_WINDOWS` windows at a
  time (:class:`~bpsrm.data.resampling.Resampler`), so memory grows with the
  recording as read, not with a resampled copy of it nor with the number of windows.

Each window or image is also scored against the training data
(:mod:`bpsrm.deploy.ood`); above the checkpoint's threshold (``ood_threshold`` in each file's result) the
answer is "unknown", and ``closest_class`` names the class whose ``index``, ``confidence`` and probabilities the
entry still carries.
A recording's window is also "unknown" when its level (its RMS, :func:`bpsrm.data.vibration.window_levels`) lies
more than :data:`LEVEL_MARGIN` times outside the training windows' ``level_range`` that the checkpoint's
preprocessing keeps (``level_limits`` in each file's result; ``unknown_because`` in a window's entry says which test
it failed). A recording's answer is the majority class over its windows whose level passed: the class most of them
get, or "unknown" when more than half of them are unknown by their score, or when none passed. A recording with
more than :data:`~bpsrm.data.mains.HUM_SHARE` of its power at the mains frequency and its harmonics
(:func:`~bpsrm.data.mains.mains_hum`) gets a ``hum_warning``; its answers stand.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.mains import CWRU_LARGEST_SHARE, HUM_SHARE, Hum, mains_hum
from ..data.preprocess import EVENT_READERS, EventPreprocess, ImagePreprocess, VibrationPreprocess
from ..data.recordings import RECORDING_SUFFIXES, check_signal, read_recording
from ..data.resampling import Resampler
from ..data.vibration import window_levels
from ..errors import CheckpointError, DataError, ParameterError
from ..files import atomic_file, refuse_existing
from .inference import TrainedModel, load_trained
from .ood import spike_features

__all__ = [
    "IMAGE_SUFFIXES",
    "UNKNOWN",
    "FileInput",
    "file_input",
    "predict_files",
    "write_predictions_csv",
    "plot_predictions",
    "adapt_checkpoint",
    "level_limits",
    "LEVEL_MARGIN",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
UNKNOWN = "unknown"
BATCH_WINDOWS = 64
"""Windows of a recording resampled and classified at once. The network's activations for a batch dominate the
memory of ``predict`` (256 windows of the CWRU models took about 0.4 GB more than 64, and no less time)."""
FILE_WARNINGS = ("read_warning", "warning", "hum_warning")
"""The keys of a recording's warnings that reading it gives (lines above a CSV's table read as comments, its rate,
mains hum); ``level_warning`` comes after its windows are classified."""
LEVEL_MARGIN = 10.0
"""How far outside the training windows' level range (:attr:`~bpsrm.data.vibration.VibrationPreprocess.level_range`)
a window's level may lie before the window is answered "unknown": below ``low / 10`` or above ``high * 10`` (20 dB).
Another operating condition of the same machine moves far less: on the 9 CWRU fault classes, each of the loads 0, 1
and 2 HP held out lies within 1.15 times the range of the other two. What lies beyond is no change of load but a
disconnected or dead sensor (whose noise floor is some 100 times below a running machine's vibration), a signal in
another unit or gain (millivolts read as volts), or a machine at rest. Between the two, a level inside the margin
passes unchecked: noise at a running machine's level is the out-of-distribution score's to catch, or nobody's
(docs/howto/own-data.md). The factor was set from those CWRU loads, the training side, not from any test figure."""


@dataclass
class FileInput:
    """A file as network inputs: ``batches()`` yields ``[N, *sample_shape]`` tensors (one per image or event
    file; for a recording, its windows side by side from ``starts``, samples at the model's rate)."""

    path: Path
    kind: str
    tensors: Tensor | None = None
    resampler: Resampler | None = None
    """A recording at the model's rate, computed a batch of windows at a time (the recording's whole resampled
    copy would take several times its memory)."""
    preprocess: VibrationPreprocess | None = None
    starts: list[int] | None = None
    details: dict[str, Any] | None = None
    physical: bool = True
    """Whether a recording's samples are in its sensor's unit, so that its level can be held to the training data's
    (False for a ``.wav``: fractions of full scale)."""

    def checked_limits(self) -> tuple[float, float] | None:
        """The :func:`level_limits` this recording's windows are held to; None where its level is not checked (an
        image or events, a checkpoint without a level range, a ``.wav``)."""
        if self.preprocess is None or not self.physical:
            return None
        return level_limits(self.preprocess)

    def blocks(self, size: int = BATCH_WINDOWS) -> Iterator[tuple[Tensor, np.ndarray | None]]:
        """Network inputs in batches of at most ``size``, each with its windows' levels
        (:func:`~bpsrm.data.vibration.window_levels`; None for an image or events)."""
        if self.tensors is not None:
            yield self.tensors, None
            return
        assert self.resampler is not None and self.preprocess is not None and self.starts is not None
        window = self.preprocess.window
        for first in range(0, len(self.starts), size):
            count = min(size, len(self.starts) - first)
            begin = self.starts[first]
            assert self.starts[first + count - 1] == begin + (count - 1) * window  # windows side by side
            raw = self.resampler.span(begin, begin + count * window).reshape(count, window)
            yield torch.from_numpy(self.preprocess.windows(raw)), window_levels(raw)

    def batches(self, size: int = BATCH_WINDOWS) -> Iterator[Tensor]:
        """Network inputs in batches of at most ``size``."""
        for inputs, _ in self.blocks(size):
            yield inputs


def file_input(
    trained: TrainedModel,
    path: str | Path,
    sample_rate_hz: float | None = None,
    rpm: float | None = None,
    channel: str | int | None = None,
) -> FileInput:
    """``path`` prepared as the checkpoint's training data was (module docstring); a DataError says why not."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: a folder, expected a file (give the files in it, e.g. {path}/*)")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    pre = trained.preprocess
    suffix = path.suffix.lower()
    dataset = trained.config.data.name
    _refuse_unused(pre, dataset, sample_rate_hz, rpm, channel)
    if isinstance(pre, VibrationPreprocess) and suffix in RECORDING_SUFFIXES:
        return _recording_input(path, pre, sample_rate_hz, rpm, channel)
    if isinstance(pre, ImagePreprocess) and suffix in IMAGE_SUFFIXES:
        return FileInput(path, "image", tensors=pre.from_file(path))
    if isinstance(pre, EventPreprocess) and suffix == EVENT_READERS[pre.reader]:
        return FileInput(path, "events", tensors=pre.from_file(path))
    if isinstance(pre, ImagePreprocess):
        expected = f"images ({', '.join(IMAGE_SUFFIXES)})"
    elif isinstance(pre, EventPreprocess):
        expected = f"event files of its reader {pre.reader!r} ({EVENT_READERS[pre.reader]})"
    elif isinstance(pre, VibrationPreprocess):
        expected = f"vibration recordings ({', '.join(RECORDING_SUFFIXES)})"
    else:
        expected = "no file type: bpsrm does not know how this model's data was read (its dataset keeps no preprocess)"
    raise DataError(
        f"{path}: cannot classify a {suffix or 'suffix-less'} file with a model trained on {dataset}; "
        f"it takes {expected}"
    )


def _refuse_unused(
    pre: Any, dataset: str, sample_rate_hz: float | None, rpm: float | None, channel: str | int | None
) -> None:
    """A ParameterError for a recording option the model would not use (the answer echoed a --rpm that changed
    nothing): a shaft speed without speed normalisation, any of them for a model of images or events."""
    if isinstance(pre, VibrationPreprocess):
        if rpm is not None and not pre.speed_normalize:
            raise ParameterError(
                f"--rpm {rpm:g}: the model does not normalise shaft speed (trained on {dataset} with "
                "speed_normalize: false), so the speed would change nothing; leave --rpm out"
            )
        return
    options = (("--sample-rate", sample_rate_hz), ("--rpm", rpm), ("--channel", channel))
    given = [name for name, value in options if value is not None]
    if given:
        raise ParameterError(
            f"{', '.join(given)}: options of vibration recordings; the model was trained on {dataset}, and reads "
            "its files without them"
        )


def _recording_input(
    path: Path, pre: VibrationPreprocess, sample_rate_hz: float | None, rpm: float | None, channel: str | int | None
) -> FileInput:
    recording = read_recording(path, sample_rate_hz=sample_rate_hz, channel=channel, rpm=rpm)
    rate = recording.sample_rate_hz
    if rate is None:
        raise DataError(
            f"{path}: the file does not state its sample rate; give it with --sample-rate HZ "
            "(bpsrm never guesses it from a file name)"
        )
    needed = math.ceil(pre.window * rate / pre.sample_rate_hz)
    check_signal(recording.signal, str(path), min_samples=needed)
    resampler = pre.resampler(recording.signal, rate, recording.rpm, str(path))
    if resampler.length < pre.window:
        raise DataError(f"{path}: {resampler.length} samples at the model's rate, fewer than one window ({pre.window})")
    starts = list(range(0, resampler.length - pre.window + 1, pre.window))
    details: dict[str, Any] = {
        "sample_rate_hz": rate,
        "rpm": recording.rpm,
        "channel": recording.channel,
        "seconds": recording.signal.size / rate,
    }
    if recording.notes:
        details["read_warning"] = "; ".join(recording.notes)
    # the rate the signal is resampled from: at the reference speed, a slower shaft reads as a faster rate
    source = pre.source_rate(rate, recording.rpm, str(path))
    hum = mains_hum(recording.signal, rate, top_hz=min(rate, pre.sample_rate_hz * rate / source) / 2)  # model's band
    if hum is not None and hum.share > HUM_SHARE:
        details["hum_warning"] = _hum_warning(path, recording.channel, hum)
    if source < pre.sample_rate_hz:  # up-sampled: the band between the two Nyquist frequencies is empty
        speed = f" (at {recording.rpm:g} rpm: {source:g} Hz at the reference speed)" if source != rate else ""
        details["warning"] = (
            f"{path}: recorded at {rate:g} Hz{speed}, below the model's {pre.sample_rate_hz:g} Hz: the signal holds "
            f"nothing between {source / 2:g} and {pre.sample_rate_hz / 2:g} Hz, where the model learnt from its "
            "training data; its answers may rest on what is missing (record at the model's rate or above)"
        )
    return FileInput(
        path,
        "recording",
        resampler=resampler,
        preprocess=pre,
        starts=starts,
        details=details,
        physical=recording.physical,
    )


def _where(path: Path, channel: str | None) -> str:
    """A recording as its warnings name it: the file, and the channel where it had several."""
    return f"{path} (channel {channel})" if channel not in (None, "0") else str(path)


def _hum_warning(path: Path, channel: str | None, hum: Hum) -> str:
    """What a recording dominated by mains hum (:mod:`bpsrm.data.mains`) means for its answers."""
    return (
        f"{_where(path, channel)}: {hum.share:.1%} of its power in the band the model reads lies in narrow lines at "
        f"{hum.frequency_hz:g} Hz and its harmonics, the mains frequency (the CWRU recordings put at most "
        f"{CWRU_LARGEST_SHARE:.1%} there). Electrical pickup (a ground loop, an unshielded cable beside a power "
        "line) hides the vibration the model reads: its windows may be answered unknown or wrongly; check the "
        "sensor's cabling and grounding, or filter the lines out before predicting. (A 2-pole motor turning at nearly "
        f"{60 * hum.frequency_hz:g} rpm puts its own vibration there too.)"
    )


@torch.no_grad()
def predict_files(
    checkpoint: str | Path | TrainedModel,
    files: Sequence[str | Path],
    sample_rate_hz: float | None = None,
    rpm: float | None = None,
    channel: str | int | None = None,
) -> list[dict[str, Any]]:
    """Classify each file (module docstring): its class, confidence, out-of-distribution score and whether it
    is known; for a recording every window (start in seconds at the model's rate) and the majority answer.
    ``checkpoint`` is a path, or a model already loaded with :func:`~bpsrm.deploy.inference.load_trained`."""
    trained = checkpoint if isinstance(checkpoint, TrainedModel) else load_trained(checkpoint)
    _refuse_unused(trained.preprocess, trained.config.data.name, sample_rate_hz, rpm, channel)  # before any file
    results = []
    for item in files:
        prepared = file_input(trained, item, sample_rate_hz, rpm, channel)
        entries: list[dict[str, Any]] = []
        levels: list[np.ndarray] = []
        for inputs, block_levels in _model_batches(trained, prepared):
            entries.extend(_classify(trained, inputs))
            levels += [block_levels] if block_levels is not None else []
        result: dict[str, Any] = {"file": str(prepared.path)}
        if trained.ood is not None:  # the bar each ood_score is held to
            result["ood_threshold"] = round(float(trained.ood.threshold), 3)
        else:
            result["model_warning"] = uncalibrated_warning(trained)
        if prepared.starts is None:
            result.update(entries[0])
        else:
            assert prepared.preprocess is not None
            rate = prepared.preprocess.sample_rate_hz
            for entry, start in zip(entries, prepared.starts, strict=True):
                entry["start_s"] = round(start / rate, 6)
            result.update(prepared.details or {})
            result.update(_check_levels(entries, prepared, np.concatenate(levels)))
            result["windows"] = entries
            result["majority"] = _majority(entries, calibrated=trained.ood is not None)
        results.append(result)
    return results


def level_limits(pre: VibrationPreprocess) -> tuple[float, float] | None:
    """The levels a new window must lie within: the training range widened by :data:`LEVEL_MARGIN` each way."""
    if pre.level_range is None:
        return None
    low, high = pre.level_range
    return low / LEVEL_MARGIN, high * LEVEL_MARGIN


def _check_levels(entries: list[dict[str, Any]], prepared: FileInput, levels: np.ndarray) -> dict[str, Any]:
    """Give each window entry its ``level`` (of ``levels``, one per window); where the checkpoint keeps a level
    range, answer a window outside :func:`level_limits` "unknown" (``unknown_because`` names the tests it failed).
    Returns the file's ``level_limits`` and, when some window lies outside them, its ``level_warning``."""
    assert prepared.preprocess is not None
    for entry, level in zip(entries, levels, strict=True):
        entry["level"] = float(f"{level:.4g}")
    limits = prepared.checked_limits()
    if limits is None:
        if not prepared.physical and prepared.preprocess.level_range is not None:
            return {
                "level_note": f"{prepared.path}: a .wav holds fractions of its full scale, not the sensor's unit, so "
                "its level is not held to the training data's (a dead sensor is not caught by it)"
            }
        return {}
    low, high = limits
    outside = (levels < low) | (levels > high)
    for entry, out in zip(entries, outside, strict=True):
        entry.setdefault("known", True)  # without an out-of-distribution calibration: known means "level within"
        if out:
            entry["known"] = False
            entry.setdefault("closest_class", entry["class"])
            entry["class"] = UNKNOWN
            entry["unknown_because"] = [*entry.get("unknown_because", []), "level"]
    report: dict[str, Any] = {"level_limits": [float(f"{low:.4g}"), float(f"{high:.4g}")]}
    if outside.any():
        report["level_warning"] = _level_warning(prepared, levels, outside, limits)
    return report


def _level_warning(
    prepared: FileInput,
    levels: np.ndarray,
    outside: np.ndarray,
    limits: tuple[float, float],
    adapting: bool = False,
) -> str:
    """What windows outside the level limits mean, for the person reading the answer (or, ``adapting``, the
    report of ``bpsrm adapt``, which leaves them out)."""
    pre = prepared.preprocess
    assert pre is not None and pre.level_range is not None and prepared.starts is not None
    flagged = np.flatnonzero(outside)
    first = prepared.starts[int(flagged[0])] / pre.sample_rate_hz
    last = (prepared.starts[int(flagged[-1])] + pre.window) / pre.sample_rate_hz
    low, high = limits
    sides = [
        f"{int(part.sum())} {name} (median {float(np.median(levels[part])):.3g})"
        for name, part in (("below", levels < low), ("above", levels > high))
        if part.any()
    ]
    seen = (
        "the model standardises each window, so its network never sees the level"
        if pre.normalize == "window" or pre.features != "raw"
        else "the model's input scales with the level"
    )
    consequence = (
        "The adaptation leaves them out"
        if adapting
        else f"They are answered unknown and left out of the majority ({seen})"
    )
    where = _where(prepared.path, (prepared.details or {}).get("channel"))
    return (
        f"{where}: {len(flagged)} of {outside.size} windows, from {first:g} s to {last:g} s, have a signal level (RMS, "
        f"in the unit of the training recordings) outside the {low:.3g} to {high:.3g} the model accepts (its "
        f"training windows' {pre.level_range[0]:.3g} to {pre.level_range[1]:.3g}, widened {LEVEL_MARGIN:g} times "
        f"each way): {' and '.join(sides)}. A disconnected or dead sensor, a gain or unit off by ten times or more, "
        f"a machine at rest, a knock, or a machine far quieter or louder than those of the training data? "
        f"{consequence}"
    )


def _classify(trained: TrainedModel, inputs: Tensor) -> list[dict[str, Any]]:
    logits, features = spike_features(trained.model, trained.encode(inputs))
    probabilities = torch.softmax(logits.double(), dim=1)
    confidence, predicted = probabilities.max(1)
    if trained.ood is not None and features.shape[1] != trained.ood.means.shape[1]:
        raise CheckpointError(
            f"{trained.path}: its out-of-distribution calibration is for {trained.ood.means.shape[1]} features per "
            f"sample, the model gives {features.shape[1]}"
        )
    scores = trained.ood.score(features) if trained.ood is not None else None
    entries = []
    for i in range(inputs.shape[0]):
        entry: dict[str, Any] = {
            "class": trained.classes[int(predicted[i])],
            "index": int(predicted[i]),
            "confidence": round(float(confidence[i]), 4),
            "probabilities": [round(float(p), 4) for p in probabilities[i]],
        }
        if scores is not None and trained.ood is not None:
            known = bool(scores[i] <= trained.ood.threshold)
            entry["ood_score"] = round(float(scores[i]), 3)
            entry["known"] = known
            if not known:  # index, confidence and probabilities stay those of the class it is closest to
                entry["closest_class"] = entry["class"]
                entry["class"] = UNKNOWN
                entry["unknown_because"] = ["ood_score"]
        entries.append(entry)
    return entries


def uncalibrated_warning(trained: TrainedModel) -> str:
    """What a checkpoint without an out-of-distribution calibration cannot do (``model_warning`` of its answers)."""
    start = (
        f"{trained.path}: no out-of-distribution calibration (trained with train.ood_samples=0, or before bpsrm "
        "kept one): "
    )
    pre = trained.preprocess
    if isinstance(pre, VibrationPreprocess) and pre.level_range is not None:  # the level range alone
        return start + (
            "it answers 'unknown' only for a signal level far outside its training data's, so every other window "
            "gets one of its classes, also noise, a healthy machine or a fault it never learnt"
        )
    return start + (
        "it cannot answer 'unknown', so every window gets one of its classes, also noise, a healthy machine or a "
        "fault it never learnt"
    )


def _majority(entries: list[dict[str, Any]], calibrated: bool) -> dict[str, Any]:
    """The majority answer over a recording's windows whose level passed (``outside_level`` counts the others:
    a machine at rest or a sensor's floor says nothing of the bearing, and a run of three seconds in ten was
    outvoted by its standstill); "unknown" when no window passed, or when more than half of those that did are
    unknown by their out-of-distribution score. ``unknown_share`` (of the windows that passed) only where the model
    is ``calibrated``: a checkpoint without a calibration read "0% unknown" of what it could not have flagged."""
    counted = [e for e in entries if "level" not in e.get("unknown_because", [])]
    answer: dict[str, Any] = {"windows": len(entries)}
    if len(counted) < len(entries):
        answer["outside_level"] = len(entries) - len(counted)
    if not counted:
        return {**answer, "class": UNKNOWN, "share": 1.0}
    unknown = sum(1 for e in counted if e["class"] == UNKNOWN)
    known = [e["class"] for e in counted if e["class"] != UNKNOWN]
    if calibrated:
        answer["unknown_share"] = round(unknown / len(counted), 4)
    if unknown * 2 > len(counted) or not known:
        answer.update({"class": UNKNOWN, "share": round(unknown / len(counted), 4)})
    else:
        winner, count = Counter(known).most_common(1)[0]
        answer.update({"class": winner, "share": round(count / len(counted), 4)})
    return answer


def write_predictions_csv(results: list[dict[str, Any]], classes: list[str], path: str | Path) -> Path:
    """One row per window (recordings) or file (images, events): class, the class it is closest to (itself when
    known; the confidence and probabilities are that class's), confidence, OOD score, probabilities."""
    path = Path(path)
    columns = ["file", "window", "start_s", "class", "closest_class", "confidence", "ood_score", "level", "known"]
    columns += ["unknown_because"]
    columns += [f"p_{c}" for c in classes]
    try:
        with atomic_file(path, "w", newline="") as handle:
            _write_rows(csv.writer(handle), columns, results)
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def _write_rows(writer: Any, columns: list[str], results: list[dict[str, Any]]) -> None:
    writer.writerow(columns)
    for result in results:
        for index, entry in enumerate(result.get("windows", [result])):
            writer.writerow(
                [
                    result["file"],
                    index if "windows" in result else "",
                    entry.get("start_s", ""),
                    entry["class"],
                    entry.get("closest_class", entry["class"]),
                    entry["confidence"],
                    entry.get("ood_score", ""),
                    entry.get("level", ""),
                    entry.get("known", ""),
                    "+".join(entry.get("unknown_because", [])),
                    *entry["probabilities"],
                ]
            )


def _model_batches(trained: TrainedModel, prepared: FileInput) -> Iterator[tuple[Tensor, np.ndarray | None]]:
    """``prepared.blocks()``, each batch checked against the model's sample shape (a DataError naming the file)."""
    for inputs, levels in prepared.blocks():
        if tuple(inputs.shape[1:]) != trained.sample_shape:
            raise DataError(
                f"{prepared.path}: prepared input of shape {list(inputs.shape[1:])}, "
                f"the model takes {list(trained.sample_shape)}"
            )
        yield inputs, levels


def plot_predictions(results: list[dict[str, Any]], classes: list[str], path: str | Path) -> Path | None:
    """Class probability over time for each recording (unknown windows shaded); None when no recording."""
    recordings = [r for r in results if "windows" in r]
    if not recordings:
        return None
    from ..engine.plots import new_figure, save_figure

    fig = new_figure((9, 2.4 * len(recordings) + 0.6), nrows=len(recordings), layout="tight")
    for ax, result in zip(fig.axes, recordings, strict=True):
        times = np.array([w["start_s"] for w in result["windows"]])
        step = float(times[1] - times[0]) if times.size > 1 else 1.0
        probabilities = np.array([w["probabilities"] for w in result["windows"]])
        probabilities[[w["class"] == UNKNOWN for w in result["windows"]]] = np.nan  # no class there: no line
        # each window's value held over the window, to its end (a line from start to start stopped a window early)
        ends = np.append(times, times[-1] + step)
        held = np.vstack([probabilities, probabilities[-1:]])
        for k, name in enumerate(classes):
            if np.nanmax(probabilities[:, k], initial=0.0) >= 0.05:
                ax.plot(ends, held[:, k], label=name, lw=1.2, drawstyle="steps-post")
        for t, window in zip(times, result["windows"], strict=True):
            if window["class"] == UNKNOWN:
                by_level = "level" in window.get("unknown_because", [])
                ax.axvspan(t, t + step, color="#f6ddb8" if by_level else "0.85", lw=0)
        majority = result["majority"]
        outside = majority.get("outside_level", 0)
        counted = f"{majority['windows'] - outside} windows whose level passed" if outside else "windows"
        share = f"{100 * majority['share']:.0f}% of {counted}" if majority["windows"] > outside else "every window"
        ax.set_title(f"{Path(result['file']).name}: {majority['class']} ({share})", fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("probability")
        if ax.get_lines():  # a recording unknown throughout draws no class
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.axes[-1].set_xlabel("time (s); grey: unknown windows; orange: a level outside the model's limits")
    return save_figure(fig, _writable(path), dpi=110)


def _writable(path: str | Path) -> Path:
    """``path`` with its folder made; a DataError when that cannot be done."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot make its folder ({exc.strerror or exc})") from None
    return path


def adapt_checkpoint(
    checkpoint: str | Path,
    files: Sequence[str | Path],
    out: str | Path,
    sample_rate_hz: float | None = None,
    rpm: float | None = None,
    channel: str | int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Re-estimate the normalisation statistics of ``checkpoint`` from unlabeled ``files`` (AdaBN,
    :mod:`bpsrm.deploy.adapt`) and write the result to ``out``, a checkpoint like any other. An existing ``out``
    (the trained checkpoint itself, say) is replaced only with ``overwrite``; without it a
    :class:`~bpsrm.errors.RunFolderError` says so before anything is read. Windows whose level lies outside the
    checkpoint's limits are left out (``left_out_for_level``, with a warning per file); a DataError when none is
    left."""
    from ..engine.checkpoint import save_checkpoint
    from .adapt import adapt_on_samples

    refuse_existing(out, overwrite, "adapt", checkpoint)
    trained = load_trained(checkpoint)
    _refuse_unused(trained.preprocess, trained.config.data.name, sample_rate_hz, rpm, channel)  # before any file
    pool, left_out, warnings = _adaptation_pool(trained, files, sample_rate_hz, rpm, channel)
    if pool.shape[0] == 0 and left_out:
        raise DataError(
            f"adapt: every one of the {left_out} windows of {len(files)} file(s) has a level outside the model's "
            "limits, and none is left to adapt on (see the level warnings of `bpsrm predict` on them)"
        )
    before = _answer_shares(trained, pool)
    samples = adapt_on_samples(trained.model, pool, trained.encode, trained.config.train.eval_batch_size)
    after = _answer_shares(trained, pool)
    state = dict(trained.state)  # save_checkpoint sets format_version
    state["model"] = trained.model.state_dict()
    # The OOD calibration stays the training data's: scores of the new condition are measured against it.
    state["adapted"] = {"from": str(checkpoint), "files": [str(f) for f in files], "samples": samples}
    path = save_checkpoint(out, state)  # makes the folder, errors name the file
    report: dict[str, Any] = {
        "checkpoint": str(path),
        "adapted_from": str(checkpoint),
        "files": len(files),
        "samples": samples,
        **({"left_out_for_level": left_out} if left_out else {}),
        "answers_before": before,
        "answers_after": after,
    }
    warning = one_state_warning(after, samples)
    if warning is not None:
        report["warning"] = warning
    if warnings:
        report["file_warnings"] = warnings
    return report


def _adaptation_pool(
    trained: TrainedModel,
    files: Sequence[str | Path],
    sample_rate_hz: float | None,
    rpm: float | None,
    channel: str | int | None,
) -> tuple[Tensor, int, list[str]]:
    """The network inputs of every file given to ``bpsrm adapt`` but the windows whose level lies outside the
    checkpoint's limits (:meth:`FileInput.checked_limits`: a machine at rest or a dead sensor would move the
    statistics to what no bearing looks like), how many those were, and the files' warnings."""
    inputs: list[Tensor] = []
    left_out = 0
    warnings: list[str] = []
    for item in files:  # one file's prepared signal at a time; only its batches are kept
        prepared = file_input(trained, item, sample_rate_hz, rpm, channel)
        details = prepared.details or {}
        warnings += [details[key] for key in FILE_WARNINGS if key in details]
        batches: list[Tensor] = []
        levels: list[np.ndarray] = []
        for batch, block_levels in _model_batches(trained, prepared):
            batches.append(batch)
            levels += [block_levels] if block_levels is not None else []
        limits = prepared.checked_limits()
        if limits is None or not levels:
            inputs += batches
            continue
        every = np.concatenate(levels)
        outside = (every < limits[0]) | (every > limits[1])
        inputs.append(torch.cat(batches)[torch.from_numpy(~outside)])
        if outside.any():
            left_out += int(outside.sum())
            warnings.append(_level_warning(prepared, every, outside, limits, adapting=True))
    pool = torch.cat(inputs) if inputs else torch.empty(0)
    return pool, left_out, warnings


@torch.no_grad()
def _answer_shares(trained: TrainedModel, pool: Tensor) -> dict[str, float]:
    """The share of ``pool``'s samples given each answer (a class or "unknown"), most given first."""
    answers: Counter[str] = Counter()
    size = trained.config.train.eval_batch_size
    for start in range(0, pool.shape[0], size):
        answers.update(entry["class"] for entry in _classify(trained, pool[start : start + size]))
    total = max(pool.shape[0], 1)
    return {name: round(count / total, 4) for name, count in answers.most_common()}


ONE_STATE_SHARE = 0.5
"""More than this share of the adaptation windows given one answer by the adapted model reads as recordings of one
state (or of something the model does not know)."""


def one_state_warning(answers_after: Mapping[str, float], samples: int) -> str | None:
    """A warning when the adapted model gives more than :data:`ONE_STATE_SHARE` of its own adaptation windows one
    answer. AdaBN (:mod:`bpsrm.deploy.adapt`) sets every norm's statistics to those of the adaptation data, which
    presumes they mix the machine's states as training did; recordings of one state (a healthy machine alone) are
    moved to the training data's average, and most of their windows read as whichever class lies there, no longer
    unknown (docs/howto/bearings.md gives the field models' answers on a healthy record)."""
    if not answers_after:
        return None
    answer, share = next(iter(answers_after.items()))
    if share <= ONE_STATE_SHARE:
        return None
    start = f"after adaptation {100 * share:.0f}% of the {samples} adaptation windows are answered"
    if answer == UNKNOWN:
        return (
            f"{start} unknown: even with their own norm statistics the recordings lie far from everything the model "
            "was trained on (another machine, sensor or mounting, or a state it never saw); its answers on this "
            "condition are not to be trusted, adapted or not"
        )
    return (
        f"{start} {answer!r}: adaptation takes the norm statistics of the recordings given, which is sound only when "
        "they hold several states of the machine, as training did; recordings of one state (a healthy machine alone, "
        "say) are moved to the training data's average and read as a class, and 'unknown' no longer catches them. "
        "Adapt on recordings of several states, or keep the unadapted checkpoint (docs/howto/bearings.md)"
    )
