"""Experiment configuration: typed, validated at the boundary.

A config is a YAML file read with a safe loader into nested frozen
dataclasses. Every key is checked: an unknown key, a value of the wrong type or
out of range is a :class:`~bpsrm.errors.ConfigError` naming the dotted key
(e.g. ``model.neuron.tau_m``) before any training starts. Command-line
overrides ``key.sub=value`` are parsed as YAML scalars and validated the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import errno
import functools
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..checks import MAX_SIDE, real_value
from ..errors import BpsrmError, ConfigError, ParameterError, shown
from ..neuron.params import SETTINGS, SRMParams

__all__ = [
    "Config",
    "AugmentConfig",
    "DataConfig",
    "ModelConfig",
    "NeuronConfig",
    "NormConfig",
    "EncoderConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "LogConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "flat_config",
    "apply_overrides",
    "parse_assignment",
    "override_value",
    "without_key",
    "type_name",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation of image samples ([C, H, W]) and event frames ([T, C, H, W]); validation and test
    data are never augmented."""

    hflip: bool = False
    """Mirror each training image (or recording's frames) left-right with probability 1/2."""
    shift: int = 0
    """Translate each training image (or all frames of a recording) by up to this many pixels in each direction."""
    drop: float = 0.0
    """Event frames only: drop each event with this probability (binomial thinning of the counts)."""
    rotate: float = 0.0
    """Rotate each training image (or all frames of a recording, moving each event) by an angle drawn from
    [-rotate, rotate] degrees about the centre."""
    scale: float = 0.0
    """Scale each training image (or recording's events) about the centre by a factor drawn from
    [1 - scale, 1 + scale]."""


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where, with which options. The validation split is carved from train
    (``val_fraction``), or, with ``val_options``, is the test split of the dataset with these options
    changed (model choice on other data, e.g. another bearing load)."""

    name: str = "fashion-mnist"
    """Dataset: fashion-mnist, fashion-mnist-demo, weather, nmnist, asl-dvs or cwru."""
    root: str | None = None
    """Folder searched first for the data; then $BPSRM_DATA, ~/.cache/bpsrm, /usr/share/datasets."""
    options: dict[str, Any] = field(default_factory=dict)
    """Options of the dataset reader (e.g. CWRU load, window; N-MNIST time_steps, folds, fold)."""
    val_fraction: float = 0.1
    """Share of the training split held out for validation (model choice); the test split is read once."""
    val_folds: int | None = None
    """Cross-validation on the training part: split it into this many folds (stratified, groups whole; the same
    folds for every seed) and validate on fold ``val_fold`` instead of a ``val_fraction`` share; null: no folds."""
    val_fold: int = 0
    """Which of the ``val_folds`` folds validates (0 .. val_folds-1)."""
    val_options: dict[str, Any] | None = None
    """Validate on the test split of the same dataset with these options changed instead (e.g. another load)."""
    limit_train: int | None = None
    """Use a random subset of this many samples of the training split (drawn with the seed; the validation share
    comes out of them); null: all."""
    limit_test: int | None = None
    """Use a random subset of this many test samples (drawn with the seed, another draw for each seed: seeds then
    differ in their test samples too, and ``bpsrm compare`` pairs only runs tested alike); null: all."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Training-time augmentation."""

    def __post_init__(self) -> None:
        from ..data.base import check_option_names

        try:
            check_option_names(self.options, "data.options")
            check_option_names(self.val_options or {}, "data.val_options")
        except ParameterError as exc:  # a ConfigError keeps its key as it is (no "data: " before it)
            raise ConfigError(str(exc)) from None


NeuronConfig = SRMParams
"""Options of every SRM layer: :class:`bpsrm.neuron.params.SRMParams` (one definition of the neuron's settings)."""


