"""`bpsrm train`: configs validated before training, complete run folders, exact resume."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from bpsrm.engine import experiment as experiment_module
from bpsrm.engine import trainer as trainer_module
from bpsrm.engine.checkpoint import load_checkpoint, save_checkpoint
from bpsrm.engine.config import config_from_dict, config_to_dict, load_config
from bpsrm.engine.trainer import TIMING_KEYS, train
from bpsrm.errors import CheckpointError, ConfigError
from conftest import REPO

pytestmark = pytest.mark.data


def _tiny(shared_data, plots=False, **train_options):
    return config_from_dict(
        {
            "experiment": "tiny",
            "seed": 3,
            "data": {"name": "fashion-mnist", "root": str(shared_data), "limit_train": 240, "limit_test": 60},
            "model": {"spec": "8C3-TCN-SRM-MP4-FC10", "time_steps": 3, "neuron": {"learn_tau": True}},
            "encoder": {"name": "rate"},
            "train": {"epochs": 3, "batch_size": 32, **train_options},
            "log": {"progress": False, "plots": plots},
        }
    )


def test_run_folder_is_complete(shared_data, tmp_path) -> None:
    metrics = train(_tiny(shared_data, plots=True), tmp_path / "run", log=lambda _: None)
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.csv", "metrics.json", "last.pt", "best.pt", "activity.npz", "predictions.npz"):
        assert (run / name).is_file(), name
    assert {p.name for p in run.glob("*.png")} == {
        "learning_curves.png",
        "confusion_matrix.png",
        "raster.png",
        "membrane.png",
        "firing_rates.png",
    }
    saved = json.loads((run / "metrics.json").read_text())
    for key in (
        "test_accuracy",
        "best_val_accuracy",
        "epochs",
        "train_seconds",
        "samples_per_second",
        "world_size",
        "firing_rates",
        "synaptic_ops_per_sample",
        "energy_per_sample_uj",
        "energy_constants",
    ):
        assert key in saved, key
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 1 + 3
    # predictions.npz: one label and prediction per test sample, agreeing with metrics.json's confusion matrix
    with np.load(run / "predictions.npz") as npz:
        labels, predictions = npz["labels"], npz["predictions"]
    assert labels.shape == predictions.shape == (saved["test_samples"],) == (60,)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, predictions), 1)
    assert confusion.tolist() == saved["confusion_matrix"]
    assert np.mean(labels == predictions) == saved["test_accuracy"]
    # sample i of the file is sample i of the test split (what pairs two runs sample by sample)
    from bpsrm.engine.experiment import prepare

    test_set = prepare(_tiny(shared_data, plots=True)).test_set
    assert labels.tolist() == [int(test_set[i][1]) for i in range(len(test_set))]
    assert load_config(run / "config.yaml") == _tiny(shared_data, plots=True)


class _Stop(Exception):
    pass


def _train_stopped_after(config, out, epoch: int) -> None:
    """Train until the log line of ``epoch`` (its checkpoints are written by then), then stop as a crash would."""

    def stop(line: str) -> None:
        if line.startswith(f"epoch {epoch}/"):
            raise _Stop

    with pytest.raises(_Stop):
        train(config, out, log=stop)


def test_resume_after_interruption_gives_the_same_metrics(shared_data, tmp_path) -> None:
    config = _tiny(shared_data)
    whole = train(config, tmp_path / "whole", log=lambda _: None)

    _train_stopped_after(config, tmp_path / "cut", 1)
    assert (tmp_path / "cut" / "last.pt").is_file() and not (tmp_path / "cut" / "metrics.json").exists()
    resumed = train(config, tmp_path / "cut", resume=True, log=lambda _: None)
    for key in TIMING_KEYS:
        whole.pop(key)
        resumed.pop(key)
    assert resumed == whole


def _history_without_timing(run) -> list[dict]:
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def test_an_epoch_stopped_in_its_middle_resumes_after_its_last_saved_step(shared_data, tmp_path, monkeypatch) -> None:
    """train.checkpoint_steps=2: last.pt within each epoch (7 steps: after steps 2, 4 and 6). Stopped in step 5 of
    epoch 2, the run resumes after step 4 and ends with the figures of a run never stopped, which equal those of a
    run that never saved within an epoch (rate coding and augmentation draw from the random state kept)."""
    raw = {
        "experiment": "tiny",
        "seed": 3,
        "data": {
            "name": "fashion-mnist",
            "root": str(shared_data),
            "limit_train": 240,
            "limit_test": 60,
            "augment": {"hflip": True, "shift": 1, "rotate": 10.0},
        },
        "model": {"spec": "8C3-TCN-SRM-MP4-FC10", "time_steps": 3, "neuron": {"learn_tau": True}},
        "encoder": {"name": "rate"},
        "train": {"epochs": 2, "batch_size": 32},
        "log": {"progress": False, "plots": False},
    }
    plain = train(config_from_dict(raw), tmp_path / "plain", log=lambda _: None)
    raw["train"]["checkpoint_steps"] = 2
    config = config_from_dict(raw)
    whole = train(config, tmp_path / "whole", log=lambda _: None)

    class Stop(Exception):
        pass

    real_step, calls = trainer_module._train_step, {"n": 0}

    def stops_in_epoch_2_step_5(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7 + 5:
            raise Stop
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "_train_step", stops_in_epoch_2_step_5)
    with pytest.raises(Stop):
        train(config, tmp_path / "cut", log=lambda _: None)
    monkeypatch.setattr(trainer_module, "_train_step", real_step)
    saved = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert saved["epoch"] == 1 and saved["partial"]["step"] == 4 and saved["partial"]["count"] == 4 * 32
    # bpsrm eval says how far each checkpoint was trained: last.pt 1 epoch and 4 steps of epoch 2, best.pt epoch 1
    from bpsrm.deploy.inference import evaluate_checkpoint

    cut_last = evaluate_checkpoint(tmp_path / "cut" / "last.pt")
    assert (cut_last["checkpoint_epoch"], cut_last["checkpoint_step"]) == (1, 4)
    cut_best = evaluate_checkpoint(tmp_path / "cut" / "best.pt")
    assert (cut_best["checkpoint_epoch"], cut_best["checkpoint_step"]) == (1, None)
    lines: list[str] = []
    raw["train"]["checkpoint_steps"] = 3  # may change on resume: it changes no figure
    resumed = train(config_from_dict(raw), tmp_path / "cut", resume=True, log=lines.append)
    assert f"resuming {tmp_path / 'cut'} in epoch 2, after step 4" in lines
    assert lines[0].startswith("bpsrm train ") and lines[1].startswith("resuming "), lines  # what, then from where
    for metrics in (plain, whole, resumed):
        for key in TIMING_KEYS:
            metrics.pop(key)
    assert whole == plain and resumed == whole
    history = _history_without_timing(tmp_path / "plain")
    assert _history_without_timing(tmp_path / "whole") == history == _history_without_timing(tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["partial"] is None  # the last epoch ended
    assert not list((tmp_path / "cut").glob("*.png"))  # log.plots: false draws no figure


def test_a_damaged_record_of_a_stopped_epoch_is_refused(shared_data, tmp_path) -> None:
    config = _tiny(shared_data, epochs=1)
    train(config, tmp_path / "run", log=lambda _: None)
    last = tmp_path / "run" / "last.pt"
    state = load_checkpoint(last)
    (tmp_path / "run" / "metrics.json").unlink()
    partial = {"step": 99, "loss_sum": 1.0, "correct": 1, "count": 32, "seconds": 1.0}
    save_checkpoint(last, {**state, "partial": partial})
    longer = _tiny(shared_data, epochs=2)
    with pytest.raises(CheckpointError, match=r"last\.pt: stopped after step 99 of an epoch of 7 steps"):
        train(longer, tmp_path / "run", resume=True, log=lambda _: None)
    save_checkpoint(last, {**state, "partial": "step 3"})
    with pytest.raises(CheckpointError, match=r"last\.pt: its progress record is damaged"):
        train(longer, tmp_path / "run", resume=True, log=lambda _: None)


def test_resume_checks_the_split_and_lets_the_data_move(shared_data, tmp_path, monkeypatch) -> None:
    """last.pt keeps the split it was trained on: a run whose validation split is drawn differently now (here one
    training and one validation sample swapped, as a changed rule or changed data would) is refused; data.root may
    change when the split is recorded; a last.pt from before the record resumes on today's split and the log says
    so, and keeps data.root fixed."""
    config = _tiny(shared_data)
    whole = train(config, tmp_path / "whole", log=lambda _: None)
    _train_stopped_after(config, tmp_path / "cut", 1)
    last = tmp_path / "cut" / "last.pt"
    state = load_checkpoint(last)
    assert {key: state["split"][key] for key in ("train", "val", "left_out")} == {
        "train": 216,
        "val": 24,
        "left_out": 0,
    }

    real_split = experiment_module._validation_split

    def swapped(*args, **kwargs):
        train_indices, val_indices, overlapping = real_split(*args, **kwargs)
        return [val_indices[0], *train_indices[1:]], [train_indices[0], *val_indices[1:]], overlapping

    with monkeypatch.context() as patch:
        patch.setattr(experiment_module, "_validation_split", swapped)
        with pytest.raises(
            CheckpointError,
            match=r"last\.pt: was trained on another split \(the same sizes, 216 train / 24 validation samples, but "
            r"other samples\)",
        ):
            train(config, tmp_path / "cut", resume=True, log=lambda _: None)

    # The data moved (here: the same files behind another path): with the split recorded, data.root may change.
    shutil.copytree(tmp_path / "cut", tmp_path / "moved")
    (tmp_path / "data-elsewhere").symlink_to(shared_data, target_is_directory=True)
    raw = config_to_dict(config)
    moved = config_from_dict({**raw, "data": {**raw["data"], "root": str(tmp_path / "data-elsewhere")}})
    lines: list[str] = []
    resumed_moved = train(moved, tmp_path / "moved", resume=True, log=lines.append)
    assert any("data.root was" in line for line in lines)

    save_checkpoint(last, {key: value for key, value in state.items() if key != "split"})
    with pytest.raises(CheckpointError, match=r"another config \(data\.root: "):  # nothing to check the new root by
        train(moved, tmp_path / "cut", resume=True, log=lambda _: None)
    lines = []
    resumed = train(config, tmp_path / "cut", resume=True, log=lines.append)
    assert any("does not record its split" in line and "216 train / 24 validation" in line for line in lines)
    for figures in (whole, resumed, resumed_moved):
        for key in TIMING_KEYS:
            figures.pop(key)
    assert resumed == whole and resumed_moved == whole


def test_same_seed_same_result(shared_data, tmp_path) -> None:
    a = train(_tiny(shared_data, epochs=1), tmp_path / "a", log=lambda _: None)
    b = train(_tiny(shared_data, epochs=1), tmp_path / "b", log=lambda _: None)
    assert a["test_accuracy"] == b["test_accuracy"] and a["confusion_matrix"] == b["confusion_matrix"]
    assert (tmp_path / "a" / "metrics.csv").read_text().split("\n")[1].split(",")[2] == (
        tmp_path / "b" / "metrics.csv"
    ).read_text().split("\n")[1].split(",")[2]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.epoch=3", "unknown key train.epoch (did you mean train.epochs?)"),
        ("model.time_steps=0", "model.time_steps: expected >= 1, got 0"),
        ("model.neuron.tau_m=-2", "model.neuron.tau_m: expected finite and > 0, got -2"),
        ("model.spec=32X3-FC10", "model.spec: spec '32X3-FC10': token 1 '32X3' is not understood"),
        ("train.batch_size=big", "train.batch_size: expected a whole number, got 'big'"),
        ("model.neuron.surrogate=relu", "model.neuron.surrogate: expected one of"),
        ("optim.lr=0", "optim.lr: expected finite and > 0, got 0"),
    ],
)
def test_bad_config_fails_before_training(override, fragment) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(REPO / "configs" / "fashion-mnist.yaml", [override])
    assert fragment in str(info.value)
    assert "fashion-mnist.yaml" in str(info.value)


def test_bad_yaml_files(tmp_path) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="a config must be a mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "code.yaml").write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "code.yaml")
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_config(tmp_path / "missing.yaml")


def test_spec_must_match_the_classes(shared_data, tmp_path) -> None:
    config = config_from_dict(
        {"data": {"name": "fashion-mnist", "root": str(shared_data), "limit_train": 50}, "model": {"spec": "FC7"}}
    )
    with pytest.raises(ConfigError, match="ends with 7 outputs but the dataset has 10 classes"):
        train(config, tmp_path / "x", log=lambda _: None)


def test_tensorboard_logging(shared_data, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    raw = {
        "data": {"name": "fashion-mnist", "root": str(shared_data), "limit_train": 100, "limit_test": 20},
        "model": {"spec": "FC32-TCN-SRM-FC10", "time_steps": 2},
        "train": {"epochs": 2},
        "log": {"tensorboard": True, "progress": False},
    }
    train(config_from_dict(raw), tmp_path / "run", log=lambda _: None)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss", "val/accuracy", "val/firing_rate/SRM1 (FC32)", "train/lr", "train/samples_per_second"} <= set(
        scalars
    )
    assert not {tag for tag in scalars if tag.startswith(("samples/", "firing_rate/"))}  # every tag in its group
    assert [e.step for e in events.Scalars("val/accuracy")] == [1, 2]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    (test,) = events.Scalars("test/accuracy")  # the chosen model's, once, at its epoch
    assert (test.step, test.value) == (metrics["best_epoch"], pytest.approx(metrics["test_accuracy"]))


def test_validation_on_other_data(shared_data) -> None:
    """data.val_options: the model is chosen on another load's test split, with the training statistics."""
    from bpsrm.engine.experiment import prepare

    raw = {
        "data": {
            "name": "cwru",
            "root": str(shared_data),
            "val_fraction": 0.0,
            "options": {"class_set": "9", "normalize": "train"},
            "val_options": {"load": 1, "whole": True, "stride": 2048},
        },
        "model": {"spec": "4C7-TCN-SRM-MP8-FC9"},
    }
    experiment = prepare(config_from_dict(raw))
    val = experiment.val_set
    assert val.loads == [1] and {number for number, _ in val.windows} == {106, 119, 131, 170, 186, 198, 210, 223, 235}
    assert val.mean == experiment.train_set.mean and val.std == experiment.train_set.std
    assert len(experiment.train_set) == len(experiment.train_set.windows)  # nothing carved out of train
    raw["data"]["val_options"] = {"class_set": "10"}
    with pytest.raises(ConfigError, match="other classes"):
        prepare(config_from_dict(raw))


