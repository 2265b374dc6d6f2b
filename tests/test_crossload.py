"""The cross-load protocol: which cells, which config, the summary against hand-computed figures, a tiny run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bpsrm.cli import main
from bpsrm.data.cwru import CWRU_RECORDS
from bpsrm.engine.config import load_config
from bpsrm.engine.crossload import (
    matrix_markdown,
    plot_matrix,
    preprocessing_text,
    protocol_config,
    summarise,
    training_sets,
)
from bpsrm.errors import ConfigError
from conftest import REPO


def test_training_sets_are_singles_then_all_but_one() -> None:
    assert training_sets([2, 0, 1]) == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    assert training_sets([0, 1]) == [(0,), (1,)]


def test_protocol_config_chooses_nothing_on_data() -> None:
    config = load_config(REPO / "configs" / "cwru-crossload.yaml")
    cfg = protocol_config(config, (0, 2), 5)
    assert cfg.seed == 5 and cfg.data.options["load"] == [0, 2] and cfg.data.options["class_set"] == "9"
    assert cfg.data.val_fraction == 0.0 and cfg.data.val_options is None and cfg.train.select == "last"
    with pytest.raises(ConfigError, match="cwru"):
        protocol_config(load_config(REPO / "configs" / "weather.yaml"), (0,), 0)


def _write_eval(path, accuracy, per_class) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"accuracy": accuracy, "per_class_accuracy": per_class}))


def test_summary_against_hand_figures(tmp_path) -> None:
    # Two loads, two seeds: cells (0 -> 1) and (1 -> 0), as trained only.
    _write_eval(tmp_path / "train-0" / "seed0" / "eval-1hp.json", 0.9, {"a": 1.0, "b": 0.8})
    _write_eval(tmp_path / "train-0" / "seed1" / "eval-1hp.json", 0.7, {"a": 0.9, "b": 0.5})
    _write_eval(tmp_path / "train-1" / "seed0" / "eval-0hp.json", 1.0, {"a": 1.0, "b": 1.0})
    _write_eval(tmp_path / "train-1" / "seed1" / "eval-0hp.json", 0.8, {"a": 0.6, "b": 1.0})
    summary = summarise(tmp_path, [0, 1], [0, 1], adapt=False)
    first, second = summary["cells"]
    assert first["train"] == [0] and first["test"] == 1
    assert first["mean"] == pytest.approx(0.8) and first["std"] == pytest.approx(math.sqrt(0.02))
    assert first["worst_class"] == "b" and first["worst_class_accuracy"] == pytest.approx(0.65)
    assert first["lowest_class_accuracy_any_seed"] == pytest.approx(0.5)
    assert second["worst_class"] == "a" and second["worst_class_accuracy"] == pytest.approx(0.8)
    table = matrix_markdown(summary)
    assert "| 0 | 1 | 80.00 ± 14.14% | b 65.00 | - | - |" in table
    assert "| 1 | 0 | 90.00 ± 14.14% | a 80.00 | - | - |" in table


def test_the_preprocessing_of_a_matrix_names_its_variant(tmp_path) -> None:
    """The heat maps of results/crossload-matrix/<variant> all read "CWRU across loads, mean of 3 seeds": the
    variant is now named from the first run's config.yaml (features always; other preprocessing where it differs
    from the cwru dataset's defaults: normalize "train", speed_normalize false, augment_gain 0)."""
    from bpsrm.engine.config import config_to_dict
    from bpsrm.engine.run_folder import write_config

    config = load_config(
        REPO / "configs" / "cwru-crossload.yaml", ["data.options.features=envelope", "data.options.augment_gain=0.2"]
    )
    run = tmp_path / "train-1" / "seed3"  # the first training set of loads 1 and 2, the first seed given
    run.mkdir(parents=True)
    write_config(run, config_to_dict(config))
    text = preprocessing_text(tmp_path, [2, 1], [3, 0])
    assert text == "features=envelope, normalize=window, augment_gain=0.2"
    assert preprocessing_text(tmp_path, [0, 1], [3]) == ""  # no train-0 run: nothing to read, nothing claimed
    summary = {"loads": [1, 2], "seeds": [3], "cells": []}
    assert matrix_markdown(summary, text).rstrip().endswith(f"; preprocessing: {text}.")


