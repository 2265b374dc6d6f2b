"""Figures of a training run: learning curves, confusion matrix, spike raster, membrane traces, firing rates.

Needs matplotlib (``pip install bpsrm[plots]``). matplotlib is imported only when a
figure is drawn, so ``import bpsrm`` and ``import bpsrm.engine.plots`` work without it, and
drawing never touches pyplot's global state: each figure is a
:class:`matplotlib.figure.Figure` rendered by the Agg canvas, saved as PNG
(dpi 120) into the run folder (or ``out_dir``) and then released.

The files read, and what each must hold, are defined in :mod:`bpsrm.engine.run_folder`.
A plot whose input is missing is not drawn: :func:`plot_run` lists it in
:attr:`PlotReport.skipped` with the reason, and the single ``plot_*`` functions raise
:class:`~bpsrm.errors.DataError`; malformed input raises DataError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import BpsrmError, DataError
from ..files import atomic_path
from .run_folder import (
    ACTIVITY_NPZ,
    CONFIG_YAML,
    LAST_PT,
    METRICS_CSV,
    METRICS_JSON,
    Activity,
    LayerActivity,
    Missing,
    class_names,
    configured_training,
    confusion_matrix,
    firing_rates,
    metric_number,
    read_activity,
    read_history,
    read_metrics,
)
from .run_folder import (
    best_epoch as find_best_epoch,
)

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
    "new_figure",
    "save_figure",
]


DPI = 120
#: at most this many spiking neurons of one layer are drawn in the raster (spread evenly over those that spiked)
RASTER_MAX_NEURONS = 200
_TRAIN_COLOUR, _VAL_COLOUR, _BEST_COLOUR = "tab:blue", "tab:orange", "tab:green"


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
        DataError: a file is present but malformed, or ``run_dir`` is not a folder or holds none of a run's files.
        BpsrmError: matplotlib is not installed.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError(f"run folder {run} does not exist or is not a folder")
    inputs = (METRICS_JSON, METRICS_CSV, ACTIVITY_NPZ)
    if not any((run / name).is_file() for name in inputs):
        started = [name for name in (CONFIG_YAML, LAST_PT) if (run / name).is_file()]
        if started:  # a run stopped before it finished an epoch: nothing to plot yet, but it is a run folder
            raise DataError(
                f"{run}: a run that has not finished an epoch yet (it holds {' and '.join(started)}, none of "
                f"{', '.join(inputs)}); resume it with bpsrm train ... --out {run} --resume, then plot"
            )
        raise DataError(f"{run}: not a run folder (none of {', '.join(inputs)}); give the --out folder of bpsrm train")
    _matplotlib()  # fail once, with the install hint, before reading anything
    written: list[Path] = []
    skipped: dict[str, str] = {}
    for name, draw in _PLOTS.items():
        try:
            written.append(draw(run, out_dir=out_dir))
        except Missing as missing:
            skipped[name] = str(missing)
    return PlotReport(written=written, skipped=skipped)


def plot_learning_curves(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """Loss and accuracy (train and validation) per epoch, two panels: ``learning_curves.png``.

    The best epoch (``best_epoch`` of metrics.json, else the epoch training keeps by its rule,
    :func:`bpsrm.engine.run_folder.chosen_epoch`) is marked by a labelled vertical line; the
    test accuracy, when metrics.json has it, is written in the title, or, for a run with fewer
    epochs than its config.yaml's ``train.epochs``, "unfinished: 8 of 40 epochs".

    Args:
        run_dir: the run folder; needs metrics.csv, reads metrics.json if present.
        out_dir: where the PNG goes; the run folder by default.

    Returns:
        The path of the PNG written.

    Raises:
        DataError: metrics.csv is missing or malformed, or metrics.json is malformed.
    """
    run = Path(run_dir)
    columns = read_history(run)
    metrics = read_metrics(run, required=False)
    epoch = columns["epoch"]
    training = configured_training(run)
    select = training.select if training is not None else "best_val"
    best = find_best_epoch(metrics, columns, run, select)
    fixed = select == "last"  # a fixed schedule: the last epoch is kept
    done = int(np.nanmax(epoch)) if epoch.size else 0
    planned = training.epochs if training is not None and done < training.epochs else None  # stopped, or extended
    # runs without validation data wrote 0.0 in its cells before they were left empty: no validation curve there
    measured = not (fixed and np.all(np.nan_to_num(columns["val_loss"]) == 0))

    fig = new_figure((10, 4.5), ncols=2)
    loss_ax, acc_ax = fig.axes
    style: dict[str, Any] = {"marker": "o", "markersize": 4} if len(epoch) <= 30 else {}
    for ax, kind in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        for split, colour in (("train", _TRAIN_COLOUR), ("val", _VAL_COLOUR)):
            values = columns[f"{split}_{kind}"]
            if np.isfinite(values).any() and (split == "train" or measured):
                label = "train" if split == "train" else "validation"
                ax.plot(epoch, values, color=colour, label=label, **style)
        if best is not None:
            best_epoch, best_acc = best
            text = f"last epoch {best_epoch:g} (fixed schedule)" if fixed else f"best epoch {best_epoch:g}"
            if best_acc is not None and kind == "accuracy" and measured:
                text += f" (val {100 * best_acc:.2f}%)"
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

    fig.suptitle(_curves_title(run, metrics, done, planned), fontsize=13)
    return _save(fig, run, out_dir, "learning_curves.png")


def _curves_title(run: Path, metrics: dict[str, Any], done: int, planned: int | None) -> str:
    """The learning curves' title, with the test accuracy of metrics.json, or, for a run of ``done`` epochs of the
    ``planned`` ones (stopped, or extended and not yet resumed), how far it got: a test figure there is an earlier
    end's, not these curves'."""
    if planned is not None:
        return f"Learning curves  —  unfinished: {done} of {planned} epochs"
    test_acc = metric_number(metrics.get("test_accuracy"), METRICS_JSON, "test_accuracy", run) if metrics else None
    return "Learning curves" + (f"  —  test accuracy {100 * test_acc:.2f}%" if test_acc is not None else "")


def _class_ticks(ax: Any, classes: list[str]) -> None:
    """Class names on both axes of a confusion matrix (slanted when long or many)."""
    n = len(classes)
    ticks = np.arange(n)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    tick_size = 10 if n <= 15 else 8
    if max(len(c) for c in classes) > 3 or n > 12:
        ax.set_xticklabels(classes, rotation=45, ha="right", rotation_mode="anchor", fontsize=tick_size)
    else:
        ax.set_xticklabels(classes, fontsize=tick_size)
    ax.set_yticklabels(classes, fontsize=tick_size)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")


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
    metrics = read_metrics(run, required=True)
    counts = confusion_matrix(metrics, run)
    n = counts.shape[0]
    classes = [_shorten(c, 24) for c in class_names(metrics, run, n) or []]

    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)

    side = float(np.clip(4.5 + 0.3 * n, 7.0, 10.0))
    fig = new_figure((side + 0.8, side))
    ax = fig.axes[0]
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    colourbar = fig.colorbar(image, ax=ax, shrink=0.8)  # fraction= and pad= pushed "true class" off the figure
    colourbar.set_label("fraction of the true class")
    colourbar.ax.yaxis.set_major_formatter(_percent_formatter())

    if n <= 30:
        fontsize = float(np.clip(14 - 0.4 * n, 6, 11))
        for i in range(n):
            for j in range(n):
                colour = "white" if fractions[i, j] > 0.55 else "black"
                ax.text(j, i, f"{counts[i, j]:d}", ha="center", va="center", fontsize=fontsize, color=colour)

    _class_ticks(ax, classes)
    title = f"Confusion matrix ({metrics.get('evaluated_on', 'test')} set)"
    test_acc = metric_number(metrics.get("test_accuracy"), METRICS_JSON, "test_accuracy", run)
    if test_acc is None and counts.sum() > 0:
        test_acc = float(np.trace(counts) / counts.sum())
    if test_acc is not None:
        title += f"  —  accuracy {100 * test_acc:.2f}%"
    ax.set_title(title, fontsize=12)
    return _save(fig, run, out_dir, "confusion_matrix.png")


def _raster_panel(ax: Any, layer: LayerActivity, height_pts: float, tall: bool) -> None:
    """One layer's spikes: a dot per spike at (step, neuron); of more than RASTER_MAX_NEURONS spiking neurons,
    RASTER_MAX_NEURONS spread evenly (in index order) over them.

    Taking the most active instead drew a solid block: in a wide layer thousands of neurons fire at every step,
    tie at the maximum, and the first of them in index order are all neighbours."""
    spikes = layer.spikes > 0
    t_steps, n_neurons = spikes.shape
    counts = spikes.sum(axis=0)
    active = np.flatnonzero(counts)
    if len(active) > RASTER_MAX_NEURONS:
        shown = active[np.round(np.linspace(0, len(active) - 1, RASTER_MAX_NEURONS)).astype(np.int64)]
        title = (
            f"{layer.name}: {RASTER_MAX_NEURONS} of the {len(active):,} neurons that spiked, spread evenly "
            f"(of {n_neurons:,})"
        )
    else:  # every spike is drawn; a silent neuron draws nothing
        shown = np.arange(n_neurons)
        title = f"{layer.name}: {n_neurons:,} neuron{'' if n_neurons == 1 else 's'}, {len(active):,} spiked"
    total = int(counts.sum())
    rate = total / spikes.size if spikes.size else 0.0
    title += f"  ({total:,} spikes, rate {rate:.3f})"
    t_idx, n_idx = np.nonzero(spikes[:, shown])
    size = float(np.clip((height_pts / max(min(len(shown), len(active)), 1)) ** 2, 2.0, 25.0))
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


def _mark_classes(out_ax: Any, classes: list[str], activity: Activity) -> None:
    """Name the output neurons and shade the true (and a wrong predicted) class."""
    n_classes = len(classes)
    if n_classes <= 20:
        out_ax.set_yticks(np.arange(n_classes))
        out_ax.set_yticklabels(classes, fontsize=8)
    out_ax.set_ylabel("output neuron")
    label, prediction = activity.label, activity.prediction
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


def plot_raster(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Path:
    """The spikes of one test sample, one panel per layer: ``raster.png``.

    x is the time step, y the neuron index, one dot per spike. Of a layer in which more
    than 200 neurons spiked, 200 spread evenly over them (in index order) are drawn; the
    panel title says so and gives the whole layer's spike count and rate. The
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
    activity = read_activity(run)
    metrics = read_metrics(run, required=False)
    layers = activity.layers
    steps = {layer.spikes.shape[0] for layer in layers}

    fig = new_figure(_stack_size(len(layers)), nrows=len(layers), sharex=len(steps) == 1)
    height_pts = fig.get_figheight() * 72 / max(len(layers), 1) * 0.7
    tall = fig.get_figheight() / len(layers) >= 1.9
    for ax, layer in zip(fig.axes, layers, strict=True):
        _raster_panel(ax, layer, height_pts, tall)
    for ax in fig.axes:
        ax.tick_params(labelbottom=True)
    fig.axes[-1].set_xlabel("time step")
    n_classes = layers[-1].spikes.shape[1]
    classes = class_names(metrics, run, None, strict=False) if metrics.get("classes") is not None else None
    if classes is not None and len(classes) == n_classes:  # the last layer is the output layer
        _mark_classes(fig.axes[-1], classes, activity)
    fig.suptitle("Spike raster of one test sample" + _label_text(activity, metrics, run), fontsize=12)
    return _save(fig, run, out_dir, "raster.png")