def test_cuda_device_without_cuda_is_a_clear_error(tmp_path) -> None:
    import torch

    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train
    from bpsrm.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    config = config_from_dict(
        {
            "data": {"name": "fashion-mnist-demo", "limit_train": 50},
            "model": {"spec": "FC8-SRM-FC10"},
            "train": {"epochs": 1, "device": "cuda"},
        }
    )
    with pytest.raises(ConfigError, match=r"train\.device: cuda, but this PyTorch sees no CUDA device"):
        train(config, tmp_path / "run", log=lambda _: None)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device on this machine")
def test_training_on_cuda_matches_cpu(tmp_path) -> None:
    import torch

    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train

    raw = {
        "data": {"name": "fashion-mnist-demo", "limit_train": 300, "limit_test": 100},
        "model": {"spec": "8C3-TCN-SRM-MP2-FC10", "time_steps": 3},
        "train": {"epochs": 1, "batch_size": 50},
        "log": {"progress": False},
    }
    cpu = train(config_from_dict(raw), tmp_path / "cpu", log=lambda _: None)
    raw["train"]["device"] = "cuda"
    gpu = train(config_from_dict(raw), tmp_path / "gpu", log=lambda _: None)
    assert abs(cpu["test_accuracy"] - gpu["test_accuracy"]) <= 0.05
    state = torch.load(tmp_path / "gpu" / "last.pt", map_location="cpu", weights_only=True)
    assert all(t.device.type == "cpu" for t in state["model"].values())


