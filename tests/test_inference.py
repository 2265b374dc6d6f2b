"""bpsrm.deploy.inference: checkpoints written here by hand are restored and evaluated, and every figure of the
report is checked against a pencil computation on a six-sample dataset; malformed checkpoints must give
a bpsrm error that names the file.

The network FC3-SRM-FC3 runs one time step on direct-encoded samples x of 3 values, normalised with the
checkpoint's statistics z = (x - 1) / 2. Its first layer is the identity, so the SRM layer (theta = 1,
u[0] = z) fires o = [z >= 1] = [x >= 3]; the readout is the identity plus the bias [0.3, 0.2, 0.5], and
with T = 1 its membrane is o + b: argmax picks 0 whenever o0 = 1 and o2 = 0, 1 for o = [0, 1, 0],
2 otherwise.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from bpsrm.data.base import DATASETS, SampleDataset
from bpsrm.data.preprocess import EventPreprocess, ImagePreprocess, preprocess_from_dict
from bpsrm.deploy.inference import evaluate_checkpoint, evaluate_trained, load_trained
from bpsrm.engine.checkpoint import save_checkpoint
from bpsrm.engine.config import config_from_dict, config_to_dict
from bpsrm.engine.experiment import make_model
from bpsrm.errors import CheckpointError, ConfigError, DataError, ParameterError

CLASSES = ["a", "b", "c"]
TEST_X = [[5.0, 0, 0], [0, 4, 0], [0, 0, 3], [2.9, 2.9, 0], [3, 3, 0], [0, 5, 7]]
TEST_Y = [0, 1, 2, 0, 1, 2]
TRAIN_X = [[6.0, 0, 0], [0, 0, 0]]
TRAIN_Y = [0, 2]


class Probe(SampleDataset):
    """Six test and two train samples of 3 values; ``scale`` multiplies them, ``augment_shift`` (an
    augmentation, so evaluation must switch it off) subtracts 100 x its value."""

    name = "inference-probe"

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        scale: float = 1.0,
        augment_shift: float = 0.0,
        width: int = 3,
    ) -> None:
        x, y = (TEST_X, TEST_Y) if split == "test" else (TRAIN_X, TRAIN_Y)
        self.split, self.location = split, Path(root) if root is not None else Path("probe")
        self.x = (torch.tensor(x) * scale - 100.0 * augment_shift)[:, :width]  # width < 3: a sample of another shape
        self.targets, self.classes, self.input_shape = list(y), list(CLASSES), (min(width, 3),)
        self.mean: float | None = None
        self.std: float | None = None

    def set_statistics(self, mean: float | None, std: float | None) -> None:
        self.mean, self.std = mean, std

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.x[index]
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, self.targets[index]


@pytest.fixture(autouse=True)
def _probe_dataset(monkeypatch) -> None:
    monkeypatch.setitem(DATASETS, Probe.name, Probe)


RAW_CONFIG = {
    "data": {"name": "inference-probe", "options": {"augment_shift": 1.0}},
    "model": {"spec": "FC3-SRM-FC3", "time_steps": 1},
    "encoder": {"name": "direct"},
    "train": {"eval_batch_size": 4},
}


def _model_state(raw_config: dict, sample_shape, classes: int, biases=(0.3, 0.2, 0.5)) -> dict:
    """The state of the configured model with its linear layers set by hand: identities and biases."""
    model = make_model(config_from_dict(raw_config), tuple(sample_shape), classes)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, layer in enumerate(linears):
            layer.weight.zero_()
            if i < 2:
                layer.weight.copy_(torch.eye(3))
            if layer.bias is not None:
                layer.bias.copy_(torch.tensor(biases) if i == len(linears) - 1 else torch.zeros(layer.out_features))
    return model.state_dict()


def _payload(**changes) -> dict:
    payload = {
        "model": _model_state(RAW_CONFIG, (3,), 3),
        "config": config_to_dict(config_from_dict(RAW_CONFIG)),
        "classes": list(CLASSES),
        "sample_shape": [3],
        "data_stats": {"mean": 1, "std": 2},
        "preprocess": None,
        "epoch": 3,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not _DROP}


_DROP = object()


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return save_checkpoint(tmp_path / "run" / "best.pt", _payload())


# ------------------------------------------------------------------------------------------ load ----
def test_load_trained_restores_what_was_written(checkpoint) -> None:
    trained = load_trained(checkpoint)
    assert trained.path == checkpoint and trained.classes == CLASSES
    assert trained.sample_shape == (3,) and trained.data_stats == {"mean": 1.0, "std": 2.0}
    assert all(isinstance(v, float) for v in trained.data_stats.values())
    assert trained.preprocess is None and trained.ood is None and trained.state["epoch"] == 3
    assert trained.config.model.spec == "FC3-SRM-FC3" and not trained.model.training
    weights = [m.weight for m in trained.model.modules() if isinstance(m, nn.Linear)]
    biases = [m.bias for m in trained.model.modules() if isinstance(m, nn.Linear)]
    assert all(torch.equal(w, torch.eye(3)) for w in weights)
    assert biases[0].tolist() == [0, 0, 0] and biases[1].tolist() == pytest.approx([0.3, 0.2, 0.5])


def test_encode_is_the_configured_encoder(tmp_path) -> None:
    raw = {**RAW_CONFIG, "model": {"spec": "FC3-SRM-FC3", "time_steps": 3}}
    path = save_checkpoint(tmp_path / "t3.pt", _payload(model=_model_state(raw, (3,), 3), config=raw))
    x = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, 0.25]])
    encoded = load_trained(path).encode(x)
    assert encoded.shape == (3, 2, 3) and all(torch.equal(encoded[t], x) for t in range(3))


def test_predictions_by_hand(checkpoint) -> None:
    """The restored model on the normalised test samples: spikes [x >= 3], then argmax(o + b)."""
    trained = load_trained(checkpoint)
    z = (torch.tensor(TEST_X) - 1.0) / 2.0
    out = trained.model.run(trained.encode(z))
    assert out.spikes[0][0].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert out.logits.argmax(1).tolist() == [0, 1, 2, 2, 0, 2]
    assert out.logits[3].tolist() == pytest.approx([0.3, 0.2, 0.5])  # no spike: the bias alone


def test_a_kept_preprocessing_record_is_restored(tmp_path) -> None:
    record = {"kind": "image", "channels": 1, "height": 28, "width": 28}
    path = save_checkpoint(tmp_path / "p.pt", _payload(preprocess=record))
    assert load_trained(path).preprocess == ImagePreprocess(1, 28, 28)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"kind": "events", "reader": "nmnist", "sensor_size": []}, "sensor_size must be (width, height), got []"),
        ({"kind": "events", "reader": "nmnist", "sensor_size": ["a", "b"]}, "sensor width must be a whole number"),
        ({"kind": "events", "reader": "nmnist", "sensor_size": [64, 64]}, "(64, 64) is not the nmnist sensor"),
        (
            {"kind": "events", "reader": "nmnist", "sensor_size": [34, 34], "time_steps": 10**9},
            "time_steps=1000000000 with downsample=1 makes frames of 2312000000000 values",  # bincount: 16.8 TiB
        ),
        (
            {"kind": "events", "reader": "asl-dvs", "sensor_size": [240, 180], "time_steps": 10**5},
            "frames of 8640000000 values per sample",  # 100,000 x 2 x 180 x 240
        ),
        ({"kind": "events", "reader": "nmnist", "sensor_size": [34, 34], "mode": "loud"}, "mode must be one of"),
        ({"kind": "events", "reader": "nmnist", "sensor_size": [34, 34], "downsample": 0}, "downsample must be"),
        ({"kind": "vibration", "window": 0}, "window must be a whole number in [2, 4194304], got 0"),
        ({"kind": "vibration", "window": "2048"}, "window must be a whole number in [2, 4194304], got '2048'"),
        ({"kind": "vibration", "sample_rate_hz": 0}, "sample_rate_hz must be a finite number > 0, got 0"),
        ({"kind": "vibration", "mean": 0.1}, "mean and std come together"),
        ({"kind": "vibration", "mean": 0.0, "std": -1.0}, "std must be a finite number > 0, got -1.0"),
        ({"kind": "vibration", "speed_normalize": "yes"}, "speed_normalize must be true or false, got 'yes'"),
        ({"kind": "vibration", "level_range": [0.5]}, "level_range must be a pair [low, high] or null, got [0.5]"),
        ({"kind": "vibration", "level_range": "0.1-0.5"}, "level_range must be a pair [low, high] or null"),
        ({"kind": "vibration", "level_range": [-0.1, 0.5]}, "level_range's low end must be a finite number > 0"),
        ({"kind": "vibration", "level_range": [0, 0.5]}, "level_range's low end must be a finite number > 0, got 0"),
        ({"kind": "vibration", "level_range": [0.1, float("nan")]}, "level_range's high end must be a finite number"),
        ({"kind": "vibration", "level_range": [0.1, -1]}, "level_range's high end must be a finite number > 0"),
        ({"kind": "vibration", "level_range": [0.5, 0.1]}, "low end must not exceed its high end, got [0.5, 0.1]"),
        ({"kind": "image", "channels": 1, "height": -28, "width": 28}, "height must be a whole number in [1, 16384]"),
        ({"kind": "image", "channels": 2, "height": 28, "width": 28}, "channels must be 1 (grey) or 3 (RGB), got 2"),
    ],
)
def test_a_preprocessing_record_out_of_range_is_refused_naming_the_checkpoint(raw, fragment) -> None:
    """Found by a fuzzing audit: these values used to pass and fail later, in predict, as IndexError,
    ValueError, TypeError, ZeroDivisionError or a 16.8 TiB allocation, or blame the input file."""
    with pytest.raises(DataError) as info:
        preprocess_from_dict(raw, "x.pt")
    assert str(info.value).startswith("x.pt: unreadable") and fragment in str(info.value)


def test_a_vibration_model_normalised_on_training_data_needs_its_statistics(tmp_path) -> None:
    record = {"kind": "vibration", "window": 256, "normalize": "train"}
    path = save_checkpoint(tmp_path / "nostats.pt", _payload(preprocess=record))
    with pytest.raises(CheckpointError, match=r"nostats.pt: its preprocessing normalises by the training data"):
        load_trained(path)


def test_a_tensor_in_a_preprocessing_record_is_refused_not_compared() -> None:
    """``tensor not in (1, 3)`` raised RuntimeError (a tensor's truth is ambiguous), past preprocess_from_dict."""
    for raw in (
        {"kind": "image", "channels": torch.tensor([1, 3]), "height": 28, "width": 28},
        {"kind": "events", "reader": "nmnist", "sensor_size": [34, 34], "mode": torch.tensor([1, 2])},
        {"kind": "vibration", "normalize": torch.tensor([1, 2])},
    ):
        with pytest.raises(DataError, match=r"x\.pt: unreadable"):
            preprocess_from_dict(raw, "x.pt")


def test_a_sample_shape_too_large_for_memory_is_refused_before_its_probe_is_allocated(tmp_path, monkeypatch) -> None:
    """The probe of one sample, [T, 1, 1, 200000, 200000] float32 (596 GiB at T = 4), was asked of the allocator."""
    monkeypatch.setattr("bpsrm.engine.experiment.physical_memory", lambda: 16 << 30)  # known, whatever the machine
    path = save_checkpoint(tmp_path / "huge.pt", _payload(sample_shape=[1, 200_000, 200_000]))
    with pytest.raises(CheckpointError, match=r"huge.pt: .*samples of shape \(1, 200000, 200000\) .* GiB as one input"):
        load_trained(path)


@pytest.mark.parametrize(
    ("data", "shape", "stats", "want"),
    [
        ("nmnist", (6, 2, 34, 34), {}, EventPreprocess("nmnist", (34, 34), time_steps=6, mode="count")),
        ("asl-dvs", (10, 2, 45, 60), {}, EventPreprocess("asl-dvs", (240, 180), downsample=4)),
        ("weather", (3, 8, 8), {}, ImagePreprocess(3, 8, 8)),
        ("my-tables", (3,), {}, None),
        (
            "cwru",
            (1, 256),
            {"mean": 0.5, "std": 2.0},
            {"kind": "vibration", "window": 256, "normalize": "train", "features": "raw", "mean": 0.5, "std": 2.0},
        ),
    ],
)
def test_checkpoints_older_than_the_preprocessing_record(tmp_path, data, shape, stats, want) -> None:
    """Without a "preprocess" entry it is rebuilt from the config: the sensor of each event camera
    (N-MNIST 34 x 34, ASL-DVS 240 x 180), the image size from the sample shape, CWRU's window options
    and statistics; nothing for data bpsrm cannot read files of."""
    options = {
        "nmnist": {"time_steps": 6, "mode": "count"},
        "asl-dvs": {"downsample": 4},
        "cwru": {"window": 256, "normalize": "train", "stride": 128},
    }.get(data, {})
    events = data in ("nmnist", "asl-dvs")
    raw = {
        **RAW_CONFIG,
        "data": {"name": data, "options": options},
        "model": {"spec": "FC2", "time_steps": shape[0] if events else 1},
        "encoder": {"name": "frames" if events else "direct"},
    }
    model = make_model(config_from_dict(raw), shape, 2)
    payload = _payload(model=model.state_dict(), config=raw, classes=["x", "y"])
    payload.pop("preprocess")
    payload.update(sample_shape=list(shape), data_stats=stats)
    trained = load_trained(save_checkpoint(tmp_path / "legacy.pt", payload))
    if isinstance(want, dict):
        want = preprocess_from_dict(want)
    assert trained.preprocess == want


# ------------------------------------------------------------------------------------- evaluate ----
def test_the_readers_defaults_are_those_the_legacy_preprocessing_assumes() -> None:
    """A checkpoint older than the preprocessing record is rebuilt from its config's options, and the defaults of
    the Preprocess dataclasses stand for the options its config left out: they must be the readers' own."""
    import dataclasses
    import inspect

    from bpsrm.data.vibration import VibrationPreprocess

    def defaults(cls: type) -> dict[str, object]:
        return {f.name: f.default for f in dataclasses.fields(cls) if f.init and f.default is not dataclasses.MISSING}

    pairs = [("nmnist", EventPreprocess), ("asl-dvs", EventPreprocess), ("cwru", VibrationPreprocess)]
    checked = 0
    for name, preprocess in pairs:
        reader = inspect.signature(DATASETS[name].__init__).parameters
        for option, value in defaults(preprocess).items():
            if option in reader:
                assert reader[option].default == value, (name, option, reader[option].default, value)
                checked += 1
    assert checked == 2 + 3 + 5  # time_steps, mode; + downsample; window, normalize, features, speed, rpm


def test_evaluate_checkpoint_report_by_hand(checkpoint, tmp_path, monkeypatch) -> None:
    """Predictions [0, 1, 2, 2, 0, 2] for labels [0, 1, 2, 0, 1, 2] (see the module docstring)."""
    monkeypatch.chdir(tmp_path)
    report = evaluate_checkpoint(checkpoint, root=tmp_path / "probe-data")
    assert report["checkpoint"] == str(checkpoint) and report["dataset"] == "inference-probe"
    assert report["split"] == "test" and report["adapted"] is False and report["adapted_here"] is False
    assert report["checkpoint_adapted_from"] is None
    assert report["options"] == {"augment_shift": 0.0}  # the augmentation is switched off
    assert report["location"] == "probe-data"  # relative to the working folder
    assert report["samples"] == 6 and report["classes"] == CLASSES
    assert report["confusion_matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class_accuracy"] == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    # spikes per sample 1, 1, 1, 0, 2, 2 of 3 neurons x 1 step
    assert report["firing_rates"] == pytest.approx({"SRM1 (FC3)": 7 / 18})
    assert report["normalisation_from_checkpoint"] == {"mean": 1.0, "std": 2.0}


def test_evaluating_a_run_tested_on_a_subset_says_so(tmp_path) -> None:
    """A run trained with data.limit_test=4 reported its accuracy on 4 test samples; bpsrm eval gives all 6, which
    read as the run's figure not given back (helper-89). The report now says so; the probe has 6 test samples."""
    raw = {**RAW_CONFIG, "data": {**RAW_CONFIG["data"], "limit_test": 4}}
    path = save_checkpoint(tmp_path / "limited.pt", _payload(config=config_to_dict(config_from_dict(raw))))
    report = evaluate_checkpoint(path)
    assert report["samples"] == 6
    assert report["warning"] == (
        "this accuracy is over all 6 test samples; the run's test_accuracy was over a random 4 of them "
        "(data.limit_test; --run-subset evaluates those)"
    )
    assert "warning" not in evaluate_checkpoint(path, split="train")  # 2 training samples: no limit there
    assert "warning" not in evaluate_checkpoint(path, options={"scale": 2.0})  # other data: the run never saw it
    raw["data"]["limit_test"] = 6  # a limit the split does not exceed: all samples, as the run had
    path = save_checkpoint(tmp_path / "all.pt", _payload(config=config_to_dict(config_from_dict(raw))))
    assert "warning" not in evaluate_checkpoint(path)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_run_subset_is_the_samples_the_trainer_tested(tmp_path, seed: int) -> None:
    """--run-subset evaluates the data.limit_test samples the trainer drew: the trainer's own test set
    (engine.experiment.prepare) names them; the probe's predictions [0, 1, 2, 2, 0, 2] for labels [0, 1, 2, 0, 1, 2]
    (the module docstring) give their confusion matrix by hand."""
    from bpsrm.engine.experiment import prepare

    raw = {
        **RAW_CONFIG,
        "seed": seed,
        "data": {**RAW_CONFIG["data"], "limit_test": 4, "val_fraction": 0},  # 2 training samples: none to spare
        "train": {**RAW_CONFIG["train"], "select": "last"},
    }
    config = config_from_dict(raw)
    path = save_checkpoint(tmp_path / "limited.pt", _payload(config=config_to_dict(config)))
    tested = prepare(config).test_set.indices  # the trainer's draw
    predictions, labels = [0, 1, 2, 2, 0, 2], [0, 1, 2, 0, 1, 2]
    matrix = [[sum(labels[i] == a and predictions[i] == b for i in tested) for b in range(3)] for a in range(3)]
    report = evaluate_checkpoint(path, run_subset=True)
    assert report["samples"] == 4 and report["run_subset"] is True and "warning" not in report
    assert report["confusion_matrix"] == matrix
    assert report["accuracy"] == pytest.approx(sum(predictions[i] == labels[i] for i in tested) / 4)
    with pytest.raises(ParameterError, match="takes the test split"):
        evaluate_checkpoint(path, split="train", run_subset=True)
    with pytest.raises(ParameterError, match="no --split train, no -o"):
        evaluate_checkpoint(path, options={"scale": 2.0}, run_subset=True)
    # the augmentation is off in every evaluation, so an augmentation option leaves the samples as the run's
    assert evaluate_checkpoint(path, options={"augment_shift": 2.0}, run_subset=True)["confusion_matrix"] == matrix
    raw["data"]["limit_test"] = 6
    path = save_checkpoint(tmp_path / "all.pt", _payload(config=config_to_dict(config_from_dict(raw))))
    with pytest.raises(ParameterError, match=r"tested all 6 test samples \(data.limit_test: 6\)"):
        evaluate_checkpoint(path, run_subset=True)
    raw["data"]["limit_test"], raw["train"]["test"] = 4, False  # a run that tested nothing: no subset, no note
    path = save_checkpoint(tmp_path / "untested.pt", _payload(config=config_to_dict(config_from_dict(raw))))
    with pytest.raises(ParameterError, match=r"tested no samples \(train.test: false\)"):
        evaluate_checkpoint(path, run_subset=True)
    assert "warning" not in evaluate_checkpoint(path)


def test_options_override_and_other_split(checkpoint) -> None:
    """scale = 2: spikes [2x >= 3] give [0, 1, 2, 0, 0, 2], accuracy 5/6; the train split has two samples."""
    report = evaluate_checkpoint(checkpoint, options={"scale": 2.0})
    assert report["options"] == {"augment_shift": 0.0, "scale": 2.0}
    assert report["confusion_matrix"] == [[2, 0, 0], [1, 1, 0], [0, 0, 2]] and report["accuracy"] == pytest.approx(
        5 / 6
    )
    train = evaluate_checkpoint(checkpoint, split="train")
    # [6, 0, 0] -> z = [2.5, -0.5, -0.5] -> class 0; [0, 0, 0] -> no spike -> class 2
    assert train["split"] == "train" and train["samples"] == 2 and train["accuracy"] == 1.0


def test_without_statistics_the_samples_are_not_normalised(tmp_path) -> None:
    """No data_stats: spikes [x >= 1], predictions [0, 1, 2, 0, 0, 2]."""
    path = save_checkpoint(tmp_path / "raw.pt", _payload(data_stats={}))
    report = evaluate_checkpoint(path)
    assert report["confusion_matrix"] == [[2, 0, 0], [1, 1, 0], [0, 0, 2]]
    assert report["normalisation_from_checkpoint"] == {}


def test_a_far_location_is_reported_in_full(checkpoint, tmp_path, monkeypatch) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    far = tmp_path.parent / "elsewhere"
    report = evaluate_trained(load_trained(checkpoint), root=far)
    assert os.path.relpath(far).count("..") > 2 and report["location"] == str(far)


def test_evaluating_on_other_classes_is_refused(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "other.pt", _payload(classes=["a", "b", "x"]))
    message = re.escape(f"{path}: the model was trained on classes ['a', 'b', 'x'], the dataset has ['a', 'b', 'c']")
    with pytest.raises(ParameterError, match=message):
        evaluate_checkpoint(path)


def test_an_option_that_changes_the_sample_shape_is_named(checkpoint) -> None:
    """`eval -o window=1024` on a model of 2048-sample windows failed inside the network, naming no option."""
    message = re.escape(
        f"{checkpoint}: the model takes samples of shape (3,), the dataset gives (2,) with the options {{'width': 2}} "
        "(-o); options that shape a sample must stay as the model was trained (width unset)"
    )
    with pytest.raises(ParameterError, match=message):
        evaluate_checkpoint(checkpoint, options={"width": 2, "scale": 1.0})


def test_adapt_needs_a_normalisation_layer(checkpoint) -> None:
    with pytest.raises(DataError, match="adapt: the model has no normalisation layer"):
        evaluate_checkpoint(checkpoint, adapt=True)


# ---------------------------------------------------------------------------------- malformed ----
MALFORMED = [
    pytest.param({"sample_shape": [4]}, CheckpointError, "another architecture", id="shape-of-other-weights"),
    pytest.param({"model": {"layers.0.module.weight": torch.eye(3)}}, CheckpointError, "missing", id="weights-missing"),
    pytest.param({"preprocess": {"kind": "sound"}}, DataError, "unknown preprocessing kind", id="preprocess-kind"),
    pytest.param({"preprocess": "image"}, DataError, "preprocessing record is a str", id="preprocess-type"),
    pytest.param({"ood": {"means": 1}}, DataError, "out-of-distribution calibration", id="ood"),
    pytest.param({"config": _DROP}, CheckpointError, "has no 'config'", id="no-config"),
    pytest.param({"classes": _DROP}, CheckpointError, "has no 'classes'", id="no-classes"),
    pytest.param({"sample_shape": _DROP}, CheckpointError, "has no 'sample_shape'", id="no-shape"),
    pytest.param({"sample_shape": "abc"}, CheckpointError, "sample_shape must be a list", id="shape-text"),
    pytest.param({"sample_shape": 3}, CheckpointError, "sample_shape must be a list", id="shape-int"),
    pytest.param({"data_stats": {"mean": "x"}}, CheckpointError, "data_stats must be a mapping", id="stats-text"),
    pytest.param({"data_stats": [1, 2]}, CheckpointError, "data_stats must be a mapping", id="stats-list"),
    pytest.param({"config": [1, 2]}, CheckpointError, "config must be a mapping", id="config-list"),
    pytest.param({"config": {**RAW_CONFIG, "bogus": 1}}, CheckpointError, "bogus", id="config-key"),
    pytest.param({"classes": ["a", "b", "c", "d"]}, CheckpointError, "classes", id="classes-vs-outputs"),
    pytest.param({"classes": "abc"}, CheckpointError, "classes must be a list", id="classes-text"),
]


@pytest.mark.parametrize(("changes", "error", "fragment"), MALFORMED)
def test_a_malformed_checkpoint_gives_a_bpsrm_error_naming_the_file(tmp_path, changes, error, fragment) -> None:
    path = save_checkpoint(tmp_path / "bad.pt", _payload(**changes))
    with pytest.raises(error) as info:
        load_trained(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_not_a_checkpoint_names_the_file(tmp_path) -> None:
    missing = tmp_path / "none.pt"
    with pytest.raises(CheckpointError, match=re.escape(f"{missing}: no such checkpoint file")):
        load_trained(missing)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=re.escape(f"{text}: not a readable bpsrm checkpoint")):
        load_trained(text)


def test_a_folder_given_to_predict_is_named_as_a_folder(checkpoint, tmp_path) -> None:
    """It was reported as 'no such file'."""
    from bpsrm.deploy.prediction import file_input

    trained = load_trained(checkpoint)
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))}: a folder, expected a file"):
        file_input(trained, tmp_path)
    with pytest.raises(DataError, match=r"absent\.png: no such file$"):
        file_input(trained, tmp_path / "absent.png")


