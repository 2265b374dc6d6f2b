"""Checkpoints: written atomically, read without running code.

A checkpoint is a dict of tensors and plain values (model, optimiser and
scheduler states, RNG states, epoch, config, history). It is written to a
temporary file in the same folder, flushed to disk, then moved over the old
one with ``os.replace``: a crash leaves either the old or the new checkpoint,
never a half-written one. It is read with ``torch.load(weights_only=True)``,
which refuses pickled objects that could run code.
"""

from __future__ import annotations

import pickle
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import checks
from ..errors import CheckpointError, shown
from ..files import atomic_file
from ..neuron.recorded import SETTINGS_KEY

__all__ = ["save_checkpoint", "load_checkpoint", "load_model_state", "FORMAT_VERSION"]

FORMAT_VERSION = 3
"""The format this bpsrm writes. 2: the neurons and the readout record their fixed settings in the model's state
(:mod:`bpsrm.neuron.recorded`); a bpsrm that reads format 1 only says so, instead of "another architecture".
3: a vibration model's preprocessing record may keep its training windows' ``level_range``
(:class:`~bpsrm.data.vibration.VibrationPreprocess`), which a bpsrm that reads format 2 only refused with
"unexpected keyword argument"; it now names the format instead."""

READABLE_FORMATS = (1, 2, 3)
"""The formats this bpsrm reads: format 1 is format 2 without the settings records, which then go unchecked;
format 2 is format 3 without level ranges."""


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` with ``format_version`` set to :data:`FORMAT_VERSION` to ``path`` atomically (temp file,
    fsync, os.replace); returns the path."""
    path = Path(path)
    data = {**payload, "format_version": FORMAT_VERSION}  # this writer's format, whatever a loaded record said
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write a checkpoint there ({exc.strerror or exc})") from None
    existed = path.is_file()
    try:
        with atomic_file(path) as handle:
            torch.save(data, handle)
    except OSError as exc:
        kept = "; the previous checkpoint is intact" if existed else "; nothing was written"
        raise CheckpointError(f"{path}: writing the checkpoint failed ({exc.strerror or exc}){kept}") from None
    return path


def checkpoint_path(value: object) -> Path:
    """``value`` as a Path if it is a str or a path; CheckpointError otherwise (``None`` was a TypeError)."""
    return checks.path("a checkpoint", value, CheckpointError)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; a CheckpointError names the file and the problem."""
    path = checkpoint_path(path)
    try:
        info = path.stat()  # once: what the file is, and its size
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (OSError, ValueError) as exc:  # a name too long for the file system, a loop of links, a NUL byte
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise CheckpointError(f"{shown(str(path))}: the checkpoint cannot be read ({why})") from None
    if stat.S_ISDIR(info.st_mode):
        inside = " (best.pt inside it is the run's checkpoint)" if (path / "best.pt").is_file() else ""
        raise CheckpointError(f"{path}: a folder, not a checkpoint file{inside}")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path}: no such checkpoint file")
    if info.st_size == 0:
        raise CheckpointError(f"{path}: an empty file (0 bytes), not a checkpoint")
    _refuse_foreign_bytes(path)
    try:
        with warnings.catch_warnings():
            # torch notes foreign pickle protocols before refusing them; the refusal below says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line), None)
        if detail is not None:
            raise CheckpointError(
                f"{path}: refused: the file holds pickled objects that could run code, which bpsrm never writes "
                f"({detail})"
            ) from None
        raise CheckpointError(
            f"{path}: not a readable bpsrm checkpoint (the pickle stream is damaged or foreign)"
        ) from None
    except Exception as exc:  # torch.load on foreign bytes raises what its parsers meet (IndexError, KeyError, ...)
        raise CheckpointError(f"{path}: not a readable bpsrm checkpoint ({_first_line(exc)})") from None
    if not isinstance(data, dict) or "model" not in data or "format_version" not in data:
        raise CheckpointError(f"{path}: not a bpsrm checkpoint (expected a dict with 'model' and 'format_version')")
    version = data["format_version"]
    if not (type(version) is int and version in READABLE_FORMATS):  # (a tensor's "in" would ask for its truth)
        raise CheckpointError(
            f"{path}: checkpoint format {shown(version)}, this bpsrm reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}"
        )
    if version == 1 and isinstance(data["model"], dict):  # unchecked, as promised: a record written before the
        # format named its rules (unreleased code of 2026-12-06) is no record to hold this model to
        data["model"] = {k: v for k, v in data["model"].items() if k.rsplit(".", 1)[-1] != SETTINGS_KEY}
    return data


def _refuse_foreign_bytes(path: Path) -> None:
    """A CheckpointError for a file that starts as neither of torch's formats (a zip archive, or a legacy pickle
    stream): a recording or an image given where the checkpoint goes made torch's parser say "pop from empty
    list"."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise CheckpointError(f"{path}: the checkpoint cannot be read ({exc.strerror or exc})") from None
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return
    start = head.decode("utf-8", "replace").split("\n", 1)[0]
    raise CheckpointError(
        f"{path}: not a readable bpsrm checkpoint: it starts with {start!r}, where torch writes a zip archive; a "
        "data file given where the checkpoint goes? (bpsrm predict CHECKPOINT FILE...)"
    )


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type's name when it says nothing."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def load_model_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Load weights into ``model``; a mismatch of names, shapes or recorded settings is a CheckpointError naming
    it. A checkpoint written before the neurons recorded their settings (:mod:`bpsrm.neuron.recorded`) has no
    record to check, and loads as before."""
    own = model.state_dict()
    records = {name for name in own if name.rsplit(".", 1)[-1] == SETTINGS_KEY}
    missing = sorted(set(own) - set(state) - records)
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: the checkpoint is for another architecture: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, tensor in own.items():
        if name not in state:  # a settings record the checkpoint predates
            continue
        saved = state[name]
        if not isinstance(saved, torch.Tensor):
            raise CheckpointError(f"{source}: {name} is a {type(saved).__name__} there, a tensor in this model")
        if tuple(saved.shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: the checkpoint is for another architecture: {name} has shape "
                f"{tuple(saved.shape)} there, {tuple(tensor.shape)} in this model"
            )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # a recorded setting that differs (names and shapes were checked above)
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        raise CheckpointError(f"{source}: the checkpoint does not fit this model: {'; '.join(details)}") from None
