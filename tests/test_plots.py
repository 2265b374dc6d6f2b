"""bpsrm.engine.plots: every figure from a synthetic run folder, skipped plots reported, bad files refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpsrm.cli import main
from bpsrm.engine import plots, run_folder
from bpsrm.errors import BpsrmError, DataError
from conftest import IMPORT_EVERY_MODULE

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
ALL_PLOTS = [name.removesuffix(".png") for name in run_folder.PLOTS]  # drawing order
CSV_HEADER = list(run_folder.HISTORY_COLUMNS)


VAL_ACCURACY = [0.41, 0.58, 0.69, 0.76, 0.80, 0.83, 0.846, 0.842]  # best at epoch 7


def write_metrics_csv(run: Path) -> None:
    rows = []
    for epoch, val_accuracy in enumerate(VAL_ACCURACY, start=1):
        train_loss = 2.0 * np.exp(-0.4 * epoch) + 0.25
        val_loss = 2.0 * np.exp(-0.4 * epoch) + 0.38 + 0.02 * max(0, epoch - 6)
        values = [
            epoch,
            2e-3 * (1 - epoch / 9),
            round(train_loss, 4),
            round(1 - 0.8 * np.exp(-0.45 * epoch), 4),
            round(val_loss, 4),
            val_accuracy,
            round(11.5 + 0.1 * epoch, 2),
            4100,
        ]
        rows.append(dict(zip(CSV_HEADER, values, strict=True)))
    run_folder.write_history(run, rows)


def write_metrics_json(run: Path) -> None:
    rng = np.random.default_rng(1)
    n = len(CLASSES)
    confusion = np.diag(rng.integers(70, 98, size=n))
    for _ in range(60):
        i, j = rng.integers(0, n, size=2)
        confusion[i, j] += int(rng.integers(1, 6))
    metrics = {
        "test_accuracy": float(np.trace(confusion) / confusion.sum()),
        "best_val_accuracy": max(VAL_ACCURACY),
        "best_epoch": 7,
        "classes": CLASSES,
        "confusion_matrix": confusion.tolist(),
        "firing_rates": {"conv1": 0.182, "conv2": 0.094, "fc1": 0.041, "output": 0.213},
    }
    run_folder.write_metrics(run, metrics)


def _lif(drive: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A leaky integrate-and-fire run over drive [T, N]: (spikes, membrane potential before reset)."""
    u = np.zeros(drive.shape[1])
    spikes, membrane = np.zeros(drive.shape), np.zeros(drive.shape)
    for t in range(drive.shape[0]):
        u = 0.8 * u + drive[t]
        membrane[t] = u
        fired = u >= theta
        spikes[t] = fired
        u = np.where(fired, 0.0, u)
    return spikes, membrane


def write_activity(run: Path, steps: int = 24) -> None:
    rng = np.random.default_rng(2)
    layers = {"conv1": 1024, "conv2": 256, "output": len(CLASSES)}
    records = []
    for name, width in layers.items():
        theta = np.full(width, 1.0) if name != "conv2" else rng.uniform(0.8, 1.3, size=width)
        gain = rng.gamma(1.5, 0.25, size=width)
        if name == "output":
            gain[7] = 0.9  # the true class, Sneaker, fires most
        spikes, membrane = _lif(gain * rng.uniform(0.3, 1.2, size=(steps, width)), theta)
        chosen = np.sort(rng.choice(width, size=min(5, width), replace=False))
        if name == "output":
            chosen = np.array([5, 7, 9])
        records.append(
            run_folder.LayerActivity(name, spikes.astype(np.uint8), membrane[:, chosen], chosen, theta[chosen])
        )
    run_folder.write_activity(run, run_folder.Activity(records, label=7, prediction=7))


def make_run(root: Path) -> Path:
    """A complete synthetic run folder."""
    run = root / "run"
    run.mkdir(parents=True)
    write_metrics_csv(run)
    write_metrics_json(run)
    write_activity(run)
    return run


def assert_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= 400 and image.shape[1] >= 400, image.shape
    assert image[..., :3].std() > 0.01, f"{path} is blank"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, plots.PlotReport]:
    """plot_run on a complete run folder, drawn once for the tests that only look at the result."""
    run = make_run(tmp_path_factory.mktemp("full"))
    return run, plots.plot_run(run)


