"""Figures of a training run: learning curves, confusion matrix, spike raster, membrane traces, firing rates.

Needs matplotlib (``pip install bpsrm[plots]``). matplotlib is imported only when a
figure is drawn, so ``import bpsrm`` and ``import bpsrm.plots`` work without it, and
drawing never touches pyplot's global state: each figure is a
:class:`matplotlib.figure.Figure` rendered by the Agg canvas, saved as PNG
(dpi 120) into the run folder (or ``out_dir``) and then released.

The run folder contract
-----------------------
A training run writes a folder holding some or all of these files:

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

``activity.npz``
    The activity of one test sample: ``names`` (layer names, str); for each layer ``i``
    ``spikes_{i}`` ([T, N_i], 0/1), ``membrane_{i}`` ([T, K_i], the membrane potential u of
    K_i <= 8 chosen neurons), ``neurons_{i}`` ([K_i] int, which neurons those are) and
    ``theta_{i}`` ([K_i], their thresholds); plus the scalars ``label`` and ``prediction``.

A plot whose input is missing (no file, or no such key in it) is not drawn:
:func:`plot_run` lists it in :attr:`PlotReport.skipped` with the reason, and the single
``plot_*`` functions raise :class:`~bpsrm.errors.DataError`. A file that is present but
malformed (a CSV without a needed column, JSON that does not parse, arrays of the wrong
shape) raises :class:`~bpsrm.errors.DataError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import BpsrmError, DataError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PlotReport",
    "plot_run",
    "plot_learning_curves",
    "plot_confusion_matrix",
    "plot_raster",
    "plot_membrane",
    "plot_firing_rates",
]

METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
ACTIVITY_NPZ = "activity.npz"

DPI = 120
#: at most this many neurons of one layer are drawn in the raster (the most active ones)
RASTER_MAX_NEURONS = 200
_CURVE_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
_TRAIN_COLOUR, _VAL_COLOUR, _BEST_COLOUR = "tab:blue", "tab:orange", "tab:green"


class _Missing(DataError):
    """The input of a plot is absent (a file, or a key in it): plot_run skips the plot."""


@dataclass(frozen=True)
class PlotReport:
    """What :func:`plot_run` did.

    Attributes:
        written: the PNG files written, in drawing order.
        skipped: plot name -> why it was not drawn (for example ``"activity.npz missing"``).
    """

    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- public API


def plot_run(run_dir: str | Path, *, out_dir: str | Path | None = None) -> PlotReport:
    """Draw every figure whose input the run folder holds.

    Args:
        run_dir: the run folder (see the module docstring for its contract).
        out_dir: where the PNG files go; the run folder by default.

    Returns:
        A :class:`PlotReport`: the files written and, for each plot not drawn, the reason.

    Raises:
        DataError: a file is present but malformed, or ``run_dir`` is not a folder.
        BpsrmError: matplotlib is not installed.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError(f"run folder {run} does not exist or is not a folder")
    _matplotlib()  # fail once, with the install hint, before reading anything
    written: list[Path] = []
    skipped: dict[str, str] = {}
    for name, draw in _PLOTS.items():
        try:
            written.append(draw(run, out_dir=out_dir))
        except _Missing as missing:
            skipped[name] = str(missing)
    return PlotReport(written=written, skipped=skipped)