def _membrane_panel(ax: Any, layer: LayerActivity, colours: Any, tall: bool, thin: bool) -> None:
    """One layer's traces u[t] of its chosen neurons, their spikes as dots, the threshold(s) dashed."""
    from matplotlib.lines import Line2D

    u, neurons, theta = layer.membrane, layer.neurons, layer.theta
    assert u is not None and neurons is not None and theta is not None
    spikes = layer.spikes > 0
    steps = np.arange(u.shape[0])
    shared = bool(np.allclose(theta, theta[0]))
    handles = []
    for k, neuron in enumerate(neurons):
        colour = colours[k % len(colours)]
        (line,) = ax.plot(steps, u[:, k], color=colour, linewidth=0.8 if thin else 1.4, label=f"neuron {neuron}")
        handles.append(line)
        fired = np.nonzero(spikes[: u.shape[0], neuron])[0]
        size = 3.5 if thin else 5
        ax.plot(fired, u[fired, k], linestyle="none", marker="o", markersize=size, color=colour, mec="black", mew=0.5)
        if not shared:
            ax.axhline(theta[k], color=colour, linestyle="--", linewidth=1.1)
    if shared:
        ax.axhline(theta[0], color="0.25", linestyle="--", linewidth=1.1)
        threshold_label = f"threshold θ = {theta[0]:g}"
    else:
        threshold_label = "threshold θ (neuron's colour)"
    handles.append(Line2D([], [], color="0.25", linestyle="--", label=threshold_label))
    handles.append(Line2D([], [], color="0.5", linestyle="none", marker="o", mec="black", mew=0.6, label="spike"))
    columns = 1 if len(handles) <= 7 else 2
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, ncols=columns, borderaxespad=0)
    plural = "neuron" if len(neurons) == 1 else "neurons"
    ax.set_title(f"{layer.name}: membrane potential of {len(neurons)} {plural}", fontsize=10, loc="left")
    ax.set_ylabel("membrane potential u" if tall else "potential u")
    ax.set_xlabel("time step")
    ax.set_xlim(-0.5, u.shape[0] - 0.5)
    ax.grid(True, alpha=0.25)
    _integer_ticks(ax.xaxis)


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
    activity = read_activity(run)
    metrics = read_metrics(run, required=False)
    layers = [layer for layer in activity.layers if layer.membrane is not None and layer.membrane.shape[1]]
    if not layers:
        raise Missing(f"{ACTIVITY_NPZ} has no membrane traces (membrane_i arrays)")
    colours = _matplotlib().colormaps["tab10"].colors
    fig = new_figure(_stack_size(len(layers)), nrows=len(layers))
    tall = fig.get_figheight() / len(layers) >= 1.9
    thin = layers[0].membrane.shape[0] > 100  # type: ignore[union-attr]  # long runs: thinner lines, smaller dots
    for ax, layer in zip(fig.axes, layers, strict=True):
        _membrane_panel(ax, layer, colours, tall, thin)
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
    metrics = read_metrics(run, required=True)
    names, rates = firing_rates(metrics, run)

    width = float(np.clip(3.0 + 0.9 * len(names), 8.0, 12.0))
    fig = new_figure((width, 4.8))
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


