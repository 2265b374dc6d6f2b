"""Using a trained model: evaluate a checkpoint on a dataset, classify new files.

``bpsrm eval CHECKPOINT`` and ``bpsrm predict CHECKPOINT FILE...`` call
:func:`evaluate_checkpoint` and :func:`predict_files`. A checkpoint carries its
config, class names, sample shape and (for CWRU) the normalisation statistics
of its training data, so new inputs are prepared exactly as in training.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .data import get_dataset
from .data.vibration import VibrationPreprocess
from .encoding import get_encoder
from .engine.checkpoint import load_checkpoint, load_model_state
from .engine.config import Config, config_from_dict
from .engine.trainer import evaluate_model, make_model
from .errors import DataError, ParameterError
from .models import SpikingNetwork

__all__ = ["TrainedModel", "load_trained", "evaluate_checkpoint", "evaluate_trained", "predict_files", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class TrainedModel:
    """A model restored from a checkpoint, with what it needs to prepare inputs."""

    path: Path
    config: Config
    model: SpikingNetwork
    classes: list[str]
    sample_shape: tuple[int, ...]
    data_stats: dict[str, float]
    preprocess: dict[str, Any] | None = None
    """How the training data was made from raw files (vibration data), when the checkpoint keeps it."""

    def encode(self, x: Tensor) -> Tensor:
        """Samples ``[B, ...]`` as the sequence ``[T, B, ...]`` the model was trained on (its config's encoder)."""
        return get_encoder(self.config.encoder.name, self.config.model.time_steps)(x)


def load_trained(checkpoint: str | Path) -> TrainedModel:
    """Restore the model of a ``best.pt`` / ``last.pt`` checkpoint (read safely)."""
    path = Path(checkpoint)
    state = load_checkpoint(path)
    config = config_from_dict(state["config"])
    sample_shape = tuple(int(s) for s in state["sample_shape"])
    classes = [str(c) for c in state["classes"]]
    model = make_model(config, sample_shape, len(classes))
    load_model_state(model, state["model"], path)
    model.eval()
    stats = {str(k): float(v) for k, v in dict(state.get("data_stats", {})).items()}
    preprocess = state.get("preprocess")
    return TrainedModel(path, config, model, classes, sample_shape, stats, dict(preprocess) if preprocess else None)


def evaluate_checkpoint(
    checkpoint: str | Path,
    root: str | Path | None = None,
    options: dict[str, Any] | None = None,
    split: str = "test",
    adapt: bool = False,
) -> dict[str, Any]:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint on ``split``.

    ``options`` override the dataset options of the training config (e.g.
    ``{"load": 2, "class_set": "9"}`` to diagnose another load). Normalisation
    statistics come from the checkpoint (its training data), never from the
    evaluated data; with ``adapt`` the normalisation layers' statistics are first
    re-estimated from the evaluated inputs, without their labels (AdaBN,
    :mod:`bpsrm.adapt`).
    """
    return evaluate_trained(load_trained(checkpoint), root, options, split, adapt)


def evaluate_trained(
    trained: TrainedModel,
    root: str | Path | None = None,
    options: dict[str, Any] | None = None,
    split: str = "test",
    adapt: bool = False,
) -> dict[str, Any]:
    """:func:`evaluate_checkpoint` of a model already loaded (its weights are changed by ``adapt``)."""
    data_config = trained.config.data
    merged = {**data_config.options, **(options or {})}
    dataset = get_dataset(data_config.name, split, root=root if root is not None else data_config.root, **merged)
    if list(dataset.classes) != trained.classes:
        raise ParameterError(
            f"{trained.path}: the model was trained on classes {trained.classes}, "
            f"the dataset has {list(dataset.classes)}"
        )
    if "mean" in trained.data_stats:
        dataset.set_statistics(trained.data_stats["mean"], trained.data_stats["std"])  # type: ignore[attr-defined]
    batch_size = trained.config.train.eval_batch_size
    if adapt:
        from torch.utils.data import DataLoader

        from .adapt import adapt_norm_statistics

        order = torch.Generator().manual_seed(0)  # mixed batches; the labels are dropped
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=order)
        adapt_norm_statistics(trained.model, (inputs for inputs, _ in loader), trained.encode)
    result = evaluate_model(trained.model, dataset, trained.encode, len(trained.classes), batch_size)
    confusion = torch.tensor(result["confusion_matrix"])
    per_class = (confusion.diag().double() / confusion.sum(1).clamp_min(1).double()).tolist()
    return {
        "checkpoint": str(trained.path),
        "dataset": data_config.name,
        "split": split,
        "options": merged,
        "adapted": adapt,
        "location": _display_path(dataset.location),
        "samples": result["samples"],
        "accuracy": result["accuracy"],
        "per_class_accuracy": dict(zip(trained.classes, per_class, strict=True)),
        "classes": trained.classes,
        "confusion_matrix": result["confusion_matrix"],
        "firing_rates": dict(zip(trained.model.spiking_layer_names(), result["firing_rates"], strict=True)),
        "normalisation_from_checkpoint": trained.data_stats,
    }


def _display_path(path: Path) -> str:
    """A path relative to the working directory where that is short, for reports that get shared."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if relative.count("..") <= 2 else str(path)


def _image_input(path: Path, shape: tuple[int, ...]) -> Tensor:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - pillow is in the data extra
        raise DataError("reading images needs Pillow: pip install 'bpsrm[data]'") from None
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DataError(f"{path}: an image was given, but the model takes inputs of shape {list(shape)}")
    try:
        with Image.open(path) as image:
            image = image.convert("L" if shape[0] == 1 else "RGB").resize((shape[2], shape[1]), Image.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    array = array[None] if shape[0] == 1 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0)


def _event_input(path: Path, trained: TrainedModel) -> Tensor:
    from .data.events import events_to_frames

    options = {**_defaults(trained), **trained.config.data.options}
    if path.suffix.lower() == ".bin":
        from .data.nmnist import read_nmnist

        events, sensor = read_nmnist(path), (34, 34)
    else:
        from .data.asl_dvs import read_asl_dvs

        events, sensor = read_asl_dvs(path), (240, 180)
    frames = events_to_frames(
        events,
        sensor_size=sensor,
        time_steps=int(options.get("time_steps", 10)),
        mode=str(options.get("mode", "time")),
        downsample=int(options.get("downsample", 1)),
    )
    return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).unsqueeze(0)


