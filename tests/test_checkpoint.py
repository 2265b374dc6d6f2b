"""Checkpoints: atomic writes, safe reads, clear refusals."""

from __future__ import annotations

import errno
import os
import pickle
import re

import pytest
import torch

from bpsrm import build_model
from bpsrm.engine.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from bpsrm.errors import CheckpointError


class Evil:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/bpsrm-pwned",))


def test_round_trip(tmp_path) -> None:
    model = build_model("4C3-TCN-SRM-FC3", (1, 8, 8), time_steps=2)
    path = save_checkpoint(tmp_path / "last.pt", {"model": model.state_dict(), "epoch": 3})
    data = load_checkpoint(path)
    other = build_model("4C3-TCN-SRM-FC3", (1, 8, 8), time_steps=2)
    load_model_state(other, data["model"], path)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value)
    assert data["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no temporary file is left behind"


def test_the_writer_sets_the_format_whatever_the_payload_says(tmp_path) -> None:
    """A record passed through (loaded, changed, saved again) may carry any format_version: the file written
    holds this writer's, 3, so it loads again, and the payload's other keys are kept."""
    path = save_checkpoint(tmp_path / "best.pt", {"model": {}, "format_version": 0, "ood": {"threshold": 2.0}})
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == 3 and raw["ood"] == {"threshold": 2.0}
    assert load_checkpoint(path)["format_version"] == 3


def test_format_1_is_read_and_a_later_one_is_named(tmp_path) -> None:
    """Format 2 adds the neurons' settings records; a format 1 file (without them) still loads, and a format this
    bpsrm does not know is refused naming both."""
    old = tmp_path / "old.pt"
    torch.save({"model": {}, "format_version": 1}, old)
    assert load_checkpoint(old)["format_version"] == 1
    # a format 1 file that carries a settings record of other rules (a tied theta_r as -1) loads unchecked
    model = build_model("FC6-SRM-FC3", (4,), time_steps=2)
    state = model.state_dict()
    state["layers.1.settings"] = state["layers.1.settings"].clone()
    state["layers.1.settings"][-1] = -1.0
    torch.save({"model": state, "format_version": 1}, old)
    load_model_state(build_model("FC6-SRM-FC3", (4,), time_steps=2), load_checkpoint(old)["model"], old)
    save_checkpoint(tmp_path / "new.pt", {"model": state})  # format 3 (2 and later): the record is this model's
    with pytest.raises(CheckpointError, match=re.escape("layers.1.settings: the state_dict was saved from")):
        load_model_state(model, load_checkpoint(tmp_path / "new.pt")["model"], tmp_path / "new.pt")
    for version, said in ((4, "4"), (True, "True"), (torch.tensor([1, 2]), "tensor")):
        later = tmp_path / "later.pt"
        torch.save({"model": {}, "format_version": version}, later)
        with pytest.raises(CheckpointError, match=re.escape(f"{later}: checkpoint format ")) as caught:
            load_checkpoint(later)
        assert said in str(caught.value) and str(caught.value).endswith("this bpsrm reads formats 1, 2, 3")


def test_pickled_code_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "format_version": 1, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"refused: the file holds pickled objects that could run code.*posix"):
        load_checkpoint(path)
    assert not os.path.exists("/tmp/bpsrm-pwned")
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="not a readable bpsrm checkpoint") as info:
        load_checkpoint(plain)
    assert str(plain) in str(info.value)


def test_other_architecture_is_named(tmp_path) -> None:
    small = build_model("4C3-TCN-SRM-FC3", (1, 8, 8), time_steps=2)
    path = save_checkpoint(tmp_path / "best.pt", {"model": small.state_dict()})
    wider = build_model("6C3-TCN-SRM-FC3", (1, 8, 8), time_steps=2)
    with pytest.raises(CheckpointError, match=r"layers.0.module.weight has shape \(4, 1, 3, 3\) there, \(6, 1, 3, 3\)"):
        load_model_state(wider, load_checkpoint(path)["model"], path)
    deeper = build_model("4C3-TCN-SRM-FC8-SRM-FC3", (1, 8, 8), time_steps=2)
    with pytest.raises(CheckpointError, match="another architecture: missing"):
        load_model_state(deeper, load_checkpoint(path)["model"], path)