@dataclass(frozen=True)
class NormConfig:
    """Options of the norm layers named in the spec."""

    stats: Literal["channel", "time_channel"] = "channel"
    """TCN statistics: per channel over (t, b, s), or per (t, c) over (b, s)."""
    scale_by_threshold: bool = False
    """Start TCN's gamma at alpha * theta (as tdBN does) instead of 1."""
    alpha: float = 1.0
    """The alpha of scale_by_threshold and of tdBN."""
    eps: float = 1e-5
    """Added to the variance before the square root."""
    momentum: float = 0.1
    """Weight of the newest batch in the running statistics."""
    step_affine: bool = True
    """TCN: gamma, beta per (t, c); false: per c, the same at every step (foldable, NIR-exportable)."""


@dataclass(frozen=True)
class ModelConfig:
    """The network: spec string, T, neuron and norm options, readout reduction."""

    spec: str = "32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-FC128-SRM-FC10"
    """The layers, e.g. 32C3-TCN-SRM-MP2-FC10 (nCk conv, FCn linear, MPk/APk pooling, norms, SRM)."""
    time_steps: int = 4
    """T, the number of time steps every sample is run for."""
    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    """Options of every SRM layer."""
    norm: NormConfig = field(default_factory=NormConfig)
    """Options of the norm layers named in the spec."""
    readout: Literal["mean", "max", "last"] = "mean"
    """How the last layer's membrane potential over time becomes logits (a spec ending in FCn); a spec ending in SRM
    counts spikes, and takes mean only."""


@dataclass(frozen=True)
class EncoderConfig:
    """How samples become sequences: direct, rate, latency, frames or chunks."""

    name: Literal["direct", "rate", "latency", "frames", "chunks"] = "direct"
    """direct (the first layer sees the sample at every step), rate, latency, frames (events) or chunks."""


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser: AdamW or SGD (with momentum)."""

    name: Literal["adamw", "sgd"] = "adamw"
    """Optimiser."""
    lr: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 0.0
    """Weight decay (decoupled for AdamW)."""
    momentum: float = 0.9
    """SGD momentum."""


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule per step: cosine decay after a linear warm-up, or constant."""

    name: Literal["cosine", "constant"] = "cosine"
    """cosine (decay to min_lr_ratio * lr) or constant."""
    warmup_epochs: float = 0.0
    """Linear warm-up length in epochs (may be fractional)."""
    min_lr_ratio: float = 0.0
    """Final learning rate as a share of lr (cosine)."""


@dataclass(frozen=True)
class TrainConfig:
    """The loop: epochs, batch size, loss, clipping; ``max_batches`` caps batches per epoch (tiny runs);
    ``nonfinite``: on a NaN/Inf loss or gradient, ``stop`` with an error or ``skip`` the batch (counted)."""

    epochs: int = 10
    """Training epochs."""
    batch_size: int = 64
    """Samples per step (under torchrun: the global batch, shared among processes)."""
    eval_batch_size: int = 256
    """Samples per batch in validation and test."""
    loss: Literal["cross_entropy", "mse_count"] = "cross_entropy"
    """cross_entropy on the logits, or mse_count: the MSE of the logits against one-hot targets (spike counts over
    T where the spec ends in SRM, the membrane readout as it is where it ends in FCn)."""
    clip_grad_norm: float | None = 1.0
    """Clip the global gradient norm to this value; null: no clipping."""
    max_batches: int | None = None
    """Stop every epoch after this many batches (tiny runs); null: all."""
    label_smoothing: float = 0.0
    """Label smoothing of the cross-entropy (refused with mse_count, which it would not change)."""
    nonfinite: Literal["stop", "skip"] = "stop"
    """On a NaN/Inf loss or gradient: stop with an error, or skip the batch (counted)."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where the network trains (under torchrun: one GPU per process, nccl)."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Arithmetic of the training forward: float32, or autocast to bfloat16 / float16 (fp16 with loss scaling)."""
    test: bool = True
    """Test the chosen model at the end; false for model-choice runs (cross-validation on the training part):
    the final evaluation, firing rates and confusion matrix are then of the validation data, and no test
    figure is computed."""
    select: Literal["best_val", "last"] = "best_val"
    """Which epoch becomes best.pt: the best on validation (the highest accuracy; among epochs of equal accuracy, the
    lowest validation loss), or the last one (a fixed schedule, no data looked at)."""
    checkpoint_steps: int = 0
    """Also write last.pt every this many steps within an epoch (0: at epoch ends only); a resumed run continues
    from that step exactly. May change when a run is resumed."""
    ood_samples: int = 4096
    """Training samples (at most) that calibrate best.pt's out-of-distribution score, behind predict's "unknown";
    0: no calibration (e.g. for model-choice runs, whose checkpoints nobody deploys). May change when a run is
    resumed."""