def test_ood_samples_caps_the_calibration_and_zero_leaves_it_out(shared_data, tmp_path, monkeypatch) -> None:
    """train.ood_samples: the calibration reads that many training samples (all of them when there are fewer);
    0 writes best.pt without one, and predict then names a class for every input, with no score."""
    import bpsrm.deploy.ood as ood
    from bpsrm.deploy.prediction import predict_files

    seen: list[int] = []
    real = ood.calibrate_ood

    def counting(model, batches, *args, **kwargs):
        batches = list(batches)
        seen.append(sum(len(labels) for _, labels in batches))
        return real(model, iter(batches), *args, **kwargs)

    monkeypatch.setattr(ood, "calibrate_ood", counting)
    quiet = lambda _: None  # noqa: E731
    train(_tiny(shared_data, epochs=1), tmp_path / "default", log=quiet)
    train(_tiny(shared_data, epochs=1, ood_samples=50), tmp_path / "fifty", log=quiet)
    assert seen == [216, 50]  # data.limit_train=240 less its 10% validation share; then the cap
    assert "ood" in load_checkpoint(tmp_path / "fifty" / "best.pt")

    train(_tiny(shared_data, epochs=1, ood_samples=0), tmp_path / "none", log=quiet)
    assert len(seen) == 2 and "ood" not in load_checkpoint(tmp_path / "none" / "best.pt")
    (answer,) = predict_files(tmp_path / "none" / "best.pt", [REPO / "docs" / "images" / "demo_raster.png"])
    assert answer["class"] != "unknown" and "ood_score" not in answer
    # It may change on a resume (no figure depends on it): finishing the fifty-sample run again with 0 removes its
    # calibration rather than leaving one that the config no longer describes.
    train(_tiny(shared_data, epochs=1, ood_samples=0), tmp_path / "fifty", resume=True, log=quiet)
    assert len(seen) == 2 and "ood" not in load_checkpoint(tmp_path / "fifty" / "best.pt")
    with pytest.raises(ConfigError, match=r"train.ood_samples"):
        _tiny(shared_data, ood_samples=-1)