def test_the_heat_map_title_names_the_variant_and_its_scale_reaches_a_cell_under_50(tmp_path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    cells = [
        {"train": [0], "test": 1, "adapted": False, "mean": 0.42},
        {"train": [1], "test": 0, "adapted": False, "mean": 0.97},
    ]
    summary = {"loads": [0, 1], "seeds": [0, 1], "cells": cells}
    captured = []

    def keep(fig, path, dpi):
        captured.append(fig)
        return path

    import bpsrm.engine.plots as plots

    monkeypatch.setattr(plots, "save_figure", keep)
    plot_matrix(summary, tmp_path / "m.png", "features=envelope")
    (fig,) = captured
    assert fig._suptitle.get_text() == "CWRU across loads, mean of 2 seeds\nfeatures=envelope"
    assert fig.axes[0].images[0].get_clim() == (40.0, 100.0)  # 42% drawn in the scale, not clipped to its floor
    cells.insert(0, {"train": [0], "test": 1, "adapted": True, "mean": math.nan})  # first: min() gave NaN
    plot_matrix(summary, tmp_path / "m.png", "")  # math.floor(nan) raised ValueError after matrix.md was written
    assert captured[-1].axes[0].images[0].get_clim() == (40.0, 100.0)


@pytest.mark.slow
def test_crossload_command_runs_every_cell(tmp_path, shared_data, capsys) -> None:
    out = tmp_path / "xl"
    args = [
        "--threads",
        "1",
        "crossload",
        str(REPO / "configs" / "cwru-crossload.yaml"),
        f"data.root={shared_data}",
        "train.epochs=1",
        "train.max_batches=2",
        "log.progress=false",
        "log.plots=false",
        "--loads",
        "0",
        "1",
        "--seeds",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "training at" in capsys.readouterr().out  # the word the resumed run below must not print
    matrix = (out / "matrix.json").read_bytes()
    summary = json.loads(matrix)
    assert [(c["train"], c["test"], c["adapted"]) for c in summary["cells"]] == [
        ([0], 1, False),
        ([0], 1, True),
        ([1], 0, False),
        ([1], 0, True),
    ]
    report = json.loads((out / "train-0" / "seed0" / "eval-1hp.json").read_text())
    assert report["options"]["load"] == 1 and report["options"]["whole"] is True
    assert report["samples"] == sum(size // 2048 for size in _sizes(shared_data, 1))
    assert (out / "matrix.png").stat().st_size > 0 and (out / "matrix.md").is_file()
    # Resuming finds everything done: no training, same matrix.
    assert main(args) == 0
    assert "training at" not in capsys.readouterr().out
    assert (out / "matrix.json").read_bytes() == matrix


def _sizes(shared_data, load):
    import scipy.io

    sizes = []
    for path in sorted((shared_data / "cwru" / f"{load}HP").glob("*.mat")):
        if path.stem.isdigit() and CWRU_RECORDS.get(int(path.stem), ("normal",))[0] == "normal":
            continue  # the 9 fault classes only
        sizes.append(next(v.size for k, v in scipy.io.loadmat(path).items() if k.endswith("_DE_time")))
    return sizes


def test_a_run_folder_of_another_config_is_refused(tmp_path, shared_data) -> None:
    from bpsrm.engine.crossload import run_crossload

    config = load_config(REPO / "configs" / "cwru-crossload.yaml", [f"data.root={shared_data}"])
    run = tmp_path / "train-0" / "seed0"
    run.mkdir(parents=True)
    changes = ["train.epochs=3", "log.progress=false", "log.plots=false", "train.checkpoint_steps=5"]
    other = protocol_config(load_config(REPO / "configs" / "cwru-crossload.yaml", changes), (0,), 0)
    import yaml

    from bpsrm.engine.config import config_to_dict

    (run / "config.yaml").write_text(yaml.safe_dump(config_to_dict(other)))
    # keys that change no figure may differ (as on a resume), and data.root (the data moved); the others are named
    with pytest.raises(ConfigError) as refused:
        run_crossload(config, tmp_path, loads=[0, 1], seeds=[0], log=lambda _: None)
    assert "another config (train.epochs: 3 there, " in str(refused.value) and "data.root" not in str(refused.value)


@pytest.mark.slow
def test_fixed_schedule_and_unaugmented_validation(tmp_path, shared_data) -> None:
    from bpsrm.engine.experiment import prepare
    from bpsrm.engine.trainer import train

    base = [
        f"data.root={shared_data}",
        "data.options.load=[0]",
        "log.progress=false",
        "log.plots=false",
        "train.max_batches=2",
    ]
    # A fixed schedule: the last epoch is best.pt, whatever validation says.
    metrics = train(
        load_config(REPO / "configs" / "cwru-crossload.yaml", [*base, "train.epochs=3"]), tmp_path / "a", log=print
    )
    assert metrics["best_epoch"] == 3
    # No validation data and select: best_val is refused, not silently epoch 1.
    with pytest.raises(ConfigError, match=r"train\.select: last"):
        prepare(load_config(REPO / "configs" / "cwru-crossload.yaml", [*base, "train.select=best_val"]))
    # Augmented training windows; the validation windows and the plain training set (which the OOD calibration
    # reads) are the recordings' windows as they are, without a speed or gain draw.
    experiment = prepare(
        load_config(
            REPO / "configs" / "cwru-crossload.yaml",
            [*base, "data.val_fraction=0.1", "data.options.augment_speed=0.05", "data.options.augment_gain=0.2"],
        )
    )
    for subset in (experiment.val_set, experiment.plain_train_set):
        for position in range(5):
            assert torch.equal(subset[position][0], _raw_window(subset, position))
    index = experiment.train_set.indices[0]
    assert not torch.equal(experiment.train_set[0][0], experiment.train_set.dataset[index][0])  # augmented
    assert not torch.equal(experiment.train_set[0][0], _raw_window(experiment.train_set, 0))


def _raw_window(subset, position: int) -> torch.Tensor:
    """The window of a CWRU subset's sample cut straight from its recording and preprocessed, with no jitter."""
    dataset, index = subset.dataset, subset.indices[position]
    number, start = dataset.windows[index]
    return torch.from_numpy(
        dataset.preprocess.windows(dataset.signals[number][start : start + dataset.window][None])[0]
    )


def test_every_load_is_checked_before_the_first_training(tmp_path, shared_data) -> None:
    """A load outside 0-3, or one whose records are missing, stopped the protocol only when a trained model was
    tested there (a whole training later); now before anything trains."""
    from bpsrm.engine.crossload import run_crossload
    from bpsrm.errors import DataNotFoundError, ParameterError

    config = load_config(REPO / "configs" / "cwru-crossload.yaml", [f"data.root={shared_data}"])
    trained = []
    with pytest.raises(ParameterError, match=r"^crossload --loads 5 1 \(load 5\): cwru: load must be an int 0-3"):
        run_crossload(config, tmp_path / "a", loads=[5, 1], seeds=[0], log=trained.append)
    partial = tmp_path / "copy"  # loads 0 and 1 of the real records; no 3HP folder
    for load in (0, 1):
        (partial / f"{load}HP").mkdir(parents=True)
        for path in (shared_data / "cwru" / f"{load}HP").glob("*.mat"):
            (partial / f"{load}HP" / path.name).symlink_to(path)
    lacks = (
        r"^crossload --loads 0 3 \(load 3\): CWRU for load=\[3\] class_set='9': .*copy lacks 121\.mat \(B007, 3 HP\)"
    )
    with pytest.raises(DataNotFoundError, match=lacks):  # what the copy lacks first, not "CWRU not found"
        run_crossload(config, tmp_path / "b", loads=[0, 3], seeds=[0], root=partial, log=trained.append)
    assert trained == [] and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    ten = load_config(REPO / "configs" / "cwru.yaml", [f"data.root={shared_data}"])  # ends with FC10
    with pytest.raises(ConfigError, match=r"^crossload: model\.spec .*-FC10 ends with 10 outputs, but the protocol"):
        run_crossload(ten, tmp_path / "c", loads=[0, 1], seeds=[0], log=trained.append)
    assert trained == [] and not (tmp_path / "c").exists()
    spiking = load_config(  # a spiking readout after the last FC: its outputs are that FC's (the regex missed it)
        REPO / "configs" / "cwru-crossload.yaml", [f"data.root={shared_data}", "model.spec=8C3-SRM-MP4-FC10-SRM"]
    )
    with pytest.raises(ConfigError, match=r"model\.spec 8C3-SRM-MP4-FC10-SRM ends with 10 outputs"):
        run_crossload(spiking, tmp_path / "e", loads=[0, 1], seeds=[0], log=trained.append)
    assert trained == [] and not (tmp_path / "e").exists()
    events = load_config(REPO / "configs" / "asl-dvs.yaml")  # the dataset is named first, before any record
    with pytest.raises(ConfigError, match=r"the config trains on 'asl-dvs'; the protocol is for cwru"):
        run_crossload(events, tmp_path / "d", loads=[0, 1], seeds=[0], log=trained.append)


def test_a_seed_named_twice_is_refused_before_any_training(tmp_path, capsys) -> None:
    """--seeds 0 0 1 read seed 0's evaluations twice into every cell's mean (and printed "Seeds 0, 0, 1")."""
    config = REPO / "configs" / "cwru-crossload.yaml"
    assert (
        main(["crossload", str(config), "--seeds", "0", "0", "1", "--loads", "0", "1", "--out", str(tmp_path / "m")])
        == 1
    )
    err = capsys.readouterr().err
    assert "crossload --seeds names 0 more than once (0 0 1)" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_a_checkpoint_that_is_not_a_vibration_model_is_refused(tmp_path) -> None:
    """An image model's best.pt in a cell's run folder: a DataError naming the file (an AttributeError on its
    preprocessing's window before)."""
    import shutil

    from bpsrm.engine import crossload
    from bpsrm.errors import DataError

    run = tmp_path / "train-0" / "seed0"
    run.mkdir(parents=True)
    shutil.copy(REPO / "results" / "superseded" / "fashion-mnist-issue6" / "seed0" / "best.pt", run / "best.pt")
    config = load_config(REPO / "configs" / "cwru-crossload.yaml")
    with pytest.raises(DataError, match=r"train-0/seed0/best\.pt: not a vibration model"):
        crossload._evaluate_cells(run, config, (0, 1), (0,), 0, None, False, lambda _: None)


def test_a_load_named_twice_is_refused_like_a_seed_named_twice(tmp_path) -> None:
    """--loads 0 0 said "needs two loads or more ..., got [0]", and --loads 0 1 1 ran as 0 1 unsaid (helper-50)."""
    from bpsrm.engine.crossload import run_crossload

    config = load_config(REPO / "configs" / "cwru-crossload.yaml")
    for loads, twice in (((0, 0), "0"), ((0, 1, 1), "1")):
        with pytest.raises(ConfigError, match=rf"crossload --loads names {twice} more than once"):
            run_crossload(config, tmp_path / "out", loads=loads, seeds=(0,))
    with pytest.raises(ConfigError, match="needs two loads or more to test across, got 2"):
        run_crossload(config, tmp_path / "out", loads=(2,), seeds=(0,))
    assert not (tmp_path / "out").exists()