def test_recording_options_for_an_image_model_are_refused(tmp_path) -> None:
    """--sample-rate, --rpm and --channel were read by nothing for a model of images, without a word."""
    from bpsrm.deploy.prediction import predict_files

    record = {"kind": "image", "channels": 1, "height": 28, "width": 28}
    path = save_checkpoint(tmp_path / "p.pt", _payload(preprocess=record))
    image = tmp_path / "x.png"
    image.write_bytes(b"not read: the options are refused first")
    expected = "--sample-rate, --channel: options of vibration recordings; the model was trained on inference-probe"
    with pytest.raises(ParameterError, match=re.escape(expected)):
        predict_files(path, [image], sample_rate_hz=1000.0, channel=0)
    with pytest.raises(ParameterError, match=re.escape(expected)):  # before a file is looked at (helper-63)
        predict_files(path, [tmp_path / "missing.png", image], sample_rate_hz=1000.0, channel=0)


def test_a_checkpoint_with_a_norm_option_it_never_read_still_loads(tmp_path) -> None:
    """build_model now refuses a norm option no norm of the spec reads; a checkpoint trained before that, with such
    an option in its config (here stats='time_channel' and no norm at all), was a valid model and still loads."""
    raw = {**RAW_CONFIG, "model": {**RAW_CONFIG["model"], "norm": {"stats": "time_channel"}}}
    with pytest.raises(ConfigError, match="norm option stats='time_channel' has no effect on 'FC3-SRM-FC3'"):
        make_model(config_from_dict(raw), (3,), 3)  # a new training is told
    path = save_checkpoint(tmp_path / "old.pt", _payload(config=config_to_dict(config_from_dict(raw))))
    trained = load_trained(path)
    assert trained.config.model.norm.stats == "time_channel"
    assert torch.equal(
        trained.model(torch.ones(1, 2, 3)),
        load_trained(save_checkpoint(tmp_path / "p.pt", _payload())).model(torch.ones(1, 2, 3)),
    )


