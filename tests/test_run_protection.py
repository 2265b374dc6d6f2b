"""Run folders are protected: a finished run is never overwritten without --overwrite, two processes never
train into one folder, a resume names what differs, and a finished run can be extended."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bpsrm.cli import main
from bpsrm.engine import run_folder
from bpsrm.engine.config import config_from_dict
from bpsrm.engine.trainer import train
from bpsrm.errors import CheckpointError, ConfigError, RunFolderError

TINY = {
    "experiment": "tiny",
    "seed": 1,
    "data": {"name": "fashion-mnist-demo", "limit_train": 128, "limit_test": 32},
    "model": {"spec": "FC16-SRM-FC10", "time_steps": 2},
    "train": {"epochs": 2, "batch_size": 32},
    "log": {"progress": False, "plots": False},
}


def _config(**changes):
    raw = yaml.safe_load(yaml.safe_dump(TINY))
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config_from_dict(raw)


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    train(_config(), out, log=_quiet)
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != run_folder.LOCK_FILE}


def _copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for name, data in _snapshot(folder).items():
        (target / name).write_bytes(data)
    return target


def test_a_finished_run_is_not_overwritten_without_a_flag(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    before = _snapshot(run)
    with pytest.raises(RunFolderError, match=r"holds a run \(config\.yaml.*--resume.*--overwrite"):
        train(_config(**{"train.epochs": 1}), run, log=_quiet)
    assert _snapshot(run) == before


def test_overwrite_replaces_the_run_and_keeps_other_files(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    (run / "my-notes.txt").write_text("mine")
    train(_config(**{"train.epochs": 1}), run, overwrite=True, log=_quiet)
    with (run / "metrics.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1  # the new one-epoch run, not the old two epochs
    assert (run / "my-notes.txt").read_text() == "mine"


def test_resume_without_last_pt_in_a_folder_that_holds_a_run_is_refused(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    (run / "last.pt").unlink()
    before = _snapshot(run)
    with pytest.raises(RunFolderError, match=r"nothing to resume.*--overwrite"):
        train(_config(), run, resume=True, log=_quiet)
    assert _snapshot(run) == before


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_again(finished: Path, tmp_path: Path) -> None:
    """Only config.yaml and a metrics.csv row (killed between them and last.pt): --resume trains from the start
    (a SIGKILL at that moment made the crash test fail in session 8's CI); with best.pt or metrics.json it refuses."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.yaml", "metrics.csv"):
        (run / name).write_bytes((finished / name).read_bytes())
    (run / "my-notes.txt").write_text("mine")
    train(_config(**{"train.epochs": 1}), run, resume=True, log=_quiet)
    with (run / "metrics.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]
    assert (run / "metrics.json").is_file() and (run / "my-notes.txt").read_text() == "mine"
    for kept in ("best.pt", "metrics.json"):
        partial = tmp_path / f"with-{kept}"
        partial.mkdir()
        for name in ("config.yaml", kept):
            (partial / name).write_bytes((finished / name).read_bytes())
        with pytest.raises(RunFolderError, match=rf"nothing to resume.*{kept}"):
            train(_config(), partial, resume=True, log=_quiet)


def test_resume_and_overwrite_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="exclude each other"):
        train(_config(), tmp_path / "run", resume=True, overwrite=True, log=_quiet)


def test_the_command_line_refuses_resume_with_overwrite(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", "x.yaml", "--out", "o", "--resume", "--overwrite"])
    assert stop.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_reuse_reads_a_finished_run_of_the_same_config_and_trains_nothing(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    before = _snapshot(run)
    logged: list[str] = []
    metrics = train(_config(), run, reuse=True, log=logged.append)
    assert metrics == json.loads(before["metrics.json"])
    assert _snapshot(run) == before
    saved = json.loads(before["metrics.json"])
    figures = f"test accuracy {100 * saved['test_accuracy']:.2f}%, val {100 * saved['best_val_accuracy']:.2f}%"
    figures += f", chosen epoch {saved['best_epoch']}"
    assert logged == [f"{run} holds the finished run of this config: read, not trained again: {figures}"]
    moved = _config(**{"data.root": str(tmp_path / "the-data-moved-here")})
    assert train(moved, run, reuse=True, log=_quiet) == metrics and _snapshot(run) == before


def test_reuse_refuses_a_run_of_another_config_and_keeps_it(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    before = _snapshot(run)
    with pytest.raises(ConfigError, match=r"another config \(optim\.lr: 0\.001 there, 0\.005 now\)"):
        train(_config(**{"optim.lr": 0.005}), run, reuse=True, log=_quiet)
    (run / "config.yaml").write_text("train: [1, 2\n")  # damaged: not YAML
    with pytest.raises(ConfigError, match=r"(?s)config\.yaml: not valid YAML.*; remove .* to train it again"):
        train(_config(), run, reuse=True, log=_quiet)
    (run / "config.yaml").unlink()
    with pytest.raises(RunFolderError, match=r"metrics\.json but no config\.yaml"):
        train(_config(), run, reuse=True, log=_quiet)
    before.pop("config.yaml")
    assert _snapshot(run) == before


def test_reuse_continues_an_interrupted_run_and_restarts_one_without_a_checkpoint(
    finished: Path, tmp_path: Path
) -> None:
    """Stopped after epoch 1 (last.pt written): --reuse ends with the uninterrupted run's epochs. Only config.yaml
    and a metrics.csv row (killed before last.pt): --reuse trains from the start."""

    class Stop(Exception):
        pass

    def stop_after_epoch_1(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise Stop

    cut = tmp_path / "cut"
    with pytest.raises(Stop):
        train(_config(), cut, log=stop_after_epoch_1)
    assert (cut / "last.pt").is_file() and not (cut / "metrics.json").exists()
    logged: list[str] = []
    train(_config(), cut, reuse=True, log=logged.append)
    assert any(line.startswith(f"resuming {cut} after epoch 1") for line in logged), logged
    assert [line.split(",")[:4] for line in (cut / "metrics.csv").read_text().splitlines()] == [
        line.split(",")[:4] for line in (finished / "metrics.csv").read_text().splitlines()
    ]  # epoch, lr, train loss and accuracy of both epochs: the uninterrupted run's

    early = tmp_path / "early"
    early.mkdir()
    for name in ("config.yaml", "metrics.csv"):
        (early / name).write_bytes((finished / name).read_bytes())
    (early / "metrics.csv").write_text("epoch\n99\n")  # not this run's row: it must go
    train(_config(), early, reuse=True, log=_quiet)
    with (early / "metrics.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
    (early / "last.pt").unlink()
    (early / "metrics.json").unlink()  # best.pt left without last.pt: a run that --reuse must not wipe
    before = _snapshot(early)
    with pytest.raises(RunFolderError, match=r"nothing to continue .*best\.pt.*--overwrite"):
        train(_config(), early, reuse=True, log=_quiet)
    assert _snapshot(early) == before


def test_reuse_excludes_resume_and_overwrite(tmp_path: Path, capsys) -> None:
    with pytest.raises(RunFolderError, match="resume and reuse exclude each other"):
        train(_config(), tmp_path / "run", resume=True, reuse=True, log=_quiet)
    with pytest.raises(SystemExit) as stop:
        main(["train", "x.yaml", "--out", "o", "--reuse", "--overwrite"])
    assert stop.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_resume_with_another_config_lists_the_keys_that_differ(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    changed = _config(**{"optim.lr": 0.005, "model.neuron.tau_m": 3.0})
    with pytest.raises(CheckpointError) as error:
        train(changed, run, resume=True, log=_quiet)
    message = str(error.value)
    assert "model.neuron.tau_m: 4.0 there, 3.0 now" in message
    assert "optim.lr: 0.001 there, 0.005 now" in message


def test_a_finished_run_is_extended_with_more_epochs(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    with (finished / "metrics.csv").open() as handle:
        first_rows = list(csv.DictReader(handle))
    logged: list[str] = []
    train(_config(**{"train.epochs": 4}), run, resume=True, log=logged.append)
    assert any("extending" in line and "from 2 to 4 epochs" in line for line in logged)
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert [r["train_loss"] for r in rows[:2]] == [r["train_loss"] for r in first_rows]
    # The cosine schedule of a 4-epoch run (S steps per epoch, no warm-up, eta_min = 0) at step k is
    # eta (1 + cos(pi k / 4S)) / 2; metrics.csv gives the rate of each epoch's last step, k = 3S - 1 and 4S - 1 (it
    # gave the rate after the epoch, so a cosine run's last epoch read 0). The 2-epoch schedule continued would
    # rise again instead.
    from bpsrm.engine.trainer import prepare

    steps = math.ceil(len(prepare(_config(**{"train.epochs": 4})).train_set) / 32)  # type: ignore[arg-type]

    def cosine(k: int) -> float:
        return 1e-3 * (1 + math.cos(math.pi * k / (4 * steps))) / 2

    assert steps >= 2 and float(rows[2]["lr"]) == pytest.approx(cosine(3 * steps - 1), rel=1e-9)
    assert float(rows[3]["lr"]) == pytest.approx(cosine(4 * steps - 1), rel=1e-9) and float(rows[3]["lr"]) > 0
    with pytest.raises(CheckpointError, match="cannot shorten"):
        train(_config(**{"train.epochs": 1}), run, resume=True, log=_quiet)


class _StopAfter(Exception):
    pass


def _stop_after(epoch: int):
    """A log that stops training once epoch ``epoch`` is logged (its last.pt is written before the log line)."""

    def log(line: str) -> None:
        if line.startswith(f"epoch {epoch}/"):
            raise _StopAfter(line)

    return log


def test_an_extension_stopped_on_the_way_is_not_read_as_the_finished_run(finished: Path, tmp_path: Path) -> None:
    """Extending a finished run and stopping it after one more epoch leaves no metrics.json of the earlier end:
    --reuse then continues the run to its new length instead of reading the 2-epoch figures as its result."""
    run = _copy(finished, tmp_path / "run")
    assert (run / "metrics.json").is_file()
    with pytest.raises(_StopAfter):
        train(_config(**{"train.epochs": 4}), run, resume=True, log=_stop_after(3))
    assert not any((run / name).exists() for name in ("metrics.json", "activity.npz", "predictions.npz"))
    lines: list[str] = []
    metrics = train(_config(**{"train.epochs": 4}), run, reuse=True, log=lines.append)
    assert metrics["epochs"] == 4 and [line.split(":")[0] for line in lines if line.startswith("epoch ")] == [
        "epoch 4/4"
    ]  # trained on from the end of epoch 3, not read back as the 2-epoch run
    with (run / "metrics.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2", "3", "4"]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 4


def test_an_unfinished_run_cannot_be_shortened_on_resume(tmp_path: Path) -> None:
    """A 4-epoch run stopped after epoch 1 is not resumed with train.epochs 2 (its cosine schedule is that of 4
    epochs; a resume that went on would be logged as an extension "from 4 to 2")."""
    run = tmp_path / "run"
    with pytest.raises(_StopAfter):
        train(_config(**{"train.epochs": 4}), run, log=_stop_after(1))
    before = _snapshot(run)
    with pytest.raises(CheckpointError, match=r"started for 4 epochs and has done 1; train\.epochs=2 cannot shorten"):
        train(_config(**{"train.epochs": 2}), run, resume=True, log=_quiet)
    assert _snapshot(run) == before


def test_a_model_record_given_as_last_pt_is_refused_by_name(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path / "run")
    (run / "metrics.json").unlink()
    (run / "last.pt").write_bytes((run / "best.pt").read_bytes())
    with pytest.raises(CheckpointError) as error:
        train(_config(), run, resume=True, log=_quiet)
    message = str(error.value)
    assert message.startswith(f"{run / 'last.pt'}: holds no training state (optimiser, scheduler, rng")
    assert "--overwrite" in message


def test_a_run_without_validation_data_records_no_validation_figures(tmp_path: Path) -> None:
    """data.val_fraction 0 with a fixed schedule: metrics.csv leaves the validation cells empty and metrics.json
    has best_val_accuracy null (they read 0.0 before, as if measured); evaluating on validation data that does
    not exist (train.test: false) is a ConfigError before training."""
    fixed = {"data.val_fraction": 0.0, "train.select": "last"}
    metrics = train(_config(**fixed), tmp_path / "run", log=_quiet)
    assert metrics["best_val_accuracy"] is None and metrics["best_epoch"] == 2
    assert isinstance(metrics["test_accuracy"], float)
    with (tmp_path / "run" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["val_loss"], row["val_accuracy"]) for row in rows] == [("", ""), ("", "")]
    assert all(float(row["train_loss"]) > 0 for row in rows)
    with pytest.raises(ConfigError, match=r"train\.test: false evaluates .* validation data, but there is none"):
        train(_config(**fixed, **{"train.test": False}), tmp_path / "other", log=_quiet)
    assert not (tmp_path / "other" / "best.pt").exists()


def test_a_validation_share_that_rounds_to_no_sample_is_said_so(tmp_path: Path) -> None:
    """3 training samples with data.val_fraction 0.1: the message said "data.val_fraction is 0"."""
    config = _config(**{"data.limit_train": 3, "train.batch_size": 1})
    with pytest.raises(
        ConfigError,
        match=r"no validation data \(a data\.val_fraction 0\.1 share of the training samples, or of their groups, is "
        r"none\) to choose the best epoch on; give more training samples or a larger data\.val_fraction, or",
    ):
        train(config, tmp_path / "run", log=_quiet)


def test_a_stop_between_last_pt_and_best_pt_is_repaired_on_resume(tmp_path: Path, monkeypatch) -> None:
    """The process dies after last.pt of epoch 2 (the chosen epoch under train.select: last) and before best.pt:
    --resume writes best.pt from last.pt's model, so the final test reads epoch 2's weights, not epoch 1's."""
    import torch

    from bpsrm.engine import trainer

    real_save = trainer.save_checkpoint

    def dies_before_best(path, payload):
        if Path(path).name == "best.pt" and payload["epoch"] == 2:
            raise _StopAfter("killed between last.pt and best.pt")
        return real_save(path, payload)

    run, config = tmp_path / "run", _config(**{"train.select": "last"})
    monkeypatch.setattr(trainer, "save_checkpoint", dies_before_best)
    with pytest.raises(_StopAfter):
        train(config, run, log=_quiet)
    monkeypatch.setattr(trainer, "save_checkpoint", real_save)
    last = torch.load(run / "last.pt", weights_only=False)
    assert last["epoch"] == 2 and torch.load(run / "best.pt", weights_only=False)["epoch"] == 1
    logged: list[str] = []
    metrics = train(config, run, resume=True, log=logged.append)
    assert any("not written for epoch 2, the chosen one" in line for line in logged)
    best = torch.load(run / "best.pt", weights_only=False)
    assert best["epoch"] == 2 and metrics["best_epoch"] == 2
    assert set(trainer.MODEL_RECORD) <= set(best) and set(best) - set(trainer.MODEL_RECORD) <= {"ood", "format_version"}
    for name, tensor in last["model"].items():
        assert torch.equal(best["model"][name], tensor), name


@pytest.mark.parametrize("command", ["train", "demo"])
def test_torchrun_without_out_is_refused(command: str, monkeypatch, capsys, tmp_path: Path) -> None:
    """Under torchrun every process would name its run folder from its own clock."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", str(config)] if command == "train" else ["demo"]) == 1
    assert "under torchrun (WORLD_SIZE=2) give --out RUN_FOLDER" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from bpsrm.engine.run_folder import FolderLock
lock = FolderLock(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_process_fails_at_once_and_sigkill_releases_the_lock(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with pytest.raises(
            RunFolderError, match=rf"another bpsrm process is training into this folder \(pid {holder.pid}"
        ):
            train(_config(), run, log=_quiet)
        assert time.monotonic() - start < 5.0  # at once, not after a timeout
        assert not run_folder.run_files(run)  # the refused start wrote nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    lock = run_folder.FolderLock(run)  # the operating system dropped the killed holder's lock
    lock.release()


def test_two_commands_on_one_folder_one_trains_and_the_other_is_refused(tmp_path: Path) -> None:
    # 300 tiny epochs (some seconds): the first must still hold the folder when the second has started Python
    # and imported bpsrm (3 epochs could end first, and the second then met a finished run; seen in CI).
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 300}}))
    command = [sys.executable, "-m", "bpsrm", "--threads", "1", "train", str(config), "--out", str(tmp_path / "run")]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / run_folder.CONFIG_YAML).is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert "another bpsrm process is training into this folder" in second.stderr
    assert "Traceback" not in second.stderr


def test_a_run_folder_named_by_the_time_keeps_the_experiment_name_as_written(monkeypatch) -> None:
    """runs/<experiment>-<time>: a % in the experiment's name is not a strftime directive."""
    from bpsrm.cli import _timestamped_folder

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    folder = _timestamped_folder("acc%d-run%%")
    assert folder.parent == Path("runs") and folder.name.startswith("acc%d-run%%-")
    assert len(folder.name) == len("acc%d-run%%-") + len("20261205-224751")


def test_a_start_that_fails_removes_the_folder_it_made_and_keeps_one_it_found(tmp_path: Path) -> None:
    """A refused start (here event frames of T = 1 fed to a model of T = 4) left an empty run folder behind: the
    folder it made itself goes, a folder that existed before stays with what was in it."""
    bad = _config(**{"encoder.name": "frames", "model.time_steps": 4})
    made = tmp_path / "new" / "run"
    with pytest.raises(ConfigError, match="does not fit"):
        train(bad, made, log=_quiet)
    assert not made.exists() and (tmp_path / "new").is_dir()
    found = tmp_path / "found"
    found.mkdir()
    (found / "my-notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="does not fit"):
        train(bad, found, log=_quiet)
    assert (found / "my-notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"  # made by the user before the start, empty: not the start's to remove
    empty.mkdir()
    with pytest.raises(ConfigError, match="does not fit"):
        train(bad, empty, log=_quiet)
    assert empty.is_dir()


def test_a_start_stopped_by_ctrl_c_before_training_removes_the_folder_it_made(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C during a long data preparation (KeyboardInterrupt, not an Exception) left the folder behind too."""
    from bpsrm.engine import trainer

    def interrupted(config, out, *args, **kwargs):
        run_folder.write_config(out, {"stand-in": True})  # what _open_folder writes first
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "_train", interrupted)
    made = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(_config(), made, log=_quiet)
    assert not made.exists()


def test_the_folder_of_a_failed_start_stays_when_another_start_has_written_into_it(tmp_path: Path, monkeypatch) -> None:
    """remove_if_unused removes only the files a start writes and then the folder with rmdir, which keeps a folder
    that another start has put its own lock file into between the check and the removal (removing the whole tree
    deleted that start's folder under it)."""
    made = tmp_path / "run"
    lock = run_folder.FolderLock(made)
    run_folder.write_config(made, {"a": 1})
    (made / "metrics.csv").write_text("epoch\n")  # the folder holds a run: not removed
    assert not run_folder.remove_if_unused(made) and (made / "config.yaml").is_file()
    (made / "metrics.csv").unlink()
    real_rmtree = run_folder.shutil.rmtree

    def another_start_arrives(path, *args, **kwargs):  # called first, for the TensorBoard folder
        real_rmtree(path, *args, **kwargs)
        (made / "other-start.lock").write_text("pid 2")

    monkeypatch.setattr(run_folder.shutil, "rmtree", another_start_arrives)
    assert not run_folder.remove_if_unused(made)
    assert sorted(p.name for p in made.iterdir()) == ["other-start.lock"]
    monkeypatch.undo()
    (made / "other-start.lock").unlink()
    assert run_folder.remove_if_unused(made) and not made.exists()
    lock.release()


def test_a_command_line_start_that_fails_leaves_no_timestamped_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without --out the run folder is runs/<experiment>-<time> under the working directory: a failed start left
    one there (in the checkout, when the tests ran)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert main(["train", str(config), "encoder.name=frames", "model.time_steps=4"]) == 1
    assert "does not fit" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_start_that_fails_after_training_began_keeps_its_folder(tmp_path: Path, monkeypatch) -> None:
    """Once an epoch has written metrics.csv (or a checkpoint) the folder holds a run and is not removed."""
    from bpsrm.engine import trainer

    real = run_folder.write_history

    def write_then_fail(run: Path, rows) -> None:
        real(run, rows)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer.run_folder, "write_history", write_then_fail)
    made = tmp_path / "run"
    with pytest.raises(OSError):
        train(_config(), made, log=_quiet)
    assert (made / "metrics.csv").is_file() and (made / "config.yaml").is_file()


@pytest.mark.parametrize(
    ("failing", "file"),
    [("write_predictions", "predictions.npz"), ("write_activity", "activity.npz"), ("write_metrics", "metrics.json")],
)
def test_a_full_disk_after_training_keeps_the_model_and_resume_writes_the_results(
    tmp_path, monkeypatch, capsys, failing: str, file: str
) -> None:
    """A full disk while the finished run wrote its results was a bare OSError (a traceback; with the CLI's catch-all
    one line that named no file). It is a RunFolderError naming the file, and --resume writes the results."""
    import errno

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 1}}))
    real = getattr(run_folder, failing)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_folder, failing, full)
    status = main(["train", str(config), "--out", str(tmp_path / "run")])
    assert status == 1
    expected = f"best.pt and last.pt are kept, but {file} could not be written (No space left on device); make room"
    assert expected in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.suffix == ".pt") == ["best.pt", "last.pt"]
    assert not (tmp_path / "run" / "metrics.json").exists()
    monkeypatch.setattr(run_folder, failing, real)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--resume"]) == 0
    assert {"metrics.json", "predictions.npz", "activity.npz"} <= {p.name for p in (tmp_path / "run").iterdir()}


def test_a_run_with_a_norm_option_it_never_read_resumes(tmp_path, monkeypatch) -> None:
    """A run written before build_model refused unread norm options (here stats='time_channel' with no norm in the
    spec) is a valid run: --resume extends it, while a new run of that config is told of the option."""
    import bpsrm.network.models as models

    config = _config(**{"model.norm.stats": "time_channel", "train.epochs": 1})
    with pytest.raises(ConfigError, match="norm option stats='time_channel' has no effect on 'FC16-SRM-FC10'"):
        train(config, tmp_path / "new", log=_quiet)
    with pytest.raises(ConfigError, match="norm option stats='time_channel' has no effect"):  # nothing to resume:
        train(config, tmp_path / "empty", resume=True, log=_quiet)  # a new run, told as one (helper-64)
    run = tmp_path / "run"
    with monkeypatch.context() as old_code:  # the run as the code before the check wrote it
        old_code.setattr(models, "_refuse_unread_norm_options", lambda *args: None)
        train(config, run, log=_quiet)
    train(_config(**{"model.norm.stats": "time_channel", "train.epochs": 2}), run, resume=True, log=_quiet)
    with (run / "metrics.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
