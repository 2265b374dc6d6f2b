"""The run folder: its file names, writers and readers (the one definition of the format).

A training run (:mod:`bpsrm.engine.trainer`) writes, and plots, eval and the tests read:

``config.yaml``
    The resolved config.

``metrics.csv``
    Header ``epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,train_seconds,samples_per_second``,
    one row per epoch; accuracies are fractions in [0, 1]. The learning curves need
    ``epoch``, ``train_loss``, ``val_loss``, ``train_accuracy`` and ``val_accuracy``;
    other columns are ignored and an empty cell is read as "not measured".

``metrics.json``
    An object with (among others) ``test_accuracy`` (float), ``best_val_accuracy``,
    ``best_epoch`` (int), ``classes`` (list of class names), ``confusion_matrix``
    (list of lists of ints, rows = true class, columns = predicted class) and
    ``firing_rates`` (object: layer name -> mean firing rate in [0, 1], in layer order;
    a plain list is accepted too and its layers are named ``layer 1``, ``layer 2``, ...).
    ``environments`` lists what the run ran on (:func:`bpsrm.environment.describe_environment`: versions,
    processor, PyTorch's vector instructions, threads, device, kernels), one entry per environment it went on in,
    each with the ``from_epoch`` and ``after_step`` where it took over (rank 0's; an entry is added when a resume
    finds another one); a run resumed from a checkpoint of bpsrm before this record lists only the later ones. An
    entry from epoch ``epochs + 1`` is a finished run resumed to write its results (the test read there).

``activity.npz``
    The activity of one test sample: ``names`` (layer names, str); for each layer ``i``
    ``spikes_{i}`` ([T, N_i], 0/1), ``membrane_{i}`` ([T, K_i], the membrane potential u of
    K_i <= 8 chosen neurons), ``neurons_{i}`` ([K_i] int, which neurons those are) and
    ``theta_{i}`` ([K_i], their thresholds); plus the scalars ``label`` and ``prediction``.

``predictions.npz``
    The held-out samples' ``labels`` and predicted classes ``predictions`` of the chosen model (two 1-D
    integer arrays of one length, sample i at index i, in the order of the test split, or of the validation
    split where ``metrics.json``'s ``evaluated_on`` says so): two runs on one split are compared sample by
    sample with it (:mod:`bpsrm.engine.paired`).

``selection.json``
    Only in a final run of scripts/final_runs.py: which variant of a cross-validation report the run trains,
    ``{"variant": str, "overrides": [KEY=VALUE str, ...], "chosen_by": str, "protocol": str}``.

A plot whose input is missing (no file, or no such key in it) is not drawn:
:func:`bpsrm.engine.plots.plot_run` lists it in :attr:`bpsrm.engine.plots.PlotReport.skipped`
with the reason, and the single ``plot_*`` functions raise :class:`~bpsrm.errors.DataError`.
A file that is present but malformed (a CSV without a needed column, JSON that does not parse,
arrays of the wrong shape) raises :class:`~bpsrm.errors.DataError` naming the file and the problem.

``best.pt`` / ``last.pt``
    Checkpoints (:mod:`bpsrm.engine.checkpoint`): ``best.pt`` the model chosen
    (weights, config, classes, sample shape, data statistics, preprocessing, epoch: all that
    ``bpsrm predict`` needs), ``last.pt`` that and the training state to resume from.

``.bpsrm.lock``
    Held (``fcntl.flock``) by the process that trains into the folder (:class:`FolderLock`);
    the operating system releases it when that process ends in any way, SIGKILL included.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BpsrmError, DataError, RunFolderError, shown
from ..files import atomic_file, write_text_atomic

if TYPE_CHECKING:  # config imports this module
    from .config import TrainConfig

__all__ = [
    "CONFIG_YAML",
    "METRICS_CSV",
    "METRICS_JSON",
    "ACTIVITY_NPZ",
    "BEST_PT",
    "LAST_PT",
    "PLOTS",
    "HISTORY_COLUMNS",
    "Activity",
    "LayerActivity",
    "Missing",
    "RUN_FILES",
    "FolderLock",
    "run_files",
    "remove_run",
    "remove_results",
    "remove_if_unused",
    "clear_stale",
    "write_config",
    "write_history",
    "write_metrics",
    "write_activity",
    "write_predictions",
    "samples_digest",
    "read_samples_digest",
    "read_predictions",
    "select_rule",
    "configured_training",
    "read_prediction_record",
    "write_selection",
    "read_selection",
    "read_history",
    "read_metrics",
    "read_activity",
    "metric_number",
    "beats_best",
    "chosen_epoch",
    "best_epoch",
    "confusion_matrix",
    "class_names",
    "firing_rates",
]

CONFIG_YAML = "config.yaml"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
ACTIVITY_NPZ = "activity.npz"
PREDICTIONS_NPZ = "predictions.npz"
SELECTION_JSON = "selection.json"
BEST_PT = "best.pt"
LAST_PT = "last.pt"
TENSORBOARD_DIR = "tensorboard"
LOCK_FILE = ".bpsrm.lock"
PLOTS = ("learning_curves.png", "confusion_matrix.png", "raster.png", "membrane.png", "firing_rates.png")
"""The figures :func:`bpsrm.engine.plots.plot_run` draws into a complete run folder."""
RUN_FILES = (CONFIG_YAML, METRICS_CSV, METRICS_JSON, ACTIVITY_NPZ, PREDICTIONS_NPZ, BEST_PT, LAST_PT)
"""The files whose presence means that a folder holds a run (started or finished)."""
HISTORY_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "train_seconds",
    "samples_per_second",
)
"""The columns of metrics.csv, one row per epoch."""
_CURVE_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")


class Missing(DataError):
    """An input is absent (a file, or a key in it): :func:`bpsrm.engine.plots.plot_run` skips the plot."""


@dataclass(frozen=True)
class LayerActivity:
    """One spiking layer's activity on one sample: spikes [T, N] (0/1) and the traces of K chosen neurons."""

    name: str
    spikes: np.ndarray
    membrane: np.ndarray | None = None
    """[T, K] membrane potential u of the chosen neurons, or None."""
    neurons: np.ndarray | None = None
    """[K] which neurons (indices into N)."""
    theta: np.ndarray | None = None
    """[K] their thresholds."""