def plot_learning_curves(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """Loss and accuracy (train and validation) per epoch, two panels: ``learning_curves.png``.

    The best epoch (``best_epoch`` of metrics.json, else the epoch of highest validation
    accuracy) is marked by a labelled vertical line; the test accuracy, when metrics.json
    has it, is written in the title.

    Args:
        run_dir: the run folder; needs metrics.csv, reads metrics.json if present.
        out_dir: where the PNG goes; the run folder by default.

    Returns:
        The path of the PNG written.

    Raises:
        DataError: metrics.csv is missing or malformed, or metrics.json is malformed.
    """
    run = Path(run_dir)
    columns = _read_metrics_csv(run)
    metrics = _read_metrics_json(run, required=False)
    epoch = columns["epoch"]
    best = _best_epoch(metrics, columns, run)

    fig = _figure((10, 4.5), ncols=2)
    loss_ax, acc_ax = fig.axes
    style = {"marker": "o", "markersize": 4} if len(epoch) <= 30 else {}
    for ax, kind in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        for split, colour in (("train", _TRAIN_COLOUR), ("val", _VAL_COLOUR)):
            values = columns[f"{split}_{kind}"]
            if np.isfinite(values).any():
                label = "train" if split == "train" else "validation"
                ax.plot(epoch, values, color=colour, label=label, **style)
        if best is not None:
            best_epoch, best_acc = best
            text = f"best epoch {best_epoch:g}"
            if best_acc is not None and kind == "accuracy":
                text += f" (val {100 * best_acc:.1f}%)"
            ax.axvline(best_epoch, color=_BEST_COLOUR, linestyle="--", linewidth=1.2, label=text)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        _epoch_ticks(ax, epoch)
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("Loss")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_title("Accuracy")
    acc_ax.yaxis.set_major_formatter(_percent_formatter())

    title = "Learning curves"
    test_acc = _number(metrics.get("test_accuracy"), METRICS_JSON, "test_accuracy", run) if metrics else None
    if test_acc is not None:
        title += f"  —  test accuracy {100 * test_acc:.2f}%"
    fig.suptitle(title, fontsize=13)
    return _save(fig, run, out_dir, "learning_curves.png")


def plot_confusion_matrix(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """The confusion matrix of the test set: ``confusion_matrix.png``.

    Cells are coloured by the row-normalised fraction (how the samples of each true class
    were predicted) and show the raw counts; the class names label both axes.

    Args:
        run_dir: the run folder; needs ``confusion_matrix`` in metrics.json.
        out_dir: where the PNG goes; the run folder by default.

    Returns:
        The path of the PNG written.

    Raises:
        DataError: metrics.json is missing, malformed, or has no valid confusion matrix.
    """
    run = Path(run_dir)
    metrics = _read_metrics_json(run, required=True)
    counts = _confusion(metrics, run)
    n = counts.shape[0]
    classes = [_shorten(c, 24) for c in _classes(metrics, run, n)]

    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)

    side = float(np.clip(4.5 + 0.3 * n, 7.0, 10.0))
    fig = _figure((side + 0.8, side))
    ax = fig.axes[0]
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    colourbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colourbar.set_label("fraction of the true class")
    colourbar.ax.yaxis.set_major_formatter(_percent_formatter())

    if n <= 30:
        fontsize = float(np.clip(14 - 0.4 * n, 6, 11))
        for i in range(n):
            for j in range(n):
                colour = "white" if fractions[i, j] > 0.55 else "black"
                ax.text(j, i, f"{counts[i, j]:d}", ha="center", va="center", fontsize=fontsize, color=colour)

    ticks = np.arange(n)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    longest = max(len(c) for c in classes)
    tick_size = 10 if n <= 15 else 8
    if longest > 3 or n > 12:
        ax.set_xticklabels(classes, rotation=45, ha="right", rotation_mode="anchor", fontsize=tick_size)
    else:
        ax.set_xticklabels(classes, fontsize=tick_size)
    ax.set_yticklabels(classes, fontsize=tick_size)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")

    title = "Confusion matrix (test set)"
    test_acc = _number(metrics.get("test_accuracy"), METRICS_JSON, "test_accuracy", run)
    if test_acc is None and counts.sum() > 0:
        test_acc = float(np.trace(counts) / counts.sum())
    if test_acc is not None:
        title += f"  —  accuracy {100 * test_acc:.2f}%"
    ax.set_title(title, fontsize=12)
    return _save(fig, run, out_dir, "confusion_matrix.png")


def plot_raster(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """The spikes of one test sample, one panel per layer: ``raster.png``.

    x is the time step, y the neuron index, one dot per spike. Of a layer with more than
    200 neurons only the 200 that spiked most are drawn (the panel title says so). The
    title gives the true label and the prediction, with class names when metrics.json
    lists them.

    Args:
        run_dir: the run folder; needs activity.npz, reads metrics.json if present.
        out_dir: where the PNG goes; the run folder by default.

    Returns:
        The path of the PNG written.

    Raises:
        DataError: activity.npz is missing or malformed, or metrics.json is malformed.
    """
    run = Path(run_dir)
    activity = _read_activity(run)
    metrics = _read_metrics_json(run, required=False)
    layers = activity["layers"]
    steps = {layer["spikes"].shape[0] for layer in layers}

    fig = _figure(_stack_size(len(layers)), nrows=len(layers), sharex=len(steps) == 1)
    height_pts = fig.get_figheight() * 72 / max(len(layers), 1) * 0.7
    tall = fig.get_figheight() / len(layers) >= 1.9
    n_classes = None
    for ax, layer in zip(fig.axes, layers, strict=True):
        spikes = layer["spikes"] > 0
        t_steps, n_neurons = spikes.shape
        counts = spikes.sum(axis=0)
        if n_neurons > RASTER_MAX_NEURONS:
            # the most active neurons; a stable sort keeps ties in index order
            shown = np.sort(np.argsort(-counts, kind="stable")[:RASTER_MAX_NEURONS])
            title = f"{layer['name']}: the {RASTER_MAX_NEURONS} most active of {n_neurons} neurons"
        else:
            shown = np.arange(n_neurons)
            title = f"{layer['name']}: {n_neurons} neuron{'' if n_neurons == 1 else 's'}"
        total = int(counts.sum())
        rate = total / spikes.size if spikes.size else 0.0
        title += f"  ({total} spikes, rate {rate:.3f})"
        t_idx, n_idx = np.nonzero(spikes[:, shown])
        size = float(np.clip((height_pts / max(len(shown), 1)) ** 2, 2.0, 25.0))
        ax.scatter(t_idx, shown[n_idx], s=size, marker="o", color="black", linewidths=0)
        if total == 0:
            ax.text(0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center", va="center", color="gray")
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("neuron index" if tall else "neuron")
        ax.set_xlim(-0.5, t_steps - 0.5)
        ax.set_ylim(-0.5, max(n_neurons - 0.5, 0.5))
        _integer_ticks(ax.xaxis)
        _integer_ticks(ax.yaxis)
        ax.grid(True, axis="x", alpha=0.25)
        n_classes = n_neurons
    for ax in fig.axes:
        ax.tick_params(labelbottom=True)
    fig.axes[-1].set_xlabel("time step")

    out_ax = fig.axes[-1]
    classes = _classes(metrics, run, None, strict=False) if metrics.get("classes") is not None else None
    if classes is not None and len(classes) == n_classes:
        # the last layer is the output layer: name its neurons and mark the true and predicted class
        if n_classes <= 20:
            out_ax.set_yticks(np.arange(n_classes))
            out_ax.set_yticklabels(classes, fontsize=8)
        out_ax.set_ylabel("output neuron")
        label, prediction = activity["label"], activity["prediction"]
        bands = [(label, _BEST_COLOUR, "true class")]
        if prediction != label:
            bands.append((prediction, "tab:red", "predicted class"))
        else:
            bands[0] = (label, _BEST_COLOUR, "true = predicted class")
        marked = False
        for value, colour, text in bands:
            if value is not None and 0 <= value < n_classes:
                out_ax.axhspan(value - 0.5, value + 0.5, color=colour, alpha=0.2, linewidth=0, label=text)
                marked = True
        if marked:
            out_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0.0)
    fig.suptitle("Spike raster of one test sample" + _label_text(activity, metrics, run), fontsize=12)
    return _save(fig, run, out_dir, "raster.png")


def plot_membrane(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """The membrane potential of the chosen neurons of each layer: ``membrane.png``.

    One panel per layer with a recorded trace; each neuron's threshold is a dashed line in
    the neuron's colour (a single dark dashed line when all share one threshold) and its
    spikes are dots on the trace.

    Args:
        run_dir: the run folder; needs the ``membrane_{i}`` arrays of activity.npz.
        out_dir: where the PNG goes; the run folder by default.

    Returns:
        The path of the PNG written.

    Raises:
        DataError: activity.npz is missing, malformed, or records no membrane traces.
    """
    run = Path(run_dir)
    activity = _read_activity(run)
    metrics = _read_metrics_json(run, required=False)
    layers = [layer for layer in activity["layers"] if layer["membrane"] is not None and layer["membrane"].shape[1]]
    if not layers:
        raise _Missing(f"{ACTIVITY_NPZ} has no membrane traces (membrane_i arrays)")
    mpl = _matplotlib()
    from matplotlib.lines import Line2D

    colours = mpl.colormaps["tab10"].colors

    fig = _figure(_stack_size(len(layers)), nrows=len(layers))
    tall = fig.get_figheight() / len(layers) >= 1.9
    thin = layers[0]["membrane"].shape[0] > 100  # long runs: thinner lines, smaller dots
    for ax, layer in zip(fig.axes, layers, strict=True):
        u, neurons, theta = layer["membrane"], layer["neurons"], layer["theta"]
        spikes = layer["spikes"] > 0
        steps = np.arange(u.shape[0])
        shared = bool(np.allclose(theta, theta[0]))
        handles = []
        for k, neuron in enumerate(neurons):
            colour = colours[k % len(colours)]
            (line,) = ax.plot(steps, u[:, k], color=colour, linewidth=0.8 if thin else 1.4, label=f"neuron {neuron}")
            handles.append(line)
            fired = np.nonzero(spikes[: u.shape[0], neuron])[0]
            ax.plot(
                fired,
                u[fired, k],
                linestyle="none",
                marker="o",
                markersize=3.5 if thin else 5,
                color=colour,
                mec="black",
                mew=0.5,
            )
            if not shared:
                ax.axhline(theta[k], color=colour, linestyle="--", linewidth=1.1)
        if shared:
            ax.axhline(theta[0], color="0.25", linestyle="--", linewidth=1.1)
            threshold_label = f"threshold θ = {theta[0]:g}"
        else:
            threshold_label = "threshold θ (neuron's colour)"
        handles.append(Line2D([], [], color="0.25", linestyle="--", label=threshold_label))
        handles.append(Line2D([], [], color="0.5", linestyle="none", marker="o", mec="black", mew=0.6, label="spike"))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            ncols=1 if len(handles) <= 7 else 2,
            borderaxespad=0.0,
        )
        plural = "neuron" if len(neurons) == 1 else "neurons"
        ax.set_title(f"{layer['name']}: membrane potential of {len(neurons)} {plural}", fontsize=10, loc="left")
        ax.set_ylabel("membrane potential u" if tall else "potential u")
        ax.set_xlabel("time step")
        ax.set_xlim(-0.5, u.shape[0] - 0.5)
        ax.grid(True, alpha=0.25)
        _integer_ticks(ax.xaxis)
    fig.suptitle("Membrane potentials of one test sample" + _label_text(activity, metrics, run), fontsize=12)
    return _save(fig, run, out_dir, "membrane.png")


def plot_firing_rates(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """The mean firing rate of each layer as a bar chart: ``firing_rates.png``.

    Args:
        run_dir: the run folder; needs ``firing_rates`` in metrics.json.
        out_dir: where the PNG goes; the run folder by default.

    Returns:
        The path of the PNG written.

    Raises:
        DataError: metrics.json is missing, malformed, or has no valid firing rates.
    """
    run = Path(run_dir)
    metrics = _read_metrics_json(run, required=True)
    names, rates = _firing_rates(metrics, run)

    width = float(np.clip(3.0 + 0.9 * len(names), 8.0, 12.0))
    fig = _figure((width, 4.8))
    ax = fig.axes[0]
    bars = ax.bar(np.arange(len(names)), rates, color="tab:blue", width=0.6)
    ax.bar_label(bars, labels=[f"{r:.3f}" for r in rates], padding=3, fontsize=9)
    ax.set_xticks(np.arange(len(names)))
    longest = max(len(name) for name in names)
    if longest * len(names) > 90:
        ax.set_xticklabels(names, rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticklabels(names)
    top = max(float(rates.max()), 0.01)
    ax.set_ylim(0, min(1.0, top * 1.2) if top < 0.8 else 1.08)
    ax.set_xlabel("layer")
    ax.set_ylabel("mean firing rate\n(spikes per neuron per time step)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title("Mean firing rate per layer", fontsize=12)
    return _save(fig, run, out_dir, "firing_rates.png")


_PLOTS = {
    "learning_curves": plot_learning_curves,
    "confusion_matrix": plot_confusion_matrix,
    "raster": plot_raster,
    "membrane": plot_membrane,
    "firing_rates": plot_firing_rates,
}


# ----------------------------------------------------------------------------- matplotlib


def _matplotlib() -> Any:
    """matplotlib, imported now; a BpsrmError with the install hint when it is missing."""
    try:
        import matplotlib
    except ImportError as exc:
        raise BpsrmError(
            "drawing figures needs matplotlib, which is not installed: install the plots extra, "
            "pip install 'bpsrm[plots]'"
        ) from exc
    return matplotlib


def _figure(size: tuple[float, float], nrows: int = 1, ncols: int = 1, sharex: bool = False) -> Figure:
    """A Figure on the Agg canvas (no pyplot, no global backend switch) with its axes."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig


def _save(fig: Figure, run: Path, out_dir: str | Path | None, filename: str) -> Path:
    """Write the figure as PNG into out_dir (default: the run folder), then release it."""
    target_dir = Path(out_dir) if out_dir is not None else run
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / filename
    try:
        fig.savefig(path, dpi=DPI, format="png", facecolor="white")
    finally:
        fig.clear()  # the figure was never registered with pyplot: clearing it frees it
    return path


def _stack_size(panels: int) -> tuple[float, float]:
    """Figure size for `panels` panels stacked vertically."""
    return (10.0, float(np.clip(1.2 + 2.3 * panels, 4.5, 12.0)))


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins="auto", integer=True))


def _epoch_ticks(ax: Any, epoch: np.ndarray) -> None:
    """Every epoch as a tick when there are few, whole numbers otherwise; room around a lone epoch."""
    if len(epoch) <= 20 and np.all(epoch == np.round(epoch)):
        ax.set_xticks(epoch)
    else:
        _integer_ticks(ax.xaxis)
    if len(epoch) == 1:
        ax.set_xlim(epoch[0] - 1, epoch[0] + 1)


def _percent_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=None)


# ----------------------------------------------------------------------------- reading the run folder


def _read_metrics_csv(run: Path) -> dict[str, np.ndarray]:
    """The learning-curve columns of metrics.csv as float arrays (empty cells are NaN)."""
    path = run / METRICS_CSV
    if not path.is_file():
        raise _Missing(f"{METRICS_CSV} missing")
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
                raise DataError(f"{path}: line {line}, column {column}: {raw!r} is not a number") from None
        columns[column] = np.asarray(values, dtype=float)
    return columns


def _read_metrics_json(run: Path, *, required: bool) -> dict[str, Any]:
    """metrics.json as a dict; {} when it is absent and not required."""
    path = run / METRICS_JSON
    if not path.is_file():
        if required:
            raise _Missing(f"{METRICS_JSON} missing")
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


def _number(value: Any, filename: str, key: str, run: Path) -> float | None:
    """A finite float from metrics.json, None when absent (or null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{run / filename}: {key} must be a number, got {value!r}")
    return float(value) if math.isfinite(value) else None


def _best_epoch(
    metrics: dict[str, Any], columns: dict[str, np.ndarray], run: Path
) -> tuple[float, float | None] | None:
    """(best epoch, its validation accuracy): from metrics.json, else the arg-max of val_accuracy."""
    epoch, val_acc = columns["epoch"], columns["val_accuracy"]
    best = _number(metrics.get("best_epoch"), METRICS_JSON, "best_epoch", run)
    if best is None:
        if not np.isfinite(val_acc).any():
            return None
        best = float(epoch[int(np.nanargmax(val_acc))])
    best_acc = _number(metrics.get("best_val_accuracy"), METRICS_JSON, "best_val_accuracy", run)
    if best_acc is None:
        at = np.nonzero(epoch == best)[0]
        if at.size and np.isfinite(val_acc[at[0]]):
            best_acc = float(val_acc[at[0]])
    return best, best_acc


def _confusion(metrics: dict[str, Any], run: Path) -> np.ndarray:
    path = run / METRICS_JSON
    if metrics.get("confusion_matrix") is None:
        raise _Missing(f"{METRICS_JSON} has no confusion_matrix")
    raw = metrics["confusion_matrix"]
    try:
        counts = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{path}: confusion_matrix must be a square list of lists of counts") from None
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise DataError(f"{path}: confusion_matrix must be square and non-empty, got shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise DataError(f"{path}: confusion_matrix must hold non-negative whole numbers")
    return counts.astype(np.int64)


def _classes(metrics: dict[str, Any], run: Path, n: int | None, *, strict: bool = True) -> list[str] | None:
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


def _firing_rates(metrics: dict[str, Any], run: Path) -> tuple[list[str], np.ndarray]:
    path = run / METRICS_JSON
    raw = metrics.get("firing_rates")
    if raw is None:
        raise _Missing(f"{METRICS_JSON} has no firing_rates")
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
            raise DataError(f"{path}: firing_rates[{name!r}] must be a number in [0, 1], got {value!r}")
    return names, np.asarray(values, dtype=float)


def _read_activity(run: Path) -> dict[str, Any]:
    """activity.npz, checked: {'layers': [{name, spikes, membrane, neurons, theta}], 'label', 'prediction'}."""
    path = run / ACTIVITY_NPZ
    if not path.is_file():
        raise _Missing(f"{ACTIVITY_NPZ} missing")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile, pickle refusal, truncation: all mean "unreadable"
        raise DataError(f"{path}: cannot read the arrays ({type(exc).__name__}: {exc})") from exc
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
        layer: dict[str, Any] = {"name": str(name), "spikes": spikes, "membrane": None, "neurons": None, "theta": None}
        if f"membrane_{i}" in arrays:
            layer.update(_membrane(arrays, i, spikes, path))
        layers.append(layer)
    return {
        "layers": layers,
        "label": _scalar_int(arrays, "label", path),
        "prediction": _scalar_int(arrays, "prediction", path),
    }


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
        raise DataError(f"{path}: {key} must be one integer, got {value!r}")
    return int(value.reshape(()))


def _label_text(activity: dict[str, Any], metrics: dict[str, Any], run: Path) -> str:
    """A second title line, 'true: Sneaker (7), predicted: Sandal (5)  (wrong)', or '' when the npz has neither."""
    label, prediction = activity["label"], activity["prediction"]
    if label is None and prediction is None:
        return ""
    classes = _classes(metrics, run, None, strict=False) if metrics else None

    def name(index: int | None) -> str:
        if index is None:
            return "?"
        if classes and 0 <= index < len(classes):
            return f"{_shorten(classes[index], 40)} ({index})"
        return str(index)

    text = f"\ntrue: {name(label)}, predicted: {name(prediction)}"
    if label is not None and prediction is not None:
        text += "  (correct)" if label == prediction else "  (wrong)"
    return text


def _shorten(text: str, width: int) -> str:
    """text cut to at most width characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