def _defaults(trained: TrainedModel) -> dict[str, Any]:
    import inspect

    from .data import DATASETS

    cls = DATASETS[trained.config.data.name]
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def vibration_preprocess(trained: TrainedModel) -> VibrationPreprocess:
    """The checkpoint's way from a recording to the network input (rebuilt from the config for older checkpoints)."""
    if trained.preprocess is not None:
        return VibrationPreprocess.from_dict(trained.preprocess)
    options = trained.config.data.options
    known = {f.name for f in dataclasses.fields(VibrationPreprocess)} - {"mean", "std", "sample_rate_hz"}
    return VibrationPreprocess(
        **{k: v for k, v in options.items() if k in known},
        mean=trained.data_stats.get("mean"),
        std=trained.data_stats.get("std"),
    )


def _vibration_input(path: Path, trained: TrainedModel) -> tuple[Tensor, list[int]]:
    from .data.cwru import read_cwru_record_rpm

    preprocess = vibration_preprocess(trained)
    window = preprocess.window
    raw, rate, rpm = read_cwru_record_rpm(path)
    signal = preprocess.signal(raw, rate, rpm, str(path))
    if signal.size < window:
        raise DataError(
            f"{path}: the record holds {signal.size} samples at {preprocess.sample_rate_hz:g} Hz, "
            f"fewer than one window ({window})"
        )
    starts = list(range(0, signal.size - window + 1, window))
    if preprocess.normalize == "train" and preprocess.mean is None:
        raise DataError(f"{trained.path}: the checkpoint lacks the training normalisation statistics")
    windows = preprocess.windows(np.stack([signal[s : s + window] for s in starts]))
    return torch.from_numpy(windows), starts


@torch.no_grad()
def predict_files(checkpoint: str | Path, files: list[str | Path]) -> list[dict[str, Any]]:
    """Classify each file: an image, an N-MNIST ``.bin``, an ASL-DVS or CWRU ``.mat``.

    A CWRU record is cut into non-overlapping windows of the training window
    length; the answer lists every window's class and the record's majority
    class with its share of the windows.
    """
    trained = load_trained(checkpoint)
    dataset = trained.config.data.name
    results = []
    for item in files:
        path = Path(item)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        suffix = path.suffix.lower()
        starts: list[int] | None = None
        if suffix in IMAGE_SUFFIXES:
            inputs = _image_input(path, trained.sample_shape)
        elif suffix == ".bin" or (suffix == ".mat" and dataset == "asl-dvs"):
            inputs = _event_input(path, trained)
        elif suffix == ".mat" and dataset == "cwru":
            inputs, starts = _vibration_input(path, trained)
        else:
            raise DataError(
                f"{path}: cannot classify a {suffix or 'suffix-less'} file with a model trained on {dataset} "
                f"(images {', '.join(IMAGE_SUFFIXES)}; .bin for N-MNIST; .mat for CWRU or ASL-DVS)"
            )
        if tuple(inputs.shape[1:]) != trained.sample_shape:
            raise DataError(
                f"{path}: prepared input of shape {list(inputs.shape[1:])}, "
                f"the model takes {list(trained.sample_shape)}"
            )
        probabilities = torch.softmax(trained.model(trained.encode(inputs)), dim=1)
        confidence, predicted = probabilities.max(1)
        entries = [
            {"class": trained.classes[int(p)], "index": int(p), "confidence": round(float(c), 4)}
            for p, c in zip(predicted, confidence, strict=True)
        ]
        result: dict[str, Any] = {"file": str(path)}
        if starts is None:
            result.update(entries[0])
        else:
            for entry, start in zip(entries, starts, strict=True):
                entry["start_sample"] = start
            votes = Counter(e["class"] for e in entries)
            winner, count = votes.most_common(1)[0]
            result["windows"] = entries
            result["majority"] = {"class": winner, "share": round(count / len(entries), 4), "windows": len(entries)}
        results.append(result)
    return results