@dataclass(frozen=True)
class Activity:
    """The activity of one test sample through every spiking layer (activity.npz)."""

    layers: list[LayerActivity]
    label: int | None = None
    prediction: int | None = None


# ----------------------------------------------------------------------------- writing


# ----------------------------------------------------------------------------- ownership


def run_files(run: Path) -> list[str]:
    """The files of :data:`RUN_FILES` that ``run`` holds (none when it does not exist)."""
    return [name for name in RUN_FILES if (run / name).is_file()]


def remove_run(run: Path) -> None:
    """Delete the run that ``run`` holds (its files, figures and TensorBoard log); other files stay."""
    for name in (*RUN_FILES, *PLOTS):
        (run / name).unlink(missing_ok=True)
    shutil.rmtree(run / TENSORBOARD_DIR, ignore_errors=True)


def remove_results(run: Path) -> None:
    """Delete the results a run writes when it finishes (metrics.json, activity.npz): done before a run trains
    again (resumed, or extended with a larger train.epochs), so that a run stopped on the way does not look
    finished with the figures of its earlier end (``--reuse`` reads metrics.json as the run's result). The plots
    stay until they are drawn again (a resume may turn ``log.plots`` off)."""
    for name in (METRICS_JSON, ACTIVITY_NPZ, PREDICTIONS_NPZ):
        (run / name).unlink(missing_ok=True)


def remove_if_unused(run: Path) -> bool:
    """Delete the folder ``run`` if it holds nothing but what a start writes before training (the lock file,
    config.yaml, a TensorBoard folder): called, with the folder's lock still held, for a folder that a start which
    then failed had made itself, so that a refused start leaves no empty run folder behind. The folder itself goes
    with ``os.rmdir``, which fails (and keeps it) if anything else appeared meanwhile. Returns whether it went."""
    if not run.is_dir() or any(p.name not in (LOCK_FILE, CONFIG_YAML, TENSORBOARD_DIR) for p in run.iterdir()):
        return False
    shutil.rmtree(run / TENSORBOARD_DIR, ignore_errors=True)
    for name in (CONFIG_YAML, LOCK_FILE):
        (run / name).unlink(missing_ok=True)
    try:
        run.rmdir()
    except OSError:
        return False
    return True


