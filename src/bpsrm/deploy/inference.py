"""Using a trained model: evaluate a checkpoint on a dataset, classify new files.

``bpsrm eval CHECKPOINT``, ``bpsrm predict CHECKPOINT FILE...`` and ``bpsrm adapt
CHECKPOINT FILE... --out ADAPTED.pt`` call :func:`evaluate_checkpoint`,
:func:`bpsrm.deploy.prediction.predict_files` and
:func:`bpsrm.deploy.prediction.adapt_checkpoint`. A checkpoint carries its
config, class names, sample shape, the preprocessing of its training data
(:mod:`bpsrm.data.preprocess`: the one way from a file to the network input)
and an out-of-distribution calibration (:mod:`bpsrm.deploy.ood`), so new inputs
are prepared exactly as in training and inputs unlike the training data are
answered "unknown".
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from ..checks import real_value
from ..data import DATASETS, get_dataset
from ..data.base import check_option_names
from ..data.preprocess import (
    EVENT_SENSORS,
    EventPreprocess,
    ImagePreprocess,
    Preprocess,
    VibrationPreprocess,
    preprocess_from_dict,
)
from ..engine.checkpoint import checkpoint_path, load_checkpoint, load_model_state
from ..engine.config import Config, config_from_dict
from ..engine.evaluation import evaluate_model
from ..engine.experiment import make_model, set_statistics, tested_subset, without_augmentation
from ..errors import BpsrmError, CheckpointError, ParameterError, shown
from ..network.encoding import get_encoder
from ..network.models import SpikingNetwork
from .ood import OODCalibration

__all__ = ["TrainedModel", "load_trained", "evaluate_checkpoint", "evaluate_trained"]


@dataclass
class TrainedModel:
    """A model restored from a checkpoint, with what it needs to prepare inputs."""

    path: Path
    config: Config
    model: SpikingNetwork
    classes: list[str]
    sample_shape: tuple[int, ...]
    data_stats: dict[str, float]
    preprocess: Preprocess | None = None
    """How the training data was made from raw files (None for a dataset bpsrm cannot read files of)."""
    ood: OODCalibration | None = None
    """The out-of-distribution calibration of the training data, when the checkpoint keeps one."""
    state: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    """The checkpoint as read (for writing an adapted copy)."""

    def encode(self, x: Tensor) -> Tensor:
        """Samples ``[B, ...]`` as the sequence ``[T, B, ...]`` the model was trained on (its config's encoder)."""
        return get_encoder(self.config.encoder.name, self.config.model.time_steps)(x)


def load_trained(checkpoint: str | Path) -> TrainedModel:
    """Restore the model of a ``best.pt`` / ``last.pt`` checkpoint (read safely)."""
    path = checkpoint_path(checkpoint)
    state = load_checkpoint(path)
    config, sample_shape, classes, stats = _checked_fields(state, path)
    try:
        model = make_model(config, sample_shape, len(classes), saved=True)
    except BpsrmError as exc:
        raise CheckpointError(f"{path}: its config does not build a model for its classes and shape ({exc})") from None
    load_model_state(model, state["model"], path)
    model.eval()
    if "preprocess" in state:  # None: a dataset bpsrm cannot read files of
        raw = state["preprocess"]
        preprocess = preprocess_from_dict(raw, str(path)) if raw is not None else None
    else:  # written before checkpoints kept it
        preprocess = _legacy_preprocess(config, sample_shape, stats)
    if isinstance(preprocess, VibrationPreprocess) and preprocess.normalize == "train" and preprocess.mean is None:
        raise CheckpointError(f"{path}: its preprocessing normalises by the training data's mean and std, not kept")
    ood = OODCalibration.from_dict(state["ood"], str(path)) if state.get("ood") else None
    if ood is not None and ood.means.shape[0] != len(classes):
        raise CheckpointError(
            f"{path}: its out-of-distribution calibration has {ood.means.shape[0]} class means "
            f"for {len(classes)} classes"
        )
    return TrainedModel(path, config, model, classes, sample_shape, stats, preprocess, ood, state)


def _checked_fields(state: dict[str, Any], path: Path) -> tuple[Config, tuple[int, ...], list[str], dict[str, float]]:
    """The config, sample shape, class names and data statistics of a checkpoint, each checked."""

    def bad(key: str, expected: str) -> CheckpointError:
        return CheckpointError(f"{path}: the checkpoint's {key} must be {expected}, got {shown(state.get(key))}")

    for key in ("config", "sample_shape", "classes", "model"):
        if key not in state:
            raise CheckpointError(f"{path}: not a trained bpsrm model (the checkpoint has no {key!r})")
    if not isinstance(state["config"], dict):
        raise bad("config", "a mapping")
    try:
        config = config_from_dict(state["config"])
    except BpsrmError as exc:
        raise CheckpointError(f"{path}: the checkpoint's config is not valid ({exc})") from None
    shape = state["sample_shape"]
    if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and s >= 1 for s in shape) or not shape:
        raise bad("sample_shape", "a list of sizes >= 1")
    classes = state["classes"]
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) for c in classes):
        raise bad("classes", "a list of class names")
    stats = state.get("data_stats", {})
    if not isinstance(stats, dict) or not all(
        isinstance(v, (int, float)) and math.isfinite(real_value(v))
        for v in stats.values()  # a bool is NaN to it
    ):
        raise bad("data_stats", "a mapping of names to finite numbers")
    return config, tuple(shape), list(classes), {str(k): float(v) for k, v in stats.items()}