def test_plot_run_writes_every_figure(full_report: tuple[Path, plots.PlotReport]) -> None:
    run, report = full_report
    assert report.skipped == {}
    assert [p.name for p in report.written] == [f"{name}.png" for name in ALL_PLOTS]
    for path in report.written:
        assert path.parent == run
        assert_png(path)


def test_drawing_leaves_pyplot_alone(run: Path) -> None:
    """A user's script with pyplot open: drawing every plot of a run registers no figure with pyplot (which
    would keep each in memory until closed) and leaves the user's own figure and backend as they were."""
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    mine = plt.figure()
    try:
        report = plots.plot_run(run)
        assert len(report.written) == len(ALL_PLOTS)
        assert plt.get_fignums() == [mine.number] and matplotlib.get_backend() == backend
    finally:
        plt.close(mine)


def test_out_dir(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "figures"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"firing_rates": {"fc1": 0.1, "output": 0.2}}))
    report = plots.plot_run(run, out_dir=out)
    assert report.written == [out / "firing_rates.png"]
    assert_png(out / "firing_rates.png")
    assert not list(run.glob("*.png"))


def test_missing_activity_is_reported(run: Path) -> None:
    (run / "activity.npz").unlink()
    report = plots.plot_run(run)
    assert report.skipped == {"raster": "activity.npz missing", "membrane": "activity.npz missing"}
    assert [p.name for p in report.written] == ["learning_curves.png", "confusion_matrix.png", "firing_rates.png"]
    for path in report.written:
        assert_png(path)


def test_missing_metrics_json_is_reported(run: Path) -> None:
    (run / "metrics.json").unlink()
    report = plots.plot_run(run)
    assert report.skipped == {
        "confusion_matrix": "metrics.json missing",
        "firing_rates": "metrics.json missing",
    }
    assert [p.name for p in report.written] == ["learning_curves.png", "raster.png", "membrane.png"]
    for path in report.written:
        assert_png(path)