def test_garbage_and_missing_files(tmp_path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable bpsrm checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a bpsrm checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_unwritable_folder_keeps_previous(tmp_path, monkeypatch) -> None:
    """A folder that cannot be made is one error line; a write that fails half-way (a full disk) leaves the
    previous checkpoint as it was and no temporary file. (Failures are made by hand, not by permission bits,
    which root, as in CI's containers, ignores.)"""
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a folder")
    with pytest.raises(CheckpointError, match="cannot write a checkpoint there"):
        save_checkpoint(blocker / "last.pt", {"model": {}})
    folder = tmp_path / "run"
    save_checkpoint(folder / "last.pt", {"model": {}, "epoch": 1})

    def disk_full(data, handle) -> None:
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=r"writing the checkpoint failed \(No space left on device\); the prev"):
        save_checkpoint(folder / "last.pt", {"model": {}, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(folder / "last.pt")["epoch"] == 1
    assert [f.name for f in folder.iterdir()] == ["last.pt"]


@pytest.mark.parametrize("value", [None, 3, ["best.pt"]])
def test_a_checkpoint_named_by_no_path_is_refused(value) -> None:
    """load_checkpoint(None) and load_trained(None) raised a TypeError from pathlib (helper-51)."""
    from bpsrm.deploy.inference import load_trained

    for load in (load_checkpoint, load_trained):
        with pytest.raises(CheckpointError, match="a checkpoint is named by a str or a path, got "):
            load(value)


def test_a_recording_given_as_the_checkpoint_says_so(tmp_path) -> None:
    """Arguments swapped (`bpsrm predict pump.csv best.pt`): torch's parser said "pop from empty list"."""
    recording = tmp_path / "pump.csv"
    recording.write_text("time_s,acc\n0.0,0.1\n0.0001,0.2\n")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(recording)
    assert str(caught.value) == (
        f"{recording}: not a readable bpsrm checkpoint: it starts with 'time_s,acc', where torch writes a zip "
        "archive; a data file given where the checkpoint goes? (bpsrm predict CHECKPOINT FILE...)"
    )


def test_a_checkpoint_of_other_neuron_settings_is_refused_and_an_older_one_loads(tmp_path) -> None:
    """The network's weights fit either way; the neurons' recorded settings say the checkpoint is another model.
    A checkpoint written before the record existed (no "settings" keys) loads as it did."""
    saved = build_model("FC6-SRM-FC3", (4,), time_steps=2, neuron={"tau_m": 10.0, "theta": 0.3})
    path = save_checkpoint(tmp_path / "best.pt", {"model": saved.state_dict()})
    with pytest.raises(CheckpointError) as caught:
        load_model_state(build_model("FC6-SRM-FC3", (4,), time_steps=2), load_checkpoint(path)["model"], path)
    message = str(caught.value)
    assert message.startswith(f"{path}: the checkpoint does not fit this model: layers.1.settings: the state_dict")
    assert "SRMNeuron(tau_m=10, theta=0.3, theta_r=0.3); this one is SRMNeuron(tau_m=4, theta=1, theta_r=1)" in message
    assert "readout.settings: the state_dict was saved from MembraneReadout(tau_m=10)" in message
    older = {k: v for k, v in saved.state_dict().items() if not k.endswith("settings")}
    model = build_model("FC6-SRM-FC3", (4,), time_steps=2, neuron={"tau_m": 10.0, "theta": 0.3})
    load_model_state(model, older, "older.pt")
    assert torch.equal(model.layers[0].module.weight, saved.layers[0].module.weight)
    older["layers.0.module.bias"] = [0.0] * 6  # a list where a tensor goes: named, not an AttributeError
    with pytest.raises(CheckpointError, match=re.escape("older.pt: layers.0.module.bias is a list there, a tensor")):
        load_model_state(model, older, "older.pt")