@dataclass(frozen=True)
class LogConfig:
    """Logging: TensorBoard (needs the tensorboard package) and the progress bar."""

    tensorboard: bool = False
    """Also write TensorBoard logs (needs the tensorboard extra)."""
    progress: bool = True
    """Show a progress bar per epoch."""
    plots: bool = True
    """Draw the run's figures (learning curves, confusion matrix, raster, membrane, firing rates) at its end;
    false for many short runs whose figures nobody looks at."""


@dataclass(frozen=True)
class Config:
    """One experiment: data, model, encoder, optimiser, schedule, training loop and logging (YAML top level)."""

    experiment: str = "experiment"
    """Name of the experiment (run folders, logs)."""
    seed: int = 0
    """Random seed: CPU runs are bit-for-bit repeatable."""
    data: DataConfig = field(default_factory=DataConfig)
    """Which data."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The network."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """How samples become sequences."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser."""
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    """Learning-rate schedule."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The training loop."""
    log: LogConfig = field(default_factory=LogConfig)
    """Logging."""
    compile: bool = False
    """Run the training network under torch.compile."""


# Ranges: dotted key -> (check, what is expected).
_RANGES: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 4294967295] (numpy's seeds)"),
    "data.val_fraction": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "data.val_folds": (lambda v: v is None or v >= 2, "null or >= 2"),
    "data.val_fold": (lambda v: v >= 0, ">= 0"),
    "data.limit_train": (lambda v: v is None or v >= 1, "null or >= 1"),
    "data.limit_test": (lambda v: v is None or v >= 1, "null or >= 1"),
    "data.augment.shift": (lambda v: 0 <= v <= MAX_SIDE, f"in [0, {MAX_SIDE}] pixels"),  # augment.MAX_SHIFT
    "data.augment.drop": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "data.augment.rotate": (lambda v: 0 <= v <= 180, "in [0, 180] degrees"),
    "data.augment.scale": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "model.time_steps": (lambda v: v >= 1, ">= 1"),
    "model.norm.eps": (lambda v: v > 0, "> 0"),
    "model.norm.momentum": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "optim.lr": (lambda v: math.isfinite(v) and v > 0, "finite and > 0"),
    "optim.weight_decay": (lambda v: v >= 0, ">= 0"),
    "optim.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "schedule.warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "schedule.min_lr_ratio": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "train.epochs": (lambda v: v >= 1, ">= 1"),
    "train.batch_size": (lambda v: v >= 1, ">= 1"),
    "train.eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "train.clip_grad_norm": (lambda v: v is None or v > 0, "null or > 0"),
    "train.max_batches": (lambda v: v is None or v >= 1, "null or >= 1"),
    "train.checkpoint_steps": (lambda v: v >= 0, ">= 0"),
    "train.ood_samples": (lambda v: v >= 0, ">= 0"),
    "train.label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
}


def range_of(key: str) -> tuple[typing.Callable[[Any], bool], str] | None:
    """(check, what is expected) of a dotted config key; the neuron's come from :data:`bpsrm.neuron.params.SETTINGS`."""
    section, _, name = key.rpartition(".")
    if section == "model.neuron" and name in SETTINGS:
        setting = SETTINGS[name]
        if setting.range is not None:
            return setting.range.holds, setting.range.text()
        if setting.choices is not None:
            return setting.accepts, setting.expected()
        return None
    return _RANGES.get(key)