def new_figure(
    size: tuple[float, float],
    nrows: int = 1,
    ncols: int = 1,
    sharex: bool = False,
    layout: Literal["constrained", "compressed", "tight"] = "constrained",
) -> Figure:
    """A Figure of ``size`` inches on the Agg canvas (no pyplot, no global backend switch) with its ``nrows`` x
    ``ncols`` axes in ``fig.axes`` (row by row); a BpsrmError with the install hint when matplotlib is missing.
    Every figure bpsrm draws starts here."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG on white to ``path`` atomically (a temporary file, then renamed), then release it;
    a DataError naming the path when it cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary:
            fig.savefig(temporary, dpi=dpi, format="png", facecolor="white")
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
    finally:
        fig.clear()  # the figure was never registered with pyplot: clearing it frees it
    return path


def _save(fig: Figure, run: Path, out_dir: str | Path | None, filename: str) -> Path:
    """Write the figure as PNG into out_dir (default: the run folder), then release it."""
    return save_figure(fig, (Path(out_dir) if out_dir is not None else run) / filename)


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


def _label_text(activity: Activity, metrics: dict[str, Any], run: Path) -> str:
    """A second title line, 'true: Sneaker (7), predicted: Sandal (5)  (wrong)', or '' when the npz has neither."""
    label, prediction = activity.label, activity.prediction
    if label is None and prediction is None:
        return ""
    classes = class_names(metrics, run, None, strict=False) if metrics else None

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
