"""What last.pt keeps to resume a run exactly, and the checks before a run resumes.

The progress (:class:`Progress`: history, best epoch, an epoch stopped in its middle), the states of the random
generators (:func:`rng_state`), and the refusals of :func:`check_resumable`: a config that differs in a key that
changes a figure (only ``train.epochs`` may grow) and a split other than the one the run began on (by
:func:`bpsrm.engine.experiment.split_record`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..environment import ROUNDING_KEYS
from ..errors import BpsrmError, CheckpointError, ConfigError, RunFolderError, shown
from .config import Config, config_from_dict, flat_config, load_config
from .run_folder import CONFIG_YAML, METRICS_JSON, read_metrics

__all__ = [
    "FREE_ON_RESUME",
    "EpochSoFar",
    "Progress",
    "check_resumable",
    "check_same_config",
    "config_changes",
    "finished_metrics",
    "note_environment",
    "rng_state",
    "set_rng_state",
]

# Keys a resumed run may change: they change how often it saves and what it shows, no figure of the run.
FREE_ON_RESUME = frozenset({"train.checkpoint_steps", "train.ood_samples", "log.progress", "log.plots"})


@dataclass
class Progress:
    """What a run has done so far: the part of last.pt that resumes the loop."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = -1.0
    best_epoch: int = 0
    start_epoch: int = 1
    train_seconds: float = 0.0
    train_samples: int = 0
    skipped_batches: int = 0
    partial: EpochSoFar | None = None  # epoch start_epoch stopped in its middle (train.checkpoint_steps)
    environments: list[dict[str, Any]] = field(default_factory=list)  # see note_environment

    def to_dict(self) -> dict[str, Any]:
        """The keys of last.pt that hold the progress."""
        return {
            "partial": None if self.partial is None else asdict(self.partial),
            "epoch": self.start_epoch - 1,
            "history": self.history,
            "best_val_accuracy": self.best_val,
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
            "train_samples": self.train_samples,
            "skipped_batches": self.skipped_batches,
            "environments": self.environments,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Progress:
        """The progress recorded in last.pt (``state``); KeyError, TypeError or ValueError when it is damaged."""
        return cls(
            [dict(row) for row in state["history"]],
            float(state["best_val_accuracy"]),
            int(state["best_epoch"]),
            int(state["epoch"]) + 1,
            float(state["train_seconds"]),
            int(state["train_samples"]),
            int(state.get("skipped_batches", 0)),
            EpochSoFar.from_dict(state.get("partial")),
            _environments(state.get("environments", [])),  # absent in a last.pt of bpsrm before 2026-12-07
        )


def _environments(value: Any) -> list[dict[str, Any]]:
    """last.pt's record of the environments a run ran on (TypeError when it is not a list of dicts)."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise TypeError(f"'environments' is not a list of dicts: {value!r:.80}")
    return [dict(entry) for entry in value]


_WHEN = ("from_epoch", "after_step")  # where an entry of Progress.environments takes over


def note_environment(progress: Progress, environment: dict[str, Any], log: Callable[[str], None]) -> None:
    """Record in ``progress`` the ``environment`` (:func:`bpsrm.environment.describe_environment`) the run goes on
    in, when it differs from the last one recorded, with the epoch (and step) it takes over from: metrics.json
    lists every one. A resume that changes environment is logged, and where a key of
    :data:`bpsrm.environment.ROUNDING_KEYS` changed, the log says that the run's figures are then those of no
    single uninterrupted run (other roundings from that step on)."""
    known = progress.environments
    if known:
        last = {key: value for key, value in known[-1].items() if key not in _WHEN}
        changed = sorted(key for key in environment.keys() | last.keys() if environment.get(key) != last.get(key))
        if not changed:
            return
        rounding = any(key in ROUNDING_KEYS for key in changed)
        log(
            "resumed in another environment"
            + (" (rounding differs from an uninterrupted run)" if rounding else "")
            + ": "
            + ", ".join(f"{key} {last.get(key)!r} -> {environment.get(key)!r}" for key in changed)
        )
    partial = progress.partial
    when = {"from_epoch": progress.start_epoch, "after_step": partial.step if partial is not None else 0}
    known.append({**when, **environment})


@dataclass
class EpochSoFar:
    """An epoch stopped in its middle (last.pt's ``partial``, written every train.checkpoint_steps): the steps done
    and the epoch's sums so far (loss_sum, correct, count: over every process; seconds: rank 0's)."""

    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    count: int = 0
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, value: Any) -> EpochSoFar | None:
        """last.pt's record (None: the run stopped at an epoch's end)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise TypeError(f"'partial' is a {type(value).__name__}, not a dict")
        return cls(
            int(value["step"]),
            float(value["loss_sum"]),
            int(value["correct"]),
            int(value["count"]),
            float(value["seconds"]),
        )