def type_name(tp: Any) -> str:
    """How errors and the config reference (:mod:`bpsrm.docgen`) name a field's type: a Literal's values joined
    by " | ", a union's members by " or ", None as "null", else the class name."""
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


@functools.cache
def _yaml_loader() -> type:
    """PyYAML's safe loader, less one silence: a key given twice in one mapping is an error (YAML requires
    unique keys; PyYAML keeps the last, so a second ``train:`` block would drop the first without a word)."""
    import yaml

    class RepeatedKeyError(yaml.YAMLError):
        pass

    class UniqueKeyLoader(yaml.SafeLoader):
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.checked_mappings: set[int] = set()

        def flatten_mapping(self, node: Any) -> None:
            # A mapping is checked the first time it is flattened, before any merge (<<) has added its keys: a
            # mapping that overrides a merged key is fine; flattening changes a node, so it is checked only once.
            if id(node) not in self.checked_mappings:
                self.checked_mappings.add(id(node))
                self._check_unique_keys(node)
            super().flatten_mapping(node)

        def _check_unique_keys(self, node: Any) -> None:
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                try:  # the key as read: "yes" and "true" are one key, 1 and "1" are two
                    key = (type(value := self.construct_object(key_node)), value)
                    hash(key)
                except TypeError:
                    continue
                line = key_node.start_mark.line + 1
                if key in first_line:
                    raise RepeatedKeyError(
                        f"line {line}: the key {shown(key_node.value)} is given a second time (first on line "
                        f"{first_line[key]}); keys are unique: which one is meant?"
                    )
                first_line[key] = line

    # YAML 1.2's floats: PyYAML reads YAML 1.1, whose floats need a dot and a signed exponent, so `lr: 1e-3` and
    # `optim.lr=1e-3` were the text "1e-3" (and refused as not a number). add_implicit_resolver copies SafeLoader's
    # table into this class first: yaml.safe_load is left as it is. write_yaml quotes such text on the way out.
    _read_exponent_floats(UniqueKeyLoader)
    return UniqueKeyLoader


EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
"""A float with an exponent as YAML 1.2 writes it (``1e-3``, ``2.5E4``, ``1.0e3``), which YAML 1.1 reads as text;
the floats YAML 1.1 reads (with a dot) are PyYAML's own, and text such as ``08`` stays text."""


def _read_exponent_floats(cls: type) -> None:
    """Make a PyYAML loader read, or a dumper quote, :data:`EXPONENT_FLOAT` text as a float (the class's own table:
    add_implicit_resolver copies the inherited one first, so PyYAML's safe classes are left as they are)."""
    cls.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+.0123456789"))  # type: ignore[attr-defined]


@functools.cache
def _yaml_dumper() -> type:
    """PyYAML's safe dumper that quotes the text :func:`read_yaml` would read as a float (``'1e5'``), so that what
    :func:`write_yaml` writes reads back as the same data."""
    import yaml

    class QuotingDumper(yaml.SafeDumper):
        pass

    _read_exponent_floats(QuotingDumper)
    return QuotingDumper


def write_yaml(data: Any) -> str:
    """YAML text of plain ``data`` (keys in their order) that :func:`read_yaml` reads back as ``data``."""
    import yaml

    return str(yaml.dump(data, Dumper=_yaml_dumper(), sort_keys=False))


def yaml_problem(error: Exception) -> str:
    """A YAML error on one line: what is wrong and where (line and column), without PyYAML's excerpt of the text
    and its caret, which take several lines (an error of bpsrm is one line)."""
    import yaml

    if isinstance(error, yaml.MarkedYAMLError):
        what = "; ".join(part for part in (error.context, error.problem) if part) or "not valid YAML"
        mark = error.problem_mark or error.context_mark
        return what + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "")
    return " ".join(str(error).split())


