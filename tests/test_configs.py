"""Every config under configs/ runs end to end on a tiny budget and writes a complete run folder;
then `bpsrm eval`, `bpsrm predict` and `bpsrm plot` work on what it wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import torch

from bpsrm.cli import main
from bpsrm.data import FASHION_MNIST_CLASSES
from bpsrm.deploy.inference import load_trained
from bpsrm.deploy.prediction import predict_files
from bpsrm.engine.config import load_config
from bpsrm.engine.experiment import prepare
from bpsrm.engine.trainer import train
from conftest import REPO

pytestmark = [pytest.mark.data, pytest.mark.slow]

CONFIGS = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
ASL_LETTERS = "abcdefghiklmnopqrstuvwxy"  # 24 letters, no j (nor z)


def _asl_fixture(root) -> None:
    """Official layout, tiny: 4 samples per letter of random events (no real copy is reachable)."""
    for letter in ASL_LETTERS:
        (root / letter).mkdir(parents=True)
        for k in range(4):
            rng = np.random.default_rng([ord(letter), k])
            n = int(rng.integers(50, 200))
            scipy.io.savemat(
                root / letter / f"{letter}_{k:04d}.mat",
                {
                    "ts": np.sort(rng.integers(0, 100_000, n)).reshape(-1, 1),
                    "x": rng.integers(0, 240, n).astype(np.uint8).reshape(-1, 1),
                    "y": rng.integers(0, 180, n).astype(np.uint8).reshape(-1, 1),
                    "pol": rng.integers(0, 2, n).astype(np.uint8).reshape(-1, 1),
                },
            )


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("BPSRM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BPSRM_DATA", raising=False)
    return tmp_path


def test_data_info_command(shared_data, capsys) -> None:
    assert main(["data", "info", "nmnist", "--root", str(shared_data), "-o", "time_steps=5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["train"]["samples"] == 1000 and report["test"]["samples"] == 100
    assert report["train"]["input_shape"] == [5, 2, 34, 34]
    assert report["test"]["classes"]["8"] == 2  # per-class counts of the data README
    assert main(["data", "info", "nmnist", "--root", str(shared_data), "-o", "frames=5"]) == 1
    assert "unknown options ['frames']" in capsys.readouterr().err


def test_the_five_experiments_have_configs() -> None:
    assert {"asl-dvs", "cwru", "fashion-mnist", "nmnist", "weather"} <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_runs_end_to_end(name, shared_data, isolated) -> None:
    root = shared_data
    if name == "asl-dvs":
        root = isolated / "asl"
        _asl_fixture(root)
    overrides = [
        "train.epochs=2",
        "train.max_batches=2",
        "data.limit_test=48",
        "train.ood_samples=512",  # the calibration runs as configured, over fewer samples than 4096
        f"data.root={root}",
        "log.progress=false",
    ]
    if name == "fashion-mnist":  # its validation share of 60,000 took most of the test's 45 s, evaluated twice
        overrides.append("data.limit_train=1200")
    config = load_config(REPO / "configs" / f"{name}.yaml", overrides)
    out = isolated / "run"
    metrics = train(config, out, log=lambda _: None)
    for item in ("config.yaml", "metrics.csv", "metrics.json", "last.pt", "best.pt", "activity.npz"):
        assert (out / item).is_file(), item
    assert {p.name for p in out.glob("*.png")} == {
        "learning_curves.png",
        "confusion_matrix.png",
        "raster.png",
        "membrane.png",
        "firing_rates.png",
    }
    # An independent count: best.pt's model, restored, on the test samples stacked here into one batch; each
    # (label, argmax) pair counted by hand must give the run's confusion matrix, and its diagonal the accuracy.
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.sum() == metrics["test_samples"] <= 48
    experiment = prepare(config)
    samples = [experiment.test_set[i] for i in range(len(experiment.test_set))]
    inputs = torch.stack([x for x, _ in samples])
    with torch.no_grad():
        predictions = load_trained(out / "best.pt").model.run(experiment.encode(inputs)).logits.argmax(1).tolist()
    counted = np.zeros_like(confusion)
    for (_, label), prediction in zip(samples, predictions, strict=True):
        counted[int(label), prediction] += 1
    assert (confusion == counted).all()
    assert metrics["test_accuracy"] == pytest.approx(np.trace(counted) / len(samples))
    assert metrics["epochs"] == 2
    assert len(metrics["firing_rates"]) >= 2

    # A new input of the experiment's kind is classified by the trained model.
    new_file = {
        "nmnist": shared_data / "nmnist" / "Test" / "7" / sorted((shared_data / "nmnist" / "Test" / "7").iterdir())[0],
        "asl-dvs": root / "k" / "k_0001.mat",
        "weather": shared_data / "weather" / "rain" / "rain141.jpg",  # a GIF named .jpg
        "fashion-mnist": REPO / "docs" / "images" / "demo_raster.png",
        "cwru": shared_data / "cwru" / "0HP" / "105.mat",  # per-window standardisation in predict
        "cwru-crossload": shared_data / "cwru" / "2HP" / "107.mat",
    }.get(name)
    if new_file is not None:
        (answer,) = predict_files(out / "best.pt", [new_file])
        entry = answer["majority"] if "majority" in answer else answer
        assert entry["class"] in metrics["classes"]
        assert 0.0 <= answer.get("confidence", entry.get("share")) <= 1.0


def test_eval_predict_plot_on_cwru(shared_data, isolated, capsys) -> None:
    """The maintenance engineer's path: train at 0 HP, evaluate at 1 HP, classify a new record."""
    config = load_config(
        REPO / "configs" / "cwru.yaml",
        [
            "train.epochs=1",
            "train.max_batches=3",
            f"data.root={shared_data}",
            "log.progress=false",
            "data.options.class_set='9'",
            "data.options.normalize=train",
            "model.spec=8C7-TCN-SRM-MP8-16C5-TCN-SRM-MP8-FC9",
        ],
    )
    out = isolated / "run"
    train(config, out, log=lambda _: None)

    assert main(["eval", str(out / "best.pt"), "-o", "load=1", "--out", str(isolated / "eval.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["options"]["load"] == 1 and report["dataset"] == "cwru"
    assert len(report["confusion_matrix"]) == 9 and sum(map(sum, report["confusion_matrix"])) == report["samples"]
    assert set(report["per_class_accuracy"]) == set(report["classes"])
    assert json.loads((isolated / "eval.json").read_text()) == report
    # Normalisation comes from the checkpoint (0 HP training data), not from the 1 HP records.
    assert report["normalisation_from_checkpoint"]["std"] > 0

    record = shared_data / "cwru" / "2HP" / "107.mat"
    assert main(["predict", str(out / "best.pt"), str(record)]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    assert answer["file"] == str(record)
    n_windows = answer["majority"]["windows"]
    assert n_windows == len(answer["windows"]) == 121_265 // 2048  # 107.mat holds 121,265 samples at 12 kHz
    shares = [w["class"] for w in answer["windows"]].count(answer["majority"]["class"]) / n_windows
    assert answer["majority"]["share"] == pytest.approx(shares, abs=1e-4)

    assert main(["plot", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out


def test_predict_refuses_unknown_files(shared_data, isolated, capsys) -> None:
    config = load_config(
        REPO / "configs" / "fashion-mnist.yaml",
        [
            "train.epochs=1",
            "train.max_batches=1",
            f"data.root={shared_data}",
            "data.limit_train=100",
            "data.limit_test=20",
            "log.progress=false",
            "model.spec=FC10",
        ],
    )
    out = isolated / "run"
    train(config, out, log=lambda _: None)
    (isolated / "notes.txt").write_text("hello")
    assert main(["predict", str(out / "best.pt"), str(isolated / "notes.txt")]) == 1
    assert "cannot classify a .txt file with a model trained on fashion-mnist" in capsys.readouterr().err
    image = shared_data / "weather" / "shine" / "shine127.jpg"  # a PNG with alpha, named .jpg
    assert main(["predict", str(out / "best.pt"), str(image)]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    assert answer["class"] in FASHION_MNIST_CLASSES and 0 <= answer["confidence"] <= 1