def test_best_epoch_is_the_best_accuracy_then_the_lowest_loss(shared_data, tmp_path, monkeypatch) -> None:
    """Validation figures scripted per epoch: the chosen epoch is the highest accuracy and, among equal
    accuracies, the lowest loss (epoch 3 here, not the first to reach 0.9); a run cut after epoch 3 and
    resumed judges epochs 4 and 5 against epoch 3's loss, kept in last.pt's history."""
    scripted = iter([(0.5, 1.0), (0.9, 0.8), (0.9, 0.6), (0.9, 0.65), (0.8, 0.1)] * 2)
    real = trainer_module.evaluate_model

    def scripted_validation(model, dataset, *args, **kwargs):
        figures = real(model, dataset, *args, **kwargs)
        if kwargs.get("count_operations"):  # the final test evaluation: as it is
            return figures
        figures["accuracy"], figures["loss"] = next(scripted)
        return figures

    monkeypatch.setattr(trainer_module, "evaluate_model", scripted_validation)
    config = _tiny(shared_data, epochs=5)
    lines: list[str] = []
    whole = train(config, tmp_path / "whole", log=lines.append)
    assert whole["best_epoch"] == 3 and whole["best_val_accuracy"] == 0.9
    assert [line.split(":")[0] for line in lines if "(best)" in line] == ["epoch 1/5", "epoch 2/5", "epoch 3/5"]
    epochs = [line for line in lines if line.startswith("epoch ")]  # accuracies in percent, as the test one
    assert [re.search(r", val ([^ ,]+)", line)[1] for line in epochs] == [
        "50.00%",
        "90.00%",
        "90.00%",
        "90.00%",
        "80.00%",
    ]
    assert all(re.search(r", train \d{1,3}\.\d\d%, ", line) for line in epochs), epochs
    assert load_checkpoint(tmp_path / "whole" / "best.pt")["epoch"] == 3

    _train_stopped_after(config, tmp_path / "cut", 3)
    resumed = train(config, tmp_path / "cut", resume=True, log=lambda _: None)
    assert resumed["best_epoch"] == 3


