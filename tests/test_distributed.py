"""Training on 2 CPU processes with torchrun (gloo) against one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from bpsrm.engine.checkpoint import load_checkpoint
from bpsrm.engine.distributed import Distributed, GlobalBatchSampler
from bpsrm.errors import BpsrmError

pytestmark = pytest.mark.skipif(
    shutil.which("torchrun") is None and not Path(sys.executable).with_name("torchrun").exists(),
    reason="torchrun is not installed beside this Python",
)

# No norm layer: with one, each process would normalise its own half of a batch (as BatchNorm does
# under DDP), which is a different computation from the single process's.
TINY = {
    "experiment": "ddp",
    "seed": 3,
    "data": {"name": "fashion-mnist-demo", "val_fraction": 0.1, "limit_train": 600, "limit_test": 200},
    "model": {"spec": "FC48-SRM-FC10", "time_steps": 3},
    "encoder": {"name": "direct"},
    "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.01},
    "schedule": {"name": "cosine", "warmup_epochs": 0.5},
    "train": {"epochs": 2, "batch_size": 50, "clip_grad_norm": 1.0},
    "log": {"progress": False},
}


def _torchrun() -> list[str]:
    beside = Path(sys.executable).with_name("torchrun")
    return [str(beside)] if beside.exists() else [shutil.which("torchrun") or "torchrun"]


def _bpsrm_script() -> str:
    beside = Path(sys.executable).with_name("bpsrm")
    assert beside.exists(), "the bpsrm command is installed beside this Python"
    return str(beside)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["BPSRM_DIST_TIMEOUT"] = "60"
    return env


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """``command`` run to its end (5 minutes at most) with its output captured."""
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env(), check=False)


def _state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    one, two = tmp_path / "one", tmp_path / "two"
    single = _run([sys.executable, "-m", "bpsrm", "train", str(config), "--out", str(one)])
    assert single.returncode == 0, single.stderr
    on_two = [*_torchrun(), "--standalone", "--nproc_per_node=2", _bpsrm_script(), "train", str(config)]
    started = _run([*on_two, "--out", str(two)])
    assert started.returncode == 0, started.stderr[-3000:]
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["weights_identical_across_ranks"] is True  # compared across ranks by digest at the end
    assert json.loads((one / "metrics.json").read_text())["world_size"] == 1
    # Only rank 0 printed (the header line once) and wrote.
    assert started.stdout.count("bpsrm train ddp:") == 1 and "2 processes (gloo)" in started.stdout
    a, b = _state(one), _state(two)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
    first = json.loads((one / "metrics.json").read_text())
    assert first["test_accuracy"] > 0.5  # it learnt: the weights compared are trained ones (chance is 0.1)
    assert abs(metrics["test_accuracy"] - first["test_accuracy"]) <= 0.02
    # --reuse of the finished folder under torchrun: rank 0 reads it, every rank follows, nothing is trained
    before = (two / "metrics.json").read_bytes()
    again = _run([*on_two, "--out", str(two), "--reuse"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("read, not trained again") == 1 and "epoch 1/" not in again.stdout, again.stdout
    assert (two / "metrics.json").read_bytes() == before
    # A run goes on with the number of processes that wrote its last.pt: each rank's random state is in it
    one_last, two_last = (one / "last.pt").read_bytes(), (two / "last.pt").read_bytes()
    on_two_instead = _run([*on_two, "train.epochs=3", "--out", str(one), "--resume"])
    alone_instead = _run(
        [sys.executable, "-m", "bpsrm", "train", str(config), "train.epochs=3", "--out", str(two), "--resume"]
    )
    assert on_two_instead.returncode != 0 and alone_instead.returncode != 0
    assert "last.pt: written by 1 process, resumed on 2" in on_two_instead.stderr, on_two_instead.stderr[-3000:]
    assert "last.pt: written by 2 processes, resumed on 1" in alone_instead.stderr, alone_instead.stderr[-3000:]
    assert "torchrun --nproc_per_node=2" in alone_instead.stderr
    assert "extending" not in on_two_instead.stdout + alone_instead.stdout  # refused before an extension is logged
    assert (one / "last.pt").read_bytes() == one_last and (two / "last.pt").read_bytes() == two_last


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes in /proc")
def test_resume_under_two_processes_after_a_kill(tmp_path: Path) -> None:
    """Killed once its first last.pt is on disk (train.checkpoint_steps=3, 54 steps an epoch: after step 3 of
    epoch 1, or a few steps later), with augmentation drawing from each process's own random state; resumed in
    that epoch, it passes epoch ends and steps within epochs that save, and ends with the uninterrupted run's
    weights. (A resume from an epoch's end takes the same path with nothing left of an epoch.)"""
    config = tmp_path / "tiny.yaml"
    # with a norm: its buffers (running statistics, a 0-d step counter) go through the broadcasts and the digest
    with_norm = {**TINY, "model": {"spec": "FC48-TCN-SRM-FC10", "time_steps": 3}}
    raw = {**with_norm, "train": {**TINY["train"], "epochs": 2, "checkpoint_steps": 3}}
    raw["data"] = {**TINY["data"], "limit_train": 3000, "augment": {"hflip": True, "shift": 1}}
    config.write_text(yaml.safe_dump(raw))
    full, cut = tmp_path / "full", tmp_path / "cut"
    command = [*_torchrun(), "--standalone", "--nproc_per_node=2", _bpsrm_script(), "train", str(config)]
    run = subprocess.run([*command, "--out", str(full)], capture_output=True, text=True, timeout=300, env=_env())
    assert run.returncode == 0, run.stderr[-3000:]
    # The same run, killed (every process at once) once its first checkpoint is on disk ...
    process = subprocess.Popen(
        [*command, "--out", str(cut)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (cut / "last.pt").is_file():
        assert process.poll() is None and time.monotonic() < deadline, (
            "the run ended or stalled before its first checkpoint"
        )
        time.sleep(0.01)
    # torchrun starts each worker in a session of its own: killing torchrun's process group leaves them running
    for pid in [*_descendants(process.pid), process.pid]:
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not (cut / "metrics.json").is_file()
    stopped = load_checkpoint(cut / "last.pt")["partial"]
    assert stopped is not None  # killed within epoch 1 (its first last.pt comes after step 3)
    # ... then continued under torchrun (by --reuse: rank 0 finds last.pt, every rank resumes), ends with the
    # weights of the uninterrupted run.
    second = subprocess.run(
        [*command, "--out", str(cut), "--reuse"], capture_output=True, text=True, timeout=300, env=_env()
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"in epoch 1, after step {stopped['step']}" in second.stdout
    assert "epoch 2/2: " in second.stdout  # the resumed run trained the rest
    a, b = _state(full), _state(cut)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
    done = json.loads((cut / "metrics.json").read_text())
    assert (
        done["world_size"] == 2
        and done["test_accuracy"] == json.loads((full / "metrics.json").read_text())["test_accuracy"]
    )


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc at once, before any is killed)."""
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes in /proc")
def test_a_dying_rank_stops_the_others(tmp_path: Path) -> None:
    """Under torchrun, a killed rank ends the job: torchrun's agent sends the others SIGTERM, and bpsrm's
    workers must exit on it rather than hang in a collective or keep training. (Without torchrun, the
    timeout does it: test_without_torchrun_a_collective_gives_up_after_the_timeout.)"""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 200}}))
    process = subprocess.Popen(
        [
            *_torchrun(),
            "--standalone",
            "--nproc_per_node=2",
            _bpsrm_script(),
            "train",
            str(config),
            "--out",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "metrics.csv").is_file():  # training is under way (epoch 1 done)
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        workers = _descendants(process.pid)
        workers = [p for p in workers if "train" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
        assert len(workers) >= 2
        killed_at = time.monotonic()
        os.kill(workers[-1], signal.SIGKILL)
        code = process.wait(timeout=90)
        assert code != 0
        assert time.monotonic() - killed_at < 90
    finally:
        if process.poll() is None:
            process.kill()


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_global_batches_split_among_ranks() -> None:
    whole = list(GlobalBatchSampler(23, 5, _g(7)))
    assert [len(b) for b in whole] == [5, 5, 5, 5, 3]
    assert sorted(i for b in whole for i in b) == list(range(23))
    ranks = [list(GlobalBatchSampler(23, 5, _g(7), rank=r, world_size=2)) for r in range(2)]
    for k, batch in enumerate(whole):
        assert sorted(ranks[0][k] + ranks[1][k]) == sorted(batch)
    # 25 = 4 * 6 + 1: the last global batch of one sample cannot feed 2 processes and is dropped
    three = [list(GlobalBatchSampler(25, 6, _g(1), rank=r, world_size=2)) for r in range(2)]
    assert [len(b) for b in three[0]] == [3, 3, 3, 3] and len(three[1]) == 4
    assert three_dropped(25, 6, 2) == 1 and three_dropped(23, 5, 2) == 0 and three_dropped(25, 6, 1) == 0
    assert three_dropped(27, 6, 4) == 3 and three_dropped(24, 6, 4) == 0
    assert len(GlobalBatchSampler(23, 5, _g(7), max_batches=2)) == 2
    with pytest.raises(BpsrmError, match=r"train\.batch_size=1 is the global batch and must be >= the number of pro"):
        GlobalBatchSampler(10, 1, _g(0), rank=0, world_size=2)


def three_dropped(size: int, batch: int, world: int) -> int:
    """The samples an epoch leaves out, as the sampler says and as its batches show."""
    samplers = [GlobalBatchSampler(size, batch, _g(5), rank=r, world_size=world) for r in range(world)]
    taken = sum(len(b) for sampler in samplers for b in sampler)
    assert samplers[0].dropped == size - taken
    return samplers[0].dropped


def test_the_log_says_how_many_samples_an_epoch_leaves_out() -> None:
    """577 samples in batches of 64 on 2 processes: the last sample is in no batch, and the log said "577 train"."""
    from types import SimpleNamespace

    from bpsrm.engine.trainer import _dropped_note

    def run(size: int, world: int, cap: int | None = None) -> SimpleNamespace:
        ctx = SimpleNamespace(world_size=world)
        return SimpleNamespace(ctx=ctx, sampler=lambda epoch: GlobalBatchSampler(size, 64, _g(0), 0, world, cap))

    assert _dropped_note(run(577, 2)) == (
        "; the last 1 sample of each epoch's shuffled order is left out (a last batch smaller than the 2 "
        "processes; one process would train on it)"
    )
    assert _dropped_note(run(579, 4)).startswith("; the last 3 samples of each epoch's shuffled order are left")
    assert _dropped_note(run(577, 1)) == "" and _dropped_note(run(578, 2)) == ""
    assert _dropped_note(run(577, 2, cap=3)) == ""  # train.max_batches ends the epoch long before
    assert _dropped_note(run(577, 2, cap=9)).startswith("; the last 1 sample")  # the cap is the whole epoch


def test_one_process_gets_the_batches_of_a_shuffling_dataloader() -> None:
    """With the generator shared, the loader draws its base seed first, as DataLoader(shuffle=True) does,
    so single-process runs keep the batch order they had before the sampler existed."""
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.arange(23))
    expected = [b[0].tolist() for b in DataLoader(data, batch_size=5, shuffle=True, generator=_g(7))]
    before = torch.get_rng_state()
    sampler = GlobalBatchSampler(23, 5, _g(7))
    got = [b[0].tolist() for b in DataLoader(data, batch_sampler=sampler, generator=sampler.generator)]
    assert got == expected
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is not touched


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a process group's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _decide(rank: int, port: int, cases: list[list[bool]], results) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        ctx = Distributed(rank, 2, "gloo")
        decided = [(ctx.main_says(flags[rank]), ctx.any(flags[rank])) for flags in cases]
        results[rank] = (decided, ctx.agree("same split"), ctx.agree(f"split of rank {rank}"))
    finally:
        torch.distributed.destroy_process_group()


def test_rank_0_decides_for_every_rank_and_ranks_compare_their_splits() -> None:
    """Which epoch is best is rank 0's decision on every rank (their validation figures may differ in the last
    bit on a GPU): main_says gives rank 0's flag everywhere, where any() gives the or of all. agree() tells every
    rank whether all drew the same split (training refuses to start when not)."""
    port = _free_port()
    cases = [[True, False], [False, True], [False, False]]
    results = torch.multiprocessing.get_context("spawn").Manager().dict()
    torch.multiprocessing.spawn(_decide, args=(port, cases, results), nprocs=2, join=True)
    expected = [(True, True), (False, True), (False, False)]
    assert dict(results) == {0: (expected, True, False), 1: (expected, True, False)}


def _stall(rank: int, port: int, results, started) -> None:
    """Rank 1 never comes to the collective (as a rank stuck or gone without torchrun to stop the others);
    rank 0's sum must give up after BPSRM_DIST_TIMEOUT seconds instead of waiting for ever. The ranks meet at
    ``started`` (a barrier) after importing: the timeout bounds the process group's start too, and a rank still
    importing torch on a loaded machine would otherwise miss it."""
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2", "RANK": str(rank)})
    os.environ["BPSRM_DIST_TIMEOUT"] = "2"
    from bpsrm.engine.distributed import from_environment

    started.wait()
    ctx = from_environment()
    if rank == 1:
        time.sleep(7)  # longer than the bound below: a sum that waited for the exit would fail the test
        os._exit(0)
    start = time.monotonic()
    try:
        ctx.sum([1.0])
        results[0] = ("returned", time.monotonic() - start)
    except Exception as error:  # gloo's own timeout error
        results[0] = (type(error).__name__, time.monotonic() - start)
    os._exit(0)


def _compare_commands(rank: int, port: int, results) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import _check_same_command
    from bpsrm.errors import ConfigError

    try:
        ctx = Distributed(rank, 2, "gloo")
        outcomes = []
        cases = [({}, None), ({"seed": 3 + rank}, None), ({"optim": {"lr": 0.003 * (rank + 1)}}, None)]
        cases += [({"data": {"root": f"/copy{rank}"}}, None), ({}, "resume" if rank else None)]
        cases += [({"train": {"batch_size": 50 - 18 * rank, "epochs": 2 + rank}}, None)]
        # read by rank 0 alone, or a path on each machine: may differ; checkpoint_steps saves collectively: may not
        cases += [({"log": {"progress": rank == 0, "plots": rank == 1}, "train": {"ood_samples": 64 * rank}}, None)]
        cases += [({"data": {"name": f"/home/user{rank}/my_data.py:Mine"}}, None)]
        cases += [({"data": {"name": f"/home/user/my_data{rank}.py:Mine"}}, None)]
        cases += [({"train": {"checkpoint_steps": 10 + rank}}, None)]
        for changes, mode in cases:
            raw = yaml.safe_load(yaml.safe_dump(TINY))
            for section, values in changes.items():
                raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
            try:
                _check_same_command(config_from_dict(raw), mode, ctx)
                outcomes.append("same")
            except ConfigError as error:
                outcomes.append(str(error))
        results[rank] = outcomes
    finally:
        torch.distributed.destroy_process_group()


def test_processes_started_with_different_settings_are_refused_naming_each_key() -> None:
    """Another seed on rank 1 was blamed on the data ("different training / validation splits"), another learning
    rate surfaced after the whole run as "different weights", another batch size as a loss "not finite"."""
    port = _free_port()
    results = torch.multiprocessing.get_context("spawn").Manager().dict()
    torch.multiprocessing.spawn(_compare_commands, args=(port, results), nprocs=2, join=True)
    assert results[0] == results[1]
    same, seed, lr, root, mode, batch, rank_0_only, moved, other_file, saving = results[0]
    assert rank_0_only == "same" and moved == "same"
    assert same == "same" and root == "same"  # data.root may differ: each machine reads its own copy
    start = "the 2 processes were given different settings ("
    end = "); start every process with the same config and options"
    assert seed == f"{start}seed: 3 on rank 0, 4 on rank 1{end}"
    assert lr == f"{start}optim.lr: 0.003 on rank 0, 0.006 on rank 1{end}"
    assert mode == f"{start}--resume / --overwrite / --reuse: None on rank 0, 'resume' on rank 1{end}"
    assert batch == f"{start}train.batch_size: 50 on rank 0, 32 on rank 1; train.epochs: 2 on rank 0, 3 on rank 1{end}"
    assert other_file == f"{start}data.name: 'my_data0.py:Mine' on rank 0, 'my_data1.py:Mine' on rank 1{end}"
    assert saving == f"{start}train.checkpoint_steps: 10 on rank 0, 11 on rank 1{end}"


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e9"])
def test_a_timeout_that_is_no_positive_time_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """BPSRM_DIST_TIMEOUT=0 made every collective fail at once with a C++ trace ("timed out after 0ms")."""
    from bpsrm.engine.distributed import from_environment

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("BPSRM_DIST_TIMEOUT", value)
    with pytest.raises(BpsrmError, match=rf"BPSRM_DIST_TIMEOUT='{value}': expected seconds, > 0 \(and below 10\*\*7\)"):
        from_environment()


@pytest.mark.slow
def test_without_torchrun_a_collective_gives_up_after_the_timeout() -> None:
    """The module's promise for runs without torchrun's agent: a rank that does not answer makes the others'
    collectives fail after BPSRM_DIST_TIMEOUT seconds (here 2; the default 300 would outlast this test)."""
    port = _free_port()
    manager = torch.multiprocessing.get_context("spawn").Manager()
    results, started = manager.dict(), manager.Barrier(2)
    torch.multiprocessing.spawn(_stall, args=(port, results, started), nprocs=2, join=True)
    outcome, seconds = results[0]
    assert outcome != "returned", "the sum returned although rank 1 never took part"
    assert 1.5 <= seconds <= 5, (outcome, seconds)


def test_torchrun_variables_are_read_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """environment_rank: unset RANK / LOCAL_RANK are 0 and WORLD_SIZE 1 (a plain process); a value that is not an
    integer is a bpsrm error naming the variable, also where from_environment and the CUDA device read them."""
    from bpsrm.engine.distributed import environment_rank, from_environment

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert (environment_rank("RANK"), environment_rank("LOCAL_RANK"), environment_rank("WORLD_SIZE")) == (0, 0, 1)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert environment_rank("LOCAL_RANK") == 3
    monkeypatch.setenv("LOCAL_RANK", "gpu1")
    with pytest.raises(BpsrmError, match=r"LOCAL_RANK='gpu1': expected an integer"):
        environment_rank("LOCAL_RANK")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(BpsrmError, match=r"WORLD_SIZE='two': expected an integer"):
        from_environment()