def rng_state() -> dict[str, Any]:
    """The states of torch's, NumPy's and Python's global generators, as tensors (a weights-only checkpoint holds
    them)."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(json.dumps(_numpy_state()).encode(), dtype=np.uint8).copy()),
        "python": torch.from_numpy(np.frombuffer(json.dumps(_python_state()).encode(), dtype=np.uint8).copy()),
    }


def _numpy_state() -> list[Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return [kind, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)]


def _python_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from :func:`rng_state`'s record."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = json.loads(bytes(state["numpy"].numpy()).decode())
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = json.loads(bytes(state["python"].numpy()).decode())
    random.setstate((version, tuple(internal), gauss))


TRAINING_STATE = ("config", "optimiser", "scheduler", "rng", "epoch", "history", "best_val_accuracy", "best_epoch")
"""The keys that last.pt holds beside the model record of best.pt: what a resume reads."""


def check_resumable(
    last_path: Path, state: dict[str, Any], now: Config, split: dict[str, Any], log: Callable[[str], None]
) -> bool:
    """Whether last.pt (``state``) may go on as the run of config ``now`` and ``split`` (its
    :func:`~bpsrm.engine.experiment.split_record`); True when the run is extended (a larger train.epochs).

    ``data.root`` may change when last.pt records its split: the data then moved, or the run moved to another
    machine, and the split check tells whether the samples are the same ones. A CheckpointError names what
    differs, and so does a file without the training state (a model record such as best.pt copied to last.pt)."""
    missing = [key for key in TRAINING_STATE if key not in state]
    if missing:
        raise CheckpointError(
            f"{last_path}: holds no training state ({', '.join(missing)} missing): it is a model record such as "
            "best.pt, not a last.pt to resume from; give --overwrite to train the run again from the start"
        )
    saved_split = state.get("split")
    extended = _check_config(
        last_path, config_from_dict(state["config"]), now, int(state["epoch"]), log, root_free=saved_split is not None
    )
    _check_split(last_path, saved_split, split, log)
    return extended


def _check_config(
    last_path: Path, saved: Config, now: Config, epochs_done: int, log: Callable[[str], None], *, root_free: bool
) -> bool:
    """Whether last.pt's config (``saved``) is ``now``; True when only train.epochs differs and extends the run
    (and data.root, when ``root_free``). A CheckpointError lists every key that differs, with both values."""
    differ = config_changes(saved, now)
    if root_free and "data.root" in differ:
        there, here = differ.pop("data.root")
        log(f"{last_path}: data.root was {there!r}, now {here!r}; the split recorded there is checked next")
    if not differ:
        return False
    if differ.keys() == {"train.epochs"}:
        was, wanted = differ["train.epochs"]
        if wanted > was:
            log(f"extending {last_path.parent} from {was} to {wanted} epochs")
            return True
        raise CheckpointError(
            f"{last_path}: the run was started for {was} epochs and has done {epochs_done}; train.epochs={wanted} "
            f"cannot shorten it (its schedule is that of {was} epochs; give {was} to continue it, or a larger "
            "number to extend it)"
        )
    listed = "; ".join(f"{key}: {shown(old)} there, {shown(new)} now" for key, (old, new) in sorted(differ.items()))
    raise CheckpointError(
        f"{last_path}: was written for another config ({listed}); resume with the config in {last_path.parent} "
        f"(only train.epochs may change, to extend the run; {', '.join(sorted(FREE_ON_RESUME))}, which change "
        "no figure; and data.root, when last.pt records its split)"
    )


def _check_split(last_path: Path, saved: Any, now: dict[str, Any], log: Callable[[str], None]) -> None:
    """Refuse to resume on another split than last.pt's (the data under data.root changed, or the rule that draws
    the split); a last.pt written before splits were recorded is resumed on today's split, and the log says so."""
    drawn = f"{now['train']} train / {now['val']} validation samples"
    if saved is None:
        log(f"{last_path} does not record its split (an earlier bpsrm wrote it): continuing on {drawn}")
        return
    if isinstance(saved, dict) and saved.get("sha256") == now["sha256"]:
        return
    readable = isinstance(saved, dict) and all(isinstance(saved.get(key), int) for key in ("train", "val"))
    if not readable:
        raise CheckpointError(
            f"{last_path}: its split record is unreadable ({shown(saved)}); train into another run folder"
        )
    if (saved["train"], saved["val"]) == (now["train"], now["val"]):
        was = f"the same sizes, {drawn}, but other samples"
    else:
        was = f"{saved['train']} train / {saved['val']} validation samples, where this config draws {drawn} now"
    raise CheckpointError(
        f"{last_path}: was trained on another split ({was}): the data under data.root, bpsrm's rule for the split "
        "or torch's random generator has changed since it was written. Resume with the data and versions that "
        "wrote it, or train into another run folder (for crossload: remove that cell's folder or give another --out)"
    )