def test_metrics_json_lists_the_environments_a_resumed_run_went_on_in(shared_data, tmp_path, monkeypatch) -> None:
    """A run resumed on a machine whose PyTorch takes other vector instructions says so in its log, and
    metrics.json lists both environments with the epoch each took over (rank 0's; resume.note_environment)."""
    config = _tiny(shared_data, epochs=2)
    _train_stopped_after(config, tmp_path / "cut", 1)
    real = trainer_module.describe_environment
    first = real(torch.device("cpu"))
    other = "DEFAULT" if first["cpu_capability"] != "DEFAULT" else "AVX2"
    moved = lambda device, *rest: {**real(device, *rest), "cpu_capability": other}  # noqa: E731
    monkeypatch.setattr(trainer_module, "describe_environment", moved)
    lines: list[str] = []
    train(config, tmp_path / "cut", resume=True, log=lines.append)
    assert (
        "resumed in another environment (rounding differs from an uninterrupted run): "
        f"cpu_capability {first['cpu_capability']!r} -> {other!r}"
    ) in lines
    saved = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert saved["environments"] == [
        {"from_epoch": 1, "after_step": 0, **first},
        {"from_epoch": 2, "after_step": 0, **first, "cpu_capability": other},
    ]
    last = tmp_path / "cut" / "last.pt"
    (tmp_path / "cut" / "metrics.json").unlink()
    save_checkpoint(last, {**load_checkpoint(last), "environments": "AVX512"})
    with pytest.raises(CheckpointError, match=r"last\.pt: its progress record is damaged .*'environments'"):
        train(_tiny(shared_data, epochs=3), tmp_path / "cut", resume=True, log=lambda _: None)