def _changed_options(name: str, trained: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The options in ``given`` whose value differs from the training's (or from the reader's default when the
    training left the option unset)."""
    try:
        defaults = {
            key: p.default
            for key, p in inspect.signature(DATASETS[name]).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
    except (KeyError, TypeError, ValueError):  # a reader without a signature to read
        defaults = {}
    missing = object()
    return {key: value for key, value in given.items() if trained.get(key, defaults.get(key, missing)) != value}


def _as_trained(trained: dict[str, Any], changed: dict[str, Any]) -> str:
    """The trained values of the changed options, as ``key=value`` (or "its training options" when none changed)."""
    shown = [f"{key}={trained[key]!r}" if key in trained else f"{key} unset" for key in changed]
    return ", ".join(shown) if shown else "its training options"


def _legacy_preprocess(config: Config, shape: tuple[int, ...], stats: dict[str, float]) -> Preprocess | None:
    """The preprocessing of a checkpoint written before checkpoints kept it (rebuilt from its config)."""
    name, options = config.data.name, config.data.options
    if name == "cwru":
        known = {f.name for f in dataclasses.fields(VibrationPreprocess) if f.init} - {"mean", "std", "sample_rate_hz"}
        chosen = {k: v for k, v in options.items() if k in known}
        return VibrationPreprocess(**chosen, mean=stats.get("mean"), std=stats.get("std"))
    if name in ("nmnist", "asl-dvs"):
        frames = {k: options[k] for k in ("time_steps", "mode", "downsample") if k in options}
        return EventPreprocess(name, EVENT_SENSORS[name], **frames)
    if len(shape) == 3 and shape[0] in (1, 3):
        return ImagePreprocess(shape[0], shape[1], shape[2])
    return None


def evaluate_checkpoint(
    checkpoint: str | Path,
    root: str | Path | None = None,
    options: dict[str, Any] | None = None,
    split: str = "test",
    adapt: bool = False,
    run_subset: bool = False,
) -> dict[str, Any]:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint on ``split``.

    ``options`` override the dataset options of the training config (e.g.
    ``{"load": 2, "class_set": "9"}`` to diagnose another load). Normalisation
    statistics come from the checkpoint (its training data), never from the
    evaluated data; with ``adapt`` the normalisation layers' statistics are first
    re-estimated from the evaluated inputs, without their labels (AdaBN,
    :mod:`bpsrm.deploy.adapt`); the report's ``adapted_here`` says so,
    ``checkpoint_adapted_from`` names the checkpoint ``bpsrm adapt`` made this
    one from (None for a trained one), and ``adapted`` whether either holds.

    ``run_subset``: a run trained with ``data.limit_test`` tested a random ``limit_test`` of the test samples
    (:func:`~bpsrm.engine.experiment.tested_subset`); evaluate those same samples, whose accuracy is the run's
    ``test_accuracy``, rather than all of them. Refused with options that change the samples, another split, or a
    run that tested every sample or none.
    """
    return evaluate_trained(load_trained(checkpoint), root, options, split, adapt, run_subset)