def config_changes(saved: Config, now: Config) -> dict[str, tuple[Any, Any]]:
    """The keys whose values differ between a run's saved config and ``now``, {"a.b": (saved value, now value)},
    leaving out :data:`FREE_ON_RESUME` (keys that change no figure of a run)."""
    before, after = flat_config(saved), flat_config(now)
    keys = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)} - FREE_ON_RESUME
    return {key: (before.get(key), after.get(key)) for key in keys}


def check_same_config(run: Path, config: Config) -> None:
    """Refuse to reuse a run folder that an earlier call of a script left with another config: its metrics are
    not this config's. Nothing to check when ``run`` holds no config.yaml; keys that change no figure
    (:data:`FREE_ON_RESUME`) may differ, as on a resume, and ``data.root`` too (the data moved). A ConfigError
    names the folder and each key that differs with both values, or the config.yaml that cannot be read."""
    path = run / CONFIG_YAML
    if not path.is_file():
        return
    try:
        saved = load_config(path)
    except BpsrmError as exc:
        raise ConfigError(f"{exc}; remove {run} to train it again") from None
    differ = config_changes(saved, config)
    differ.pop("data.root", None)
    if differ:
        listed = "; ".join(f"{key}: {shown(old)} there, {shown(new)} now" for key, (old, new) in sorted(differ.items()))
        raise ConfigError(f"{run} holds a run of another config ({listed}); use another --out, or remove that folder")


def finished_metrics(run: Path, config: Config) -> dict[str, Any] | None:
    """The metrics.json of the finished run of ``config`` that ``run`` holds; None when it holds none (no folder,
    or a run without metrics.json). The one rule by which ``train(reuse=True)`` and the scripts that read their
    earlier runs back decide: a run of another config is a ConfigError (:func:`check_same_config`), and a
    metrics.json without the config.yaml that says whose result it is a RunFolderError. ``data.root`` may
    differ (the data moved since; an unfinished run's last.pt then checks its split on resume, as
    :func:`check_resumable` does)."""
    check_same_config(run, config)
    if not (run / METRICS_JSON).is_file():
        return None
    if not (run / CONFIG_YAML).is_file():
        raise RunFolderError(
            f"{run} holds a {METRICS_JSON} but no {CONFIG_YAML}: which config it is the result of cannot be told; "
            "remove the folder or give another --out"
        )
    return read_metrics(run, required=True)