def test_the_log_says_when_the_compiled_kernels_are_not_in_use(shared_data, tmp_path) -> None:
    """BPSRM_KERNEL=portable (as a build without a C compiler): the run still trains, on the portable path, and its
    log and metrics.json say so; with the kernels built, no such line."""
    command = [sys.executable, "-m", "bpsrm", "--threads", "1", "train", str(tmp_path / "tiny.yaml")]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config_to_dict(_tiny(shared_data, epochs=1))))
    env = {**os.environ, "BPSRM_KERNEL": "portable"}
    done = subprocess.run([*command, "--out", str(tmp_path / "p")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "note: bpsrm's compiled CPU kernels are not in use (neuron: portable (BPSRM_KERNEL=portable); "
        "tcn_pooling: PyTorch (BPSRM_KERNEL=portable)): the same equations run on PyTorch's operations, about half as "
        "fast a step; unset BPSRM_KERNEL to use them"
    ) in done.stdout + done.stderr
    (environment,) = json.loads((tmp_path / "p" / "metrics.json").read_text())["environments"]
    assert environment["kernels"]["neuron"] == "portable (BPSRM_KERNEL=portable)"
    from bpsrm.neuron.kernels import cpu

    if cpu.available():
        env.pop("BPSRM_KERNEL")
        done = subprocess.run([*command, "--out", str(tmp_path / "c")], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and "compiled CPU kernels" not in done.stdout + done.stderr