class FolderLock:
    """An advisory lock on a run folder (``fcntl.flock`` on its ``.bpsrm.lock``), taken on construction.

    A second process that asks for it fails at once with a :class:`~bpsrm.errors.RunFolderError` naming
    the holder. The operating system drops the lock when the holder's file descriptor closes, which
    happens on any exit, SIGKILL included; the file itself stays (removing it would race; only
    :func:`remove_if_unused` removes it, with the lock held and the folder's ``rmdir`` as the guard). Where
    ``fcntl`` does not exist (Windows), no lock is taken.
    """

    def __init__(self, run: Path) -> None:
        self.path = run / LOCK_FILE
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        run.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "a process"
            os.close(fd)
            raise RunFolderError(
                f"{run}: another bpsrm process is training into this folder ({holder}); wait for it to end or "
                "choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (also done by the operating system when the process ends)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def clear_stale(run: Path) -> None:
    """Make the folder and remove temporary files left by a process killed while writing."""
    run.mkdir(parents=True, exist_ok=True)
    for stale in run.glob(".*.tmp"):
        stale.unlink()


def write_config(run: Path, config: dict[str, Any]) -> None:
    """config.yaml: the resolved config as plain data (text that reads as a number is quoted)."""
    from .config import write_yaml

    write_text_atomic(run / CONFIG_YAML, write_yaml(config))


def write_history(run: Path, rows: Sequence[dict[str, Any]]) -> None:
    """metrics.csv: one row per epoch, columns :data:`HISTORY_COLUMNS`."""
    with atomic_file(run / METRICS_CSV, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(HISTORY_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def write_metrics(run: Path, metrics: dict[str, Any]) -> None:
    """metrics.json: the final figures."""
    write_text_atomic(run / METRICS_JSON, json.dumps(metrics, indent=2) + "\n")


def write_activity(run: Path, activity: Activity) -> None:
    """activity.npz from an :class:`Activity` (the format :func:`read_activity` reads)."""
    arrays: dict[str, Any] = {"names": np.array([layer.name for layer in activity.layers])}
    if activity.label is not None:
        arrays["label"] = np.array(int(activity.label))
    if activity.prediction is not None:
        arrays["prediction"] = np.array(int(activity.prediction))
    for i, layer in enumerate(activity.layers):
        arrays[f"spikes_{i}"] = np.asarray(layer.spikes)
        if layer.membrane is not None:
            arrays[f"membrane_{i}"] = np.asarray(layer.membrane)
            arrays[f"neurons_{i}"] = np.asarray(layer.neurons)
            arrays[f"theta_{i}"] = np.asarray(layer.theta)
    with atomic_file(run / ACTIVITY_NPZ, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def write_predictions(
    run: Path, labels: np.ndarray, predictions: np.ndarray, samples_sha256: str | None = None
) -> None:
    """predictions.npz: the held-out samples' labels and predicted classes, in the split's order, and, when the
    dataset reads one file per sample, the digest of those files' contents in that order (``samples_sha256``,
    :func:`samples_digest`)."""
    arrays: dict[str, Any] = {"labels": np.asarray(labels, np.int64), "predictions": np.asarray(predictions, np.int64)}
    if samples_sha256 is not None:
        arrays["samples_sha256"] = np.array(samples_sha256)
    with atomic_file(run / PREDICTIONS_NPZ, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def samples_digest(dataset: Any) -> str | None:
    """sha256 over the sha256 of the file each of a dataset's samples is read from, in the dataset's order (a
    torch ``Subset`` is followed to its dataset; each distinct file is read once); None for a dataset without one
    path per sample in ``files``, or when a file cannot be read."""
    from torch.utils.data import Subset

    indices: list[int] = list(range(len(dataset)))
    while isinstance(dataset, Subset):
        indices = [int(dataset.indices[i]) for i in indices]
        dataset = dataset.dataset
    files = getattr(dataset, "files", None)
    if not isinstance(files, list) or len(files) != len(dataset):
        return None
    if not all(isinstance(f, (str, os.PathLike)) for f in files):
        return None  # not paths: nothing bpsrm can read and vouch for
    from ..data.download import sha256_of

    of_file: dict[str, bytes] = {}
    digest = hashlib.sha256()
    for i in indices:
        key = os.fspath(files[i])
        if key not in of_file:
            try:
                of_file[key] = bytes.fromhex(sha256_of(key))
            except (OSError, ValueError):
                return None  # a file gone since it was read: nothing to vouch for
        digest.update(of_file[key])
    return digest.hexdigest()


def read_samples_digest(run: Path) -> str | None:
    """The ``samples_sha256`` of a run's predictions.npz (:func:`read_prediction_record`)."""
    return read_prediction_record(run)[2]


def write_selection(run: Path, selection: dict[str, Any]) -> None:
    """selection.json (made with the folder): the variant a final run trains and where its choice came from."""
    _checked_selection(selection, run / SELECTION_JSON)
    run.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run / SELECTION_JSON, json.dumps(selection, indent=2) + "\n")


# ----------------------------------------------------------------------------- reading


def read_history(run: Path) -> dict[str, np.ndarray]:
    """The learning-curve columns of metrics.csv as float arrays (empty cells are NaN)."""
    path = run / METRICS_CSV
    if not path.is_file():
        raise Missing(f"{METRICS_CSV} missing")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV ({exc})") from exc
    if not header:
        raise DataError(f"{path}: the file is empty (no header)")
    missing = [c for c in _CURVE_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    if not rows:
        raise DataError(f"{path}: no rows (expected one row per epoch)")
    columns: dict[str, np.ndarray] = {}
    for column in _CURVE_COLUMNS:
        values = []
        for line, row in enumerate(rows, start=2):
            raw = {k.strip(): v for k, v in row.items() if k is not None}.get(column)
            raw = "" if raw is None else raw.strip()
            if raw == "" or raw.lower() == "nan":
                if column == "epoch":
                    raise DataError(f"{path}: line {line} has no epoch")
                values.append(math.nan)
                continue
            try:
                values.append(float(raw))
            except ValueError:
                raise DataError(f"{path}: line {line}, column {column}: {shown(raw)} is not a number") from None
        columns[column] = np.asarray(values, dtype=float)
    return columns


def read_metrics(run: Path, *, required: bool) -> dict[str, Any]:
    """metrics.json as a dict; {} when it is absent and not required."""
    path = run / METRICS_JSON
    if not path.is_file():
        if required:
            raise Missing(f"{METRICS_JSON} missing")
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(metrics, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(metrics).__name__}")
    return metrics


def metric_number(value: Any, filename: str, key: str, run: Path) -> float | None:
    """A finite float from metrics.json, None when absent (or null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{run / filename}: {key} must be a number, got {shown(value)}")
    return float(value) if math.isfinite(value) else None


def beats_best(accuracy: float, loss: float, best_accuracy: float, best_loss: float) -> bool:
    """The rule that chooses the checkpoint on validation (``train.select: best_val``): an epoch beats the best so far
    when its accuracy is higher, or equal with a lower loss (a NaN best loss is beaten by any number). Without the
    second part a small validation set that reads 100% from an early epoch on would keep that early epoch."""
    if accuracy != best_accuracy:
        return bool(accuracy > best_accuracy)
    return bool(loss < (math.inf if math.isnan(best_loss) else best_loss))


def chosen_epoch(columns: dict[str, np.ndarray], select: str = "best_val") -> float | None:
    """The epoch that training keeps, from metrics.csv's columns: the last one under ``train.select: last``, else
    the first epoch that no later one beats by :func:`beats_best` (epochs without a validation accuracy are
    passed over); None when there is none."""
    epoch, val_acc, val_loss = columns["epoch"], columns["val_accuracy"], columns["val_loss"]
    if select == "last":
        return float(epoch[-1]) if epoch.size else None
    best, best_acc, best_loss = None, -math.inf, math.nan
    for e, acc, loss in zip(epoch.tolist(), val_acc.tolist(), val_loss.tolist(), strict=True):
        if math.isfinite(acc) and beats_best(acc, loss, best_acc, best_loss):
            best, best_acc, best_loss = float(e), acc, loss
    return best


def configured_training(run: Path) -> TrainConfig | None:
    """The ``train`` section of the run folder's config.yaml (read by :func:`bpsrm.engine.config.load_config`, as
    every config), or None when it cannot be read: the plots of a run then still show its curves."""
    from .config import load_config

    try:
        return load_config(run / CONFIG_YAML).train
    except BpsrmError:
        return None


def select_rule(run: Path) -> str:
    """``train.select`` of the run folder's config.yaml; "best_val" (the default) when it cannot be read."""
    training = configured_training(run)
    return training.select if training is not None else "best_val"


def best_epoch(
    metrics: dict[str, Any], columns: dict[str, np.ndarray], run: Path, select: str | None = None
) -> tuple[float, float | None] | None:
    """(best epoch, its validation accuracy): from metrics.json, else the epoch training keeps by
    :func:`chosen_epoch` under the run's ``train.select`` (``select``, else read from config.yaml), for a run still in
    progress."""
    epoch, val_acc = columns["epoch"], columns["val_accuracy"]
    best = metric_number(metrics.get("best_epoch"), METRICS_JSON, "best_epoch", run)
    if best is None:
        best = chosen_epoch(columns, select if select is not None else select_rule(run))
        if best is None:
            return None
    best_acc = metric_number(metrics.get("best_val_accuracy"), METRICS_JSON, "best_val_accuracy", run)
    if best_acc is None:
        at = np.nonzero(epoch == best)[0]
        if at.size and np.isfinite(val_acc[at[0]]):
            best_acc = float(val_acc[at[0]])
    return best, best_acc


def confusion_matrix(metrics: dict[str, Any], run: Path) -> np.ndarray:
    path = run / METRICS_JSON
    if metrics.get("confusion_matrix") is None:
        raise Missing(f"{METRICS_JSON} has no confusion_matrix")
    raw = metrics["confusion_matrix"]
    try:
        counts = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{path}: confusion_matrix must be a square list of lists of counts") from None
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise DataError(f"{path}: confusion_matrix must be square and non-empty, got shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise DataError(f"{path}: confusion_matrix must hold non-negative whole numbers")
    if counts.sum() >= 2**53:  # exact as a float and as an int64 below that (a test set is far smaller)
        raise DataError(f"{path}: confusion_matrix counts {counts.sum():.3g} samples, more than any test set holds")
    return counts.astype(np.int64)


def class_names(metrics: dict[str, Any], run: Path, n: int | None, *, strict: bool = True) -> list[str] | None:
    """The class names of metrics.json, or '0'..'n-1' when absent.

    With strict=False a length that differs from n gives the names as they are (the caller
    decides) instead of raising.
    """
    raw = metrics.get("classes")
    if raw is None:
        return [str(i) for i in range(n)] if n is not None else None
    if not isinstance(raw, list):
        raise DataError(f"{run / METRICS_JSON}: classes must be a list of names, got {type(raw).__name__}")
    names = [str(c) for c in raw]
    if strict and n is not None and len(names) != n:
        raise DataError(f"{run / METRICS_JSON}: classes has {len(names)} names but confusion_matrix is {n} x {n}")
    return names


def firing_rates(metrics: dict[str, Any], run: Path) -> tuple[list[str], np.ndarray]:
    path = run / METRICS_JSON
    raw = metrics.get("firing_rates")
    if raw is None:
        raise Missing(f"{METRICS_JSON} has no firing_rates")
    if isinstance(raw, dict):
        names, values = [str(k) for k in raw], list(raw.values())
    elif isinstance(raw, list):
        names, values = [f"layer {i + 1}" for i in range(len(raw))], raw
    else:
        raise DataError(f"{path}: firing_rates must be an object (layer name -> rate), got {type(raw).__name__}")
    if not names:
        raise DataError(f"{path}: firing_rates is empty")
    for name, value in zip(names, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise DataError(f"{path}: firing_rates[{shown(name)}] must be a number in [0, 1], got {shown(value)}")
    return names, np.asarray(values, dtype=float)


def _arrays(path: Path, missing: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file of the run folder (no pickles); :class:`Missing` with ``missing`` when absent."""
    if not path.is_file():
        raise Missing(missing)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head[:2] != b"PK":  # np.load would take any other bytes for a pickle and refuse "pickled data"
        raise DataError(f"{path}: not an .npz archive (a zip file; it begins {head!r}); the run wrote another file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile, pickle refusal, truncation: all mean "unreadable"
        raise DataError(f"{path}: cannot read the arrays ({type(exc).__name__}: {exc})") from exc


def read_activity(run: Path) -> Activity:
    """activity.npz, checked, as an :class:`Activity`."""
    path = run / ACTIVITY_NPZ
    arrays = _arrays(path, f"{ACTIVITY_NPZ} missing")
    if "names" not in arrays:
        raise DataError(f"{path}: no 'names' array (the layer names)")
    names = np.atleast_1d(arrays["names"])
    if names.ndim != 1 or names.size == 0:
        raise DataError(f"{path}: 'names' must be a non-empty 1-D array of layer names")
    layers = []
    for i, name in enumerate(names.tolist()):
        if f"spikes_{i}" not in arrays:
            raise DataError(f"{path}: no spikes_{i} for layer {i} ({name})")
        spikes = arrays[f"spikes_{i}"]
        if spikes.ndim != 2:
            raise DataError(f"{path}: spikes_{i} must be [T, N], got shape {spikes.shape}")
        if spikes.shape[0] == 0:
            raise DataError(f"{path}: spikes_{i} has no time steps")
        traces = _membrane(arrays, i, spikes, path) if f"membrane_{i}" in arrays else {}
        layers.append(LayerActivity(str(name), spikes, **traces))
    return Activity(layers, _scalar_int(arrays, "label", path), _scalar_int(arrays, "prediction", path))


def read_selection(run: Path) -> dict[str, Any] | None:
    """selection.json, checked (its ``variant`` a string, its ``overrides`` KEY=VALUE strings); None when the folder
    has none (a run of the configured experiment)."""
    path = run / SELECTION_JSON
    if not path.is_file():
        return None
    try:
        selection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable selection.json ({exc})") from None
    return _checked_selection(selection, path)


def _checked_selection(selection: Any, path: Path) -> dict[str, Any]:
    if not isinstance(selection, dict) or not isinstance(selection.get("variant"), str):
        raise DataError(f"{path}: expected an object with a 'variant' name, got {shown(selection)}")
    overrides = selection.get("overrides")
    if not isinstance(overrides, list) or not all(isinstance(item, str) and "=" in item for item in overrides):
        raise DataError(f"{path}: 'overrides' must be a list of KEY=VALUE strings, got {shown(overrides)}")
    return selection


def read_predictions(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """predictions.npz, checked: (labels, predictions), two 1-D integer arrays of one length."""
    labels, predictions, _ = read_prediction_record(run)
    return labels, predictions


def read_prediction_record(run: Path) -> tuple[np.ndarray, np.ndarray, str | None]:
    """predictions.npz, checked, read once: (labels, predictions, its ``samples_sha256`` or None when it has none:
    runs before it, or a dataset without one file per sample)."""
    path = run / PREDICTIONS_NPZ
    arrays = _arrays(path, f"{path}: {PREDICTIONS_NPZ} missing (runs before it existed, or stopped before their test)")
    for key in ("labels", "predictions"):
        if key not in arrays:
            raise DataError(f"{path}: no '{key}' array (expected 'labels' and 'predictions')")
        if arrays[key].ndim != 1 or arrays[key].dtype.kind not in "iu":
            raise DataError(f"{path}: '{key}' must be a 1-D integer array, got {arrays[key].dtype} {arrays[key].shape}")
    if arrays["labels"].shape != arrays["predictions"].shape:
        raise DataError(
            f"{path}: {arrays['labels'].shape[0]} labels but {arrays['predictions'].shape[0]} predictions "
            "(expected one of each per sample)"
        )
    value = arrays.get("samples_sha256")
    digest = str(value) if value is not None and value.ndim == 0 and value.dtype.kind == "U" else None
    return arrays["labels"], arrays["predictions"], digest


def _membrane(arrays: dict[str, np.ndarray], i: int, spikes: np.ndarray, path: Path) -> dict[str, np.ndarray]:
    membrane = arrays[f"membrane_{i}"].astype(float)
    if membrane.ndim != 2:
        raise DataError(f"{path}: membrane_{i} must be [T, K], got shape {membrane.shape}")
    k = membrane.shape[1]
    for key in (f"neurons_{i}", f"theta_{i}"):
        if key not in arrays:
            raise DataError(f"{path}: membrane_{i} is there but {key} is not")
    neurons = np.atleast_1d(arrays[f"neurons_{i}"])
    theta = np.atleast_1d(arrays[f"theta_{i}"]).astype(float)
    if theta.size == 1 and k > 1:
        theta = np.full(k, float(theta[0]))
    if neurons.shape != (k,) or theta.shape != (k,):
        raise DataError(
            f"{path}: layer {i} has {k} membrane traces but neurons_{i} has shape {neurons.shape} "
            f"and theta_{i} shape {theta.shape}"
        )
    if not np.issubdtype(neurons.dtype, np.integer):
        raise DataError(f"{path}: neurons_{i} must hold integers, got dtype {neurons.dtype}")
    if k and (neurons.min() < 0 or neurons.max() >= spikes.shape[1]):
        raise DataError(f"{path}: neurons_{i} has indices outside 0..{spikes.shape[1] - 1}")
    if membrane.shape[0] > spikes.shape[0]:
        raise DataError(f"{path}: membrane_{i} has {membrane.shape[0]} steps but spikes_{i} only {spikes.shape[0]}")
    return {"membrane": membrane, "neurons": neurons.astype(np.int64), "theta": theta}


def _scalar_int(arrays: dict[str, np.ndarray], key: str, path: Path) -> int | None:
    if key not in arrays:
        return None
    value = arrays[key]
    if value.size != 1 or not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        raise DataError(f"{path}: {key} must be one integer, got {shown(value)}")
    return int(value.reshape(()))