def read_yaml(text: str) -> Any:
    """YAML text as plain data: the safe loader that refuses repeated keys (:func:`_yaml_loader`). Raises
    ``yaml.YAMLError`` for text that is not valid YAML, RecursionError for nesting deeper than Python's stack."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: no Python objects
    except ValueError as exc:  # a constructor's own: an int of more than 4,300 digits, a date like 2024-13-45
        raise yaml.YAMLError(f"a value cannot be read: {exc}") from None


def _check_free_values(value: Any, key: str, seen: set[int] | None = None) -> None:
    """The numbers of a mapping the schema does not type (``data.options``): integers within 64 bits, as every
    typed integer (a 4,000-digit hex integer ended in an OverflowError in a reader, and in yaml.safe_dump).
    Each list or mapping is walked once: YAML aliases share them (an alias bomb is 2**40 paths to one list)."""
    seen = set() if seen is None else seen
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else ((None, item) for item in value)
        for name, item in items:
            _check_free_values(item, key if name is None else f"{key}.{name}", seen)
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_64_bits(value, key)


def _check_64_bits(value: int, key: str) -> None:
    """An integer PyTorch and numpy can take: within 64 bits."""
    if not -(2**63) <= value < 2**63:
        raise ConfigError(f"{key}: expected a whole number of at most 64 bits, got {shown(value)}")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _convert(value, option, key)
            except ConfigError as exc:
                errors.append(exc)
        numeric = [exc for option, exc in zip(typing.get_args(tp), errors, strict=True) if option in (int, float)]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(numeric) == 1:
            raise numeric[0]  # float | None given inf: the float's own reason ("expected a finite number")
        raise ConfigError(f"{key}: expected {type_name(tp)}, got {shown(value)}")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: expected one of {type_name(tp)}, got {shown(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {shown(value)}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} keys, got {shown(value)}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {shown(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            _check_64_bits(value, key)
            return value
        raise ConfigError(f"{key}: expected a whole number, got {shown(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = real_value(value)  # an int beyond float's range is inf
            if not math.isfinite(number):  # no setting takes inf or nan ("no limit" is spelt null)
                raise ConfigError(f"{key}: expected a finite number, got {shown(value)}")
            return number
        raise ConfigError(f"{key}: expected a number, got {shown(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {shown(value)}")
    if origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            _check_free_values(value, key)
            return dict(value)
        raise ConfigError(f"{key}: expected a mapping with string keys, got {shown(value)}")
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - schema error


def _build(cls: type, raw: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), names, n=1)
        hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
        raise ConfigError(f"unknown key {prefix}{unknown[0]}{hint}; {prefix or 'the top level'} takes {names}")
    values = {}
    for name in names:
        if name in raw:
            key = prefix + name
            value = _convert(raw[name], hints[name], key)
            checked = range_of(key)
            if checked is not None:
                check, expected = checked
                try:
                    holds = check(value)
                except ParameterError as exc:  # a check that says why (a surrogate's module that cannot be loaded)
                    raise ConfigError(f"{key}: {exc}") from None
                if not holds:
                    raise ConfigError(f"{key}: expected {expected}, got {shown(raw[name])}")
            values[name] = value
    try:
        return cls(**values)
    except ParameterError as exc:  # a check of the dataclass itself (SRMParams)
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {exc}") from None


def config_from_dict(raw: dict[str, Any]) -> Config:
    """A validated :class:`Config` from plain data; checks the spec parses too."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of keys, got {type(raw).__name__}")
    config = _build(Config, raw)
    from ..network.models import parse_spec

    try:
        parse_spec(config.model.spec)
    except BpsrmError as exc:
        raise ConfigError(f"model.spec: {exc}") from None
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain data (for YAML, JSON and checkpoints) from a config dataclass."""
    return dataclasses.asdict(config)


def flat_config(config: Any) -> dict[str, Any]:
    """A config dataclass as ``{"a.b.c": value}`` (an empty mapping is one value)."""

    def flat(tree: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            if isinstance(value, dict) and value:
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    return flat(config_to_dict(config), "")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a copy of plain config data."""
    raw = copy.deepcopy(raw)  # nested mappings too: the caller's data stays as it was
    for item in overrides:
        key, value = parse_assignment(item, "override", "key.sub=value")
        _set_dotted(raw, key, value)
    return raw