@pytest.mark.parametrize(
    ("rate", "rpm", "warned"),
    [(11_000, 1500, False), (12_000, 3600, True), (10_000, None, True), (12_000, None, False)],
)
def test_the_low_rate_warning_counts_the_speed_normalisation(tmp_path, rate, rpm, warned) -> None:
    """With speed normalisation a recording is resampled from rate * reference_rpm / rpm: 11 kHz at 1500 rpm is
    13.2 kHz at the reference 1800 rpm (nothing missing), 12 kHz at 3600 rpm is 6 kHz (half the band empty); the
    warning compared the raw rate (helper-63)."""
    import numpy as np

    from bpsrm.data.vibration import VibrationPreprocess
    from bpsrm.deploy.prediction import _recording_input

    path = tmp_path / "r.npy"
    np.save(path, np.random.default_rng(0).normal(size=20_000))
    pre = VibrationPreprocess(window=256, sample_rate_hz=12_000.0, normalize="window", speed_normalize=rpm is not None)
    prepared = _recording_input(path, pre, float(rate), rpm, None)
    warning = (prepared.details or {}).get("warning")
    assert (warning is not None) == warned
    if warned:
        source = rate * 1800 / rpm if rpm else rate
        assert f"nothing between {source / 2:g} and 6000 Hz" in warning


def test_the_adapt_warning_says_what_a_dominant_answer_means() -> None:
    """ "unknown" taking most windows said "read as a class, and 'unknown' no longer catches them" (helper-63)."""
    from bpsrm.deploy.prediction import UNKNOWN, one_state_warning

    assert one_state_warning({"B021": 0.5, UNKNOWN: 0.5}, 10) is None
    fault = one_state_warning({"B021": 0.66, UNKNOWN: 0.34}, 29)
    assert fault is not None and fault.startswith(
        "after adaptation 66% of the 29 adaptation windows are answered 'B021'"
    )
    assert "'unknown' no longer catches them" in fault
    far = one_state_warning({UNKNOWN: 0.8, "B021": 0.2}, 100)
    assert far is not None and far.startswith(
        "after adaptation 80% of the 100 adaptation windows are answered unknown:"
    )
    assert "no longer catches" not in far and "not to be trusted" in far
