"""Nothing lost on a crash, bad numbers refused, full disks and unwritable folders reported, memory flat."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsrm.engine import checkpoint as checkpoint_module
from bpsrm.engine import trainer as trainer_module
from bpsrm.engine.checkpoint import load_checkpoint
from bpsrm.engine.config import config_from_dict, config_to_dict, load_config
from bpsrm.engine.trainer import TIMING_KEYS, train
from bpsrm.errors import BpsrmError, CheckpointError, ConfigError

pytestmark = pytest.mark.data


def _raw(shared_data, epochs=6, **train_options):
    return {
        "experiment": "crash",
        "seed": 5,
        "data": {"name": "fashion-mnist", "root": str(shared_data), "limit_train": 400, "limit_test": 100},
        "model": {"spec": "4C3-TCN-SRM-MP4-FC10", "time_steps": 3, "neuron": {"learn_tau": True}},
        "encoder": {"name": "rate"},
        "train": {"epochs": epochs, "batch_size": 32, **train_options},
        "log": {"progress": False, "plots": False},
    }


def _without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
def test_sigkill_three_times_then_resume_gives_the_same_metrics(shared_data, tmp_path) -> None:
    raw = _raw(shared_data, epochs=10)
    config_path = tmp_path / "crash.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    whole = train(config_from_dict(raw), tmp_path / "whole", log=lambda _: None)

    out = tmp_path / "cut"
    # The same thread count as the uninterrupted run here (the metrics record it; pytest-xdist workers run fewer).
    threads = str(torch.get_num_threads())
    command = [sys.executable, "-m", "bpsrm", "--threads", threads, "train", str(config_path)]
    command += ["--out", str(out), "--resume"]
    rng = random.Random(1234)
    kills = 0
    while kills < 3:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # Wait until training has started (after imports and data), then kill at a random moment.
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("bpsrm train"):
                break
        # A random moment within the first fifth of the training time the whole run took: three kills then
        # fall before the end however fast the machine is (a fixed 0.1-1.2 s let an idle machine finish the
        # run before the second kill, and the test failed on kills == 1).
        time.sleep(rng.uniform(0.02, 0.2) * whole["train_seconds"])
        if process.poll() is not None:
            break  # finished before the kill: nothing more to interrupt
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        kills += 1
        if (out / "last.pt").exists():
            load_checkpoint(out / "last.pt")  # never corrupt or half-written
    finish = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert finish.returncode == 0, finish.stderr[-2000:]
    assert kills == 3
    resumed = json.loads((out / "metrics.json").read_text())
    assert _without_timing(resumed) == _without_timing(whole)
    assert not list(out.glob(".*.tmp")), "temporary files of interrupted writes are cleaned up"


def test_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch) -> None:
    checkpoint_module.save_checkpoint(tmp_path / "last.pt", {"model": {}, "epoch": 1})
    real_save = torch.save

    def dies_halfway(data, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half of a checkpoint")
        raise KeyboardInterrupt  # the process is stopped in the middle of the write

    monkeypatch.setattr(checkpoint_module.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        checkpoint_module.save_checkpoint(tmp_path / "last.pt", {"model": {}, "epoch": 2})
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_disk_full_while_writing_keeps_the_previous_checkpoint(shared_data, tmp_path, monkeypatch) -> None:
    real_save = torch.save
    calls = {"n": 0}

    def disk_fills_up(data, handle, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:  # epoch 1 writes best.pt and last.pt; then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(data, handle, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_fills_up)
    with pytest.raises(CheckpointError) as info:
        train(config_from_dict(_raw(shared_data, epochs=3)), tmp_path / "run", log=lambda _: None)
    assert "No space left on device" in str(info.value) and "previous checkpoint is intact" in str(info.value)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_unwritable_run_folder(shared_data, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(BpsrmError, match="cannot write the run folder"):
        train(config_from_dict(_raw(shared_data, epochs=1)), blocker / "run", log=lambda _: None)


def _nan_at(call_number: int, monkeypatch) -> None:
    real_loss = trainer_module.training_loss
    calls = {"n": 0}

    def loss(config, logits, labels):
        calls["n"] += 1
        value = real_loss(config, logits, labels)
        return value * float("nan") if calls["n"] == call_number else value

    monkeypatch.setattr(trainer_module, "training_loss", loss)


def test_nan_loss_stops_naming_epoch_and_step(shared_data, tmp_path, monkeypatch) -> None:
    _nan_at(12 + 3, monkeypatch)  # 360 training samples in batches of 32: 12 per epoch; epoch 2, step 3
    with pytest.raises(BpsrmError, match=r"epoch 2, step 3: the loss is nan; training stopped") as info:
        train(config_from_dict(_raw(shared_data, epochs=3)), tmp_path / "run", log=lambda _: None)
    assert str(tmp_path / "run" / "last.pt") in str(info.value)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_nan_loss_skipped_when_asked_and_counted(shared_data, tmp_path, monkeypatch) -> None:
    _nan_at(5, monkeypatch)
    metrics = train(
        config_from_dict(_raw(shared_data, epochs=2, nonfinite="skip")), tmp_path / "run", log=lambda _: None
    )
    assert metrics["skipped_batches"] == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped_batches"] == 1


@pytest.mark.slow
def test_memory_stays_flat_over_many_epochs(shared_data, tmp_path) -> None:
    raw = _raw(shared_data, epochs=20)
    raw["data"]["limit_train"] = 200
    samples: dict[int, int] = {}

    def record(line: str) -> None:
        if line.startswith("epoch "):
            samples[int(line.split()[1].split("/")[0])] = _status_kb("VmRSS")

    train(config_from_dict(raw), tmp_path / "run", log=record)
    assert abs(samples[20] - samples[2]) / samples[2] < 0.05, samples


CONFIG_KEYS = st.sampled_from(
    [
        "seed",
        "data",
        "model",
        "train",
        "optim",
        "encoder",
        "schedule",
        "log",
        "compile",
        "modle",
        "time_steps",
        "spec",
        "epochs",
        "lr",
        "name",
        "neuron",
        "tau_m",
    ]
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(CONFIG_KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(CONFIG_KEYS, VALUES, max_size=5))
def test_fuzz_config_only_config_errors(raw) -> None:
    try:
        config = config_from_dict(raw)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert config_from_dict(config_to_dict(config)) == config


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_config_files_only_config_errors(tmp_path_factory, payload: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "fuzz.yaml"
    path.write_bytes(payload)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


def test_a_failed_first_write_does_not_claim_a_previous_checkpoint(tmp_path, monkeypatch) -> None:
    """`bpsrm adapt ... --out` to a place where the write fails said "the previous checkpoint is intact" when there
    had been none (helper-50)."""

    def disk_full(data, handle, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_full)
    with pytest.raises(
        CheckpointError,
        match=r"new\.pt: writing the checkpoint failed \(No space left on device\); nothing was written$",
    ):
        checkpoint_module.save_checkpoint(tmp_path / "new.pt", {"model": {}})
    assert not (tmp_path / "new.pt").exists() and list(tmp_path.iterdir()) == []