def parse_assignment(item: str, what: str = "option", form: str = "KEY=VALUE") -> tuple[str, Any]:
    """``KEY=VALUE`` as (key, value), the value read as a YAML scalar or list (``3`` an int, ``true`` a bool,
    ``[0, 1]`` a list, ``'9'`` a string, nothing None): the one parser of config overrides and command-line
    options (``bpsrm eval -o``, ``bpsrm data info -o``)."""
    import yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{what} {shown(item)} must look like {form}")
    try:
        value = read_yaml(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {key.strip()}: cannot parse value {shown(text)} ({yaml_problem(exc)})") from None
    except RecursionError:
        raise ConfigError(f"{what} {key.strip()}: the value is nested too deeply to read") from None
    return key.strip(), value


_ABSENT: Any = object()


def override_value(overrides: Sequence[str], key: str, default: Any = _ABSENT) -> Any:
    """The value the last override of exactly ``key`` in ``overrides`` (``KEY=VALUE`` items) gives it, read as
    :func:`parse_assignment` reads it (``data.root="a b"`` is ``a b``, ``data.root=`` is None); ``default`` when no
    override names ``key`` (without a default, a :class:`ConfigError`). An override of a parent key
    (``data={root: x}``) is not looked into: the search scripts write leaf keys."""
    values = [value for name, value in map(parse_assignment, overrides) if name == key]
    if values:
        return values[-1]
    if default is _ABSENT:
        raise ConfigError(f"no override sets {key} (got {' '.join(overrides) or 'none'})")
    return default


def without_key(overrides: Sequence[str], key: str) -> list[str]:
    """``overrides`` less those that set ``key`` (read by :func:`parse_assignment`, so ``data.root =x`` is one)."""
    return [item for item in overrides if parse_assignment(item)[0] != key]


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config with a safe loader, apply overrides, validate every key."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is in the train extra
        raise BpsrmError("reading configs needs PyYAML: pip install 'bpsrm[train]'") from None
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:  # a name too long for the file system is quoted cut short (shown)
        where = shown(str(path)) if exc.errno == errno.ENAMETOOLONG else str(path)
        raise ConfigError(f"{where}: cannot read the config ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: a config must be UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # a name no file system takes ("embedded null byte"); after its subclass above
        raise ConfigError(f"{str(path)!r}: not a usable file name ({exc})") from None
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(exc)})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read (a config is a few levels deep)") from None
    if raw is None:
        raise ConfigError(
            f"{path}: the file is empty (or only comments); a config names at least its data and model, "
            "e.g. configs/fashion-mnist.yaml"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys, got {type(raw).__name__}")
    try:
        return config_from_dict(apply_overrides(raw, overrides or []))
    except ConfigError as exc:
        raise _blame(path, raw, overrides or [], exc) from None
    except RecursionError:  # a value nested deeper than the stack, copied or checked
        raise ConfigError(f"{path}: a value is nested too deeply (thousands of levels) to check") from None


def _blame(path: Path, raw: dict[str, Any], overrides: list[str], error: ConfigError) -> ConfigError:
    """The error of a config and its overrides, naming the first override that breaks a valid file."""
    if overrides:
        try:
            config_from_dict(raw)
        except ConfigError:
            pass  # the file alone is wrong already: its error below
        else:
            for count in range(1, len(overrides) + 1):
                try:
                    config_from_dict(apply_overrides(raw, overrides[:count]))
                except ConfigError as exc:
                    if str(exc).startswith("override"):  # the override's own form or value did not parse
                        return ConfigError(f"{exc} (on {path})")
                    return ConfigError(f"override {shown(overrides[count - 1])} (on {path}): {exc}")
    return ConfigError(f"{path}: {error}")
