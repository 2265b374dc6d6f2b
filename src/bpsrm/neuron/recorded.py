"""The fixed settings a module records in its ``state_dict``, so that loading into a module built otherwise fails.

A neuron's fixed time constants, threshold, kernel and reset are constructor arguments, not weights: without a
record, ``load_state_dict`` of a network saved with ``tau_m=10, theta=0.3`` into one built with the defaults
matched every key and silently computed another function. :class:`RecordsSettings` writes the settings that
decide the forward pass as one float64 vector under ``<prefix>settings`` and, on loading, compares them with the
module's own: a difference is an error of ``load_state_dict`` (as a shape mismatch is) naming each setting on
both sides. A ``state_dict`` saved before the record existed has no such key and loads as before, unchecked.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

__all__ = ["RecordsSettings", "SETTINGS_KEY", "ABSENT"]

SETTINGS_KEY = "settings"
"""The name of the record in a module's ``state_dict`` (after the module's prefix)."""

RELATIVE_TOLERANCE = 1e-12
"""Recorded values this close are the same setting: a decay exp(-1/tau) may differ in its last bit between two
platforms' math libraries, which must not refuse a checkpoint."""

ABSENT = -1.0
"""The recorded value of a setting the module does not have (a learnt or unused one): outside every setting's range,
and not NaN, which ``torch.equal`` of two equal state_dicts would count as a difference."""


class RecordsSettings(nn.Module):
    """A module that records :meth:`recorded_settings` in its ``state_dict`` and checks them when loading."""

    def recorded_settings(self) -> dict[str, float]:
        """The settings that decide the forward pass and no weight holds, as numbers in a fixed order (:data:`ABSENT`
        for one the module does not have, a learnt one included: its parameter is in the state_dict already)."""
        raise NotImplementedError(f"{type(self).__name__} names no recorded_settings()")

    setting_names: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Settings recorded as an index into a tuple of names (a kernel, a reset), told by their name in messages."""

    absent_words: ClassVar[str] = "unused"
    """What a message says of a setting recorded as :data:`ABSENT`."""

    def describe_setting(self, name: str, value: float) -> str:
        """How ``name`` = ``value`` reads in a message: ``kernel='dexp'`` (or ``kernel id 7``), ``tau_s unused``,
        ``tau_m=4`` (a subclass turns its own encodings, such as decays, back into words)."""
        names = self.setting_names.get(name)
        if names is not None:
            known = value.is_integer() and 0 <= value < len(names)
            return f"{name}={names[int(value)]!r}" if known else f"{name} id {value:g}"
        if value == ABSENT:
            return f"{name} {self.absent_words}"
        return f"{name}={value:.6g}"

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        values = list(self.recorded_settings().values())
        destination[prefix + SETTINGS_KEY] = torch.tensor(values, dtype=torch.float64)

    def _load_from_state_dict(
        self,
        state_dict: Any,
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        key = prefix + SETTINGS_KEY
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        if key in unexpected_keys:
            unexpected_keys.remove(key)
        if key not in state_dict:
            return  # saved before settings were recorded
        message = self._settings_mismatch(state_dict[key])
        if message is not None:
            error_msgs.append(f"{key}: {message}")

    def _told_apart(self, name: str, saved: float, own: float) -> tuple[str, str]:
        """The saved and the own value of a setting as words, in full where the words would print alike."""
        saved_text, own_text = self.describe_setting(name, saved), self.describe_setting(name, own)
        return (f"{name}={saved!r}", f"{name}={own!r}") if saved_text == own_text else (saved_text, own_text)

    def _settings_mismatch(self, saved: object) -> str | None:
        """Why ``saved`` is not this module's record, or None when it is."""
        own = self.recorded_settings()
        if not isinstance(saved, Tensor) or saved.dtype != torch.float64 or tuple(saved.shape) != (len(own),):
            got = f"{saved.dtype} of shape {tuple(saved.shape)}" if isinstance(saved, Tensor) else type(saved).__name__
            return f"{type(self).__name__} records {len(own)} float64 settings, got {got}"
        differ = [
            (name, value, other)
            for (name, value), other in zip(own.items(), saved.tolist(), strict=True)
            if not math.isclose(value, other, rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0)
        ]
        if not differ:
            return None
        pairs = [self._told_apart(name, other, value) for name, value, other in differ]
        there = ", ".join(saved_text for saved_text, _ in pairs)
        here = ", ".join(own_text for _, own_text in pairs)
        name = type(self).__name__
        return (
            f"the state_dict was saved from {name}({there}); this one is {name}({here}). These are constructor "
            "arguments, not weights: build the module with the saved settings"
        )