def evaluate_trained(
    trained: TrainedModel,
    root: str | Path | None = None,
    options: dict[str, Any] | None = None,
    split: str = "test",
    adapt: bool = False,
    run_subset: bool = False,
) -> dict[str, Any]:
    """:func:`evaluate_checkpoint` of a model already loaded (its weights are changed by ``adapt``)."""
    data_config = trained.config.data
    check_option_names(options or {}, "options")
    merged = without_augmentation({**data_config.options, **(options or {})})
    dataset = get_dataset(data_config.name, split, root=root if root is not None else data_config.root, **merged)
    if list(dataset.classes) != trained.classes:
        raise ParameterError(
            f"{trained.path}: the model was trained on classes {trained.classes}, "
            f"the dataset has {list(dataset.classes)}"
        )
    if tuple(dataset.input_shape) != tuple(trained.sample_shape):
        changed = _changed_options(data_config.name, data_config.options, options or {})
        given = f" with the options {changed} (-o)" if changed else ""
        raise ParameterError(
            f"{trained.path}: the model takes samples of shape {tuple(trained.sample_shape)}, the dataset gives "
            f"{tuple(dataset.input_shape)}{given}; options that shape a sample must stay as the model was trained "
            f"({_as_trained(data_config.options, changed)})"
        )
    if "mean" in trained.data_stats:
        set_statistics(dataset, trained.data_stats["mean"], trained.data_stats["std"])
    changed = _changed_options(data_config.name, without_augmentation(data_config.options), merged)
    as_trained = split == "test" and not changed  # the samples the run tested, or a subset of them
    limit = data_config.limit_test if trained.config.train.test else None
    evaluated = _run_test_subset(trained, dataset, as_trained) if run_subset else dataset
    batch_size = trained.config.train.eval_batch_size
    if adapt:
        from .adapt import adapt_on_samples

        adapt_on_samples(trained.model, evaluated, trained.encode, batch_size)  # the labels are dropped
    result = evaluate_model(trained.model, evaluated, trained.encode, len(trained.classes), batch_size)
    warnings = [type(dataset).training_overlap(data_config.options, merged)]
    if as_trained and limit is not None and limit < result["samples"]:  # the run's test_accuracy is not this
        warnings.append(
            f"this accuracy is over all {result['samples']} test samples; the run's test_accuracy was over a random "
            f"{limit} of them (data.limit_test; --run-subset evaluates those)"
        )
    shown_warnings = [warning for warning in warnings if warning is not None]
    return {
        **({"warning": "; ".join(shown_warnings)} if shown_warnings else {}),
        "checkpoint": str(trained.path),
        "dataset": data_config.name,
        "split": split,
        "run_subset": run_subset,
        "options": merged,
        # "adapted": false beside the checkpoint it was adapted from read as a contradiction: either way now
        "adapted": adapt or _adapted_from(trained.state) is not None,
        "adapted_here": adapt,
        "checkpoint_adapted_from": _adapted_from(trained.state),
        **_trained_until(trained.state),
        "location": _display_path(dataset.location),
        "samples": result["samples"],
        "accuracy": result["accuracy"],
        "per_class_accuracy": dict(zip(trained.classes, result["per_class_accuracy"], strict=True)),
        "classes": trained.classes,
        "confusion_matrix": result["confusion_matrix"],
        "firing_rates": dict(zip(trained.model.spiking_layer_names(), result["firing_rates"], strict=True)),
        "normalisation_from_checkpoint": trained.data_stats,
    }


def _run_test_subset(trained: TrainedModel, dataset: Any, as_trained: bool) -> Any:
    """The test samples the run drew with ``data.limit_test`` (:func:`~bpsrm.engine.experiment.tested_subset`, as
    the trainer draws them); a ParameterError where there is no such subset."""
    config = trained.config
    limit = config.data.limit_test
    if not config.train.test:
        raise ParameterError(
            f"{trained.path}: the run tested no samples (train.test: false); evaluate without --run-subset"
        )
    if not as_trained:
        raise ParameterError(
            f"{trained.path}: --run-subset evaluates the test samples the run tested, so it takes the test split "
            "with the run's own dataset options (no --split train, no -o)"
        )
    if limit is None or limit >= len(dataset):
        raise ParameterError(
            f"{trained.path}: the run tested all {len(dataset)} test samples "
            f"(data.limit_test: {limit}); evaluate without --run-subset"
        )
    return tested_subset(dataset, config)


def _trained_until(state: dict[str, Any]) -> dict[str, int | None]:
    """How far the checkpoint's weights were trained: ``checkpoint_epoch``, the epochs they hold (best.pt: the
    chosen epoch), and ``checkpoint_step``, for a last.pt written within an epoch (train.checkpoint_steps), the
    steps of the next epoch done on top of them (None at an epoch's end). None where the checkpoint does not say."""
    epoch, partial = state.get("epoch"), state.get("partial")
    step = partial.get("step") if isinstance(partial, dict) else None
    return {
        "checkpoint_epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        "checkpoint_step": step if isinstance(step, int) and not isinstance(step, bool) else None,
    }


def _adapted_from(state: dict[str, Any]) -> str | None:
    """The checkpoint that ``bpsrm adapt`` made this one from (its ``adapted`` record), or None for a trained one.
    ``adapted_here`` in a report says whether this evaluation re-estimated the statistics (``--adapt``); this says
    whether the checkpoint's own were re-estimated before."""
    record = state.get("adapted")
    if record is None:
        return None
    source = record.get("from") if isinstance(record, dict) else None
    return source if isinstance(source, str) else "(a record without its source)"


def _display_path(path: Path) -> str:
    """A path relative to the working directory where that is short, for reports that get shared."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if relative.count("..") <= 2 else str(path)