def test_missing_keys_and_csv_are_reported(run: Path) -> None:
    (run / "metrics.csv").unlink()
    (run / "activity.npz").unlink()
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["confusion_matrix"], metrics["firing_rates"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    report = plots.plot_run(run)
    assert report.written == []
    assert report.skipped == {
        "learning_curves": "metrics.csv missing",
        "confusion_matrix": "metrics.json has no confusion_matrix",
        "raster": "activity.npz missing",
        "membrane": "activity.npz missing",
        "firing_rates": "metrics.json has no firing_rates",
    }


def test_npz_without_membrane_skips_membrane_only(run: Path) -> None:
    with np.load(run / "activity.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if not k.startswith(("membrane_", "neurons_", "theta_"))}
    np.savez(run / "activity.npz", **arrays)
    (run / "metrics.csv").unlink()
    (run / "metrics.json").unlink()
    report = plots.plot_run(run)
    assert [p.name for p in report.written] == ["raster.png"]
    assert report.skipped["membrane"] == "activity.npz has no membrane traces (membrane_i arrays)"


def test_a_folder_without_any_file_of_a_run_is_refused(tmp_path: Path) -> None:
    """It printed a "skipped" line per plot and ended with status 0, as if a run had been drawn (helper-50)."""
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(DataError, match=r"not a run folder \(none of metrics\.json, metrics\.csv, activity\.npz\)"):
        plots.plot_run(tmp_path)
    assert main(["plot", str(tmp_path)]) == 1  # one error line (a run folder with some of the files: test_out_dir)


def test_a_run_stopped_before_its_first_epoch_is_called_so(tmp_path: Path) -> None:
    """helper-71: a training killed in its first epoch left config.yaml and last.pt, and `bpsrm plot` said "not a run
    folder ... give the --out folder of bpsrm train", though it was that folder."""
    (tmp_path / "config.yaml").write_text("experiment: x\n")
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(
        DataError,
        match=r"a run that has not finished an epoch yet \(it holds config\.yaml and last\.pt, none of metrics\.json, "
        r"metrics\.csv, activity\.npz\); resume it with bpsrm train \.\.\. --out .* --resume, then plot",
    ):
        plots.plot_run(tmp_path)


def test_single_plot_with_missing_input_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"activity\.npz missing"):
        plots.plot_raster(tmp_path)


def test_missing_run_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        plots.plot_run(tmp_path / "nope")


def test_csv_missing_column_raises(run: Path) -> None:
    (run / "metrics.csv").write_text("epoch,lr,train_loss,train_accuracy\n1,0.001,1.2,0.5\n")
    with pytest.raises(DataError, match=r"metrics\.csv: missing column\(s\) val_loss, val_accuracy"):
        plots.plot_run(run)


def test_csv_bad_number_raises(run: Path) -> None:
    (run / "metrics.csv").write_text(",".join(CSV_HEADER) + "\n1,0.001,1.2,0.5,oops,0.4,10,100\n")
    with pytest.raises(DataError, match=r"metrics\.csv: line 2, column val_loss: 'oops' is not a number"):
        plots.plot_learning_curves(run)


def test_csv_without_rows_raises(run: Path) -> None:
    (run / "metrics.csv").write_text(",".join(CSV_HEADER) + "\n")
    with pytest.raises(DataError, match=r"metrics\.csv: no rows"):
        plots.plot_learning_curves(run)


def test_bad_json_raises(run: Path) -> None:
    (run / "metrics.json").write_text('{"test_accuracy": 0.9,')
    with pytest.raises(DataError, match=r"metrics\.json: not valid JSON"):
        plots.plot_run(run)


def test_json_not_an_object_raises(run: Path) -> None:
    (run / "metrics.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"metrics\.json: expected a JSON object"):
        plots.plot_confusion_matrix(run)


def test_bad_confusion_matrix_raises(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["confusion_matrix"] = [[1, 2, 3], [4, 5, 6]]
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(DataError, match=r"metrics\.json: confusion_matrix must be square"):
        plots.plot_confusion_matrix(run)
    for huge in (1e300, 10**30):  # wrapped around in int64 with a RuntimeWarning, and drawn (helper-50)
        metrics["confusion_matrix"] = [[huge, 0], [0, 1]]
        (run / "metrics.json").write_text(json.dumps(metrics))
        with pytest.raises(DataError, match=r"confusion_matrix counts 1e\+(300|30) samples, more than any test set"):
            plots.plot_confusion_matrix(run)


def test_bad_firing_rate_raises(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["firing_rates"]["fc1"] = 3.5
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(DataError, match=r"metrics\.json: firing_rates\['fc1'\] must be a number in \[0, 1\]"):
        plots.plot_firing_rates(run)


def test_corrupt_npz_raises(run: Path) -> None:
    (run / "activity.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"activity\.npz: not an \.npz archive"):
        plots.plot_raster(run)


def test_npz_missing_layer_raises(run: Path) -> None:
    with np.load(run / "activity.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != "spikes_1"}
    np.savez(run / "activity.npz", **arrays)
    with pytest.raises(DataError, match=r"activity\.npz: no spikes_1 for layer 1 \(conv2\)"):
        plots.plot_raster(run)


def test_npz_bad_neuron_index_raises(run: Path) -> None:
    with np.load(run / "activity.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["neurons_2"] = np.array([5, 7, 10])  # the output layer has 10 neurons
    np.savez(run / "activity.npz", **arrays)
    with pytest.raises(DataError, match=r"activity\.npz: neurons_2 has indices outside 0\.\.9"):
        plots.plot_membrane(run)


def test_demo_style_metrics_are_accepted(run: Path) -> None:
    """firing_rates as a plain list, no best_epoch, classes or best_val_accuracy: still drawn."""
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["firing_rates"] = list(metrics["firing_rates"].values())
    del metrics["best_epoch"], metrics["classes"], metrics["best_val_accuracy"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    for draw in (plots.plot_learning_curves, plots.plot_confusion_matrix, plots.plot_firing_rates):
        assert_png(draw(run))


def test_missing_matplotlib_says_how_to_install(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(BpsrmError, match=r"pip install 'bpsrm\[plots\]'"):
        plots.plot_run(run)


def test_import_does_not_import_matplotlib() -> None:
    code = IMPORT_EVERY_MODULE + (
        "import sys\n"
        "assert 'bpsrm.engine.plots' in sys.modules\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_a_run_in_progress_marks_the_epoch_training_keeps(tmp_path: Path) -> None:
    """Without metrics.json the marked epoch follows the trainer's rule, written out here by hand: the highest
    validation accuracy, ties to the lowest validation loss (epoch 3 of 0.9/0.8, 0.9/0.6, 0.9/0.65 at 2-4, not
    the first 0.9), NaN accuracies passed over; under train.select: last the last epoch."""
    rows = []
    figures = [(0.5, 1.0), (0.9, 0.8), (0.9, 0.6), (0.9, 0.65), (0.8, 0.1), (np.nan, 0.0)]
    for epoch, (acc, loss) in enumerate(figures, 1):
        row = dict.fromkeys(CSV_HEADER, 0.1)
        row.update(epoch=epoch, val_accuracy=acc, val_loss=loss)
        rows.append(row)
    run_folder.write_history(tmp_path, rows)
    columns = run_folder.read_history(tmp_path)
    assert run_folder.best_epoch({}, columns, tmp_path) == (3.0, 0.9)
    run_folder.write_config(tmp_path, {"train": {"select": "last"}})
    assert run_folder.best_epoch({}, columns, tmp_path)[0] == 6.0
    # metrics.json's own best_epoch wins over the rule (a finished run says which epoch it kept)
    assert run_folder.best_epoch({"best_epoch": 2}, columns, tmp_path) == (2.0, 0.9)


def test_the_selection_rule_in_its_edge_cases() -> None:
    """beats_best: higher accuracy wins whatever the loss; an equal accuracy needs a strictly lower loss; a NaN best
    loss is beaten by any number, a NaN loss beats nothing at equal accuracy."""
    assert run_folder.beats_best(0.91, 9.0, 0.90, 0.1)
    assert not run_folder.beats_best(0.89, 0.0, 0.90, 0.1)
    assert run_folder.beats_best(0.90, 0.09, 0.90, 0.1) and not run_folder.beats_best(0.90, 0.1, 0.90, 0.1)
    assert run_folder.beats_best(0.90, 5.0, 0.90, float("nan"))
    assert not run_folder.beats_best(0.90, float("nan"), 0.90, 0.1)
    empty = {name: np.array([]) for name in ("epoch", "val_accuracy", "val_loss")}
    assert run_folder.chosen_epoch(empty) is None and run_folder.chosen_epoch(empty, "last") is None


def _figure_of(monkeypatch, draw, run: Path):
    """The figure ``draw(run)`` makes, kept open (plots._save writes and closes it)."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, run, out_dir, name: kept.append(fig) or run / name)
    draw(run)
    return kept[0]


def _legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_a_fixed_schedule_without_validation_draws_no_validation_curve(tmp_path, monkeypatch) -> None:
    """results/cwru-crossload (train.select: last, no validation data) wrote 0.0 in the validation cells: the figure
    drew a validation curve at 0% and "best epoch 15 (val 0.0%)"."""
    from conftest import REPO

    run = tmp_path / "run"
    run.mkdir()
    for name in ("metrics.csv", "metrics.json", "config.yaml"):
        (run / name).write_bytes((REPO / "results" / "cwru-crossload" / "seed0" / name).read_bytes())
    fig = _figure_of(monkeypatch, plots.plot_learning_curves, run)
    assert [_legend(ax) for ax in fig.axes] == [["train", "last epoch 15 (fixed schedule)"]] * 2


def test_the_chosen_epoch_s_validation_accuracy_is_shown_to_two_decimals(tmp_path, monkeypatch) -> None:
    """93.95% read "val 94.0%" beside a 93.9% target."""
    run = tmp_path / "run"
    run.mkdir()
    rows = [
        "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy",
        "1,0.1,1.0,0.5,0.9,0.9",
        "2,0.1,0.8,0.6,0.7,0.9395",
    ]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    fig = _figure_of(monkeypatch, plots.plot_learning_curves, run)
    assert _legend(fig.axes[1]) == ["train", "validation", "best epoch 2 (val 93.95%)"]


def test_the_confusion_matrix_keeps_its_axis_labels_on_the_figure(tmp_path, monkeypatch) -> None:
    """The colour bar's fraction= and pad= under constrained layout pushed "true class" off the figure's left edge
    (x = -18.5 px for N-MNIST's ten classes)."""
    run = tmp_path / "run"
    run.mkdir()
    classes = [f"digit {k}" for k in range(10)]
    counts = (np.eye(10) * 90 + 1).astype(int).tolist()
    (run / "metrics.json").write_text(json.dumps({"confusion_matrix": counts, "classes": classes}))
    fig = _figure_of(monkeypatch, plots.plot_confusion_matrix, run)
    fig.canvas.draw()
    label = fig.axes[0].yaxis.label.get_window_extent()
    assert fig.axes[0].get_ylabel() == "true class" and label.x0 >= 0, label


def test_bpsrm_plot_out_writes_the_figures_elsewhere_and_leaves_the_run_folder_alone(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bpsrm.cli import main

    before = sorted(p.name for p in run.iterdir())
    assert main(["plot", str(run), "--out", str(tmp_path / "figures")]) == 0
    figures = ["confusion_matrix.png", "firing_rates.png", "learning_curves.png", "membrane.png", "raster.png"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == figures
    assert sorted(p.name for p in run.iterdir()) == before
    assert f"wrote {tmp_path / 'figures' / 'learning_curves.png'}" in capsys.readouterr().out


def _drawn_raster(spikes: np.ndarray) -> tuple[np.ndarray, str]:
    """The (step, neuron) dots _raster_panel draws for one layer, and its title."""
    plt = pytest.importorskip("matplotlib.pyplot")
    layer = run_folder.LayerActivity(
        "wide", spikes.astype(np.uint8), np.zeros((spikes.shape[0], 1)), np.zeros(1, int), np.ones(1)
    )
    fig, ax = plt.subplots()
    try:
        plots._raster_panel(ax, layer, height_pts=200.0, tall=True)
        return np.asarray(ax.collections[0].get_offsets()), ax.get_title(loc="left")
    finally:
        plt.close(fig)


def test_a_wide_layer_raster_spreads_its_200_rows_over_every_neuron_that_spiked() -> None:
    """1000 neurons spike, the first 600 at every step: "the 200 most active" were neurons 0..199, a solid
    block at the bottom of the panel. The rows drawn now spread evenly over all 1000 (by hand: 0, 5, 10, ...)."""
    spikes = np.zeros((6, 1500), dtype=bool)
    spikes[:, :600] = True
    spikes[2, 600:1000] = True
    dots, title = _drawn_raster(spikes)
    rows = np.unique(dots[:, 1]).astype(int)
    assert len(rows) == 200 and rows[0] == 0 and rows[-1] == 999
    assert set(np.diff(rows)) <= {5, 6}  # 999 / 199 = 5.02
    assert title.startswith("wide: 200 of the 1,000 neurons that spiked, spread evenly (of 1,500)")
    assert "(4,000 spikes, rate 0.444)" in title  # 600 x 6 + 400 of 9,000 neuron-steps: the whole layer


def test_a_wide_layer_with_few_spiking_neurons_draws_every_spike() -> None:
    spikes = np.zeros((4, 5000), dtype=bool)
    spikes[1, 4000:4150] = True
    spikes[3, 7] = True
    dots, title = _drawn_raster(spikes)
    assert sorted(map(tuple, dots.astype(int).tolist())) == [(1, n) for n in range(4000, 4150)] + [(3, 7)]
    assert title.startswith("wide: 5,000 neurons, 151 spiked")


@pytest.mark.parametrize(("epochs", "title"), [(40, "unfinished: 8 of 40 epochs"), (8, "test accuracy")])
def test_the_learning_curves_of_a_stopped_run_say_it_is_unfinished(
    run: Path, epochs: int, title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after 8 of its 40 epochs drew the curves of a finished one; where metrics.json held the test
    accuracy of an earlier end (a run extended with --resume --epochs), that figure was printed over curves that
    went past it."""
    from bpsrm.engine.config import config_to_dict, load_config
    from conftest import REPO

    config = load_config(REPO / "configs" / "fashion-mnist.yaml", [f"train.epochs={epochs}"])
    run_folder.write_config(run, config_to_dict(config))
    drawn: list = []
    monkeypatch.setattr(plots, "_save", lambda fig, *args: drawn.append(fig._suptitle.get_text()))
    plots.plot_learning_curves(run)
    if epochs == 8:
        title += f" {100 * json.loads((run / 'metrics.json').read_text())['test_accuracy']:.2f}%"
    assert drawn == [f"Learning curves  —  {title}"]
