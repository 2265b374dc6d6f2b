"""The `bpsrm` command: version, help, and the demo end to end (one epoch)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from bpsrm import __version__
from bpsrm.cli import main


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"bpsrm {__version__}"


def test_no_command_prints_help(capsys) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_bad_epochs_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])
    assert "expected a whole number >= 1, got '0'" in capsys.readouterr().err


def test_the_console_script_freezes_what_the_command_left_then_exits_with_its_status(monkeypatch) -> None:
    """The `bpsrm` script and ``python -m bpsrm`` end through bpsrm.cli.console: main's status, after gc.freeze
    (the interpreter's last collections would walk every object torch left, benchmarks/command_exit.py)."""
    import gc
    import importlib.metadata

    import bpsrm.cli
    from conftest import REPO

    calls: list[str] = []
    monkeypatch.setattr(bpsrm.cli, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as ended:
        bpsrm.cli.console()
    assert ended.value.code == 3 and calls == ["main", "freeze"]
    assert '[project.scripts]\nbpsrm = "bpsrm.cli:console"\n' in (REPO / "pyproject.toml").read_text()
    (installed,) = importlib.metadata.entry_points(group="console_scripts", name="bpsrm")
    assert installed.value == "bpsrm.cli:console"  # the script this environment runs
    assert "console()" in (REPO / "src" / "bpsrm" / "__main__.py").read_text()


@pytest.mark.slow
def test_demo_one_epoch_writes_a_run_folder(tmp_path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "bpsrm", "demo", "--epochs", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    assert metrics["test_accuracy"] > 0.6  # one epoch on 4,500 images; chance is 0.10
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1 and float(rows[0]["val_accuracy"]) > 0.5
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert len(list(out.glob("*.png"))) >= 3


def test_threads_option_sets_the_run_threads_and_is_recorded(tmp_path) -> None:
    import torch
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "experiment": "threads",
                "data": {"name": "fashion-mnist-demo", "limit_train": 200, "limit_test": 50},
                "model": {"spec": "4C3-TCN-SRM-AP2-FC10", "time_steps": 2},
                "train": {"epochs": 1, "batch_size": 50},
                "log": {"progress": False},
            }
        )
    )
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # so that the option has something to change, whatever the machine
        assert main(["--threads", "1", "train", str(config), "--out", str(tmp_path / "run")]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["threads"] == 1


def test_zero_threads_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--threads", "0", "demo"])
    assert "--threads" in capsys.readouterr().err


def test_the_demo_settings_live_in_demo_config_alone(monkeypatch) -> None:
    """DEMO_CONFIG's epochs and seed were overwritten by defaults of 8 and 0 written in three more places (the
    CLI, demo_config, run_demo): editing DEMO_CONFIG changed nothing. Now it decides; the CLI's help text states
    its values."""
    import argparse

    from bpsrm import demo
    from bpsrm.cli import build_parser

    assert demo.demo_config().train.epochs == demo.DEMO_CONFIG["train"]["epochs"]
    assert demo.demo_config().seed == demo.DEMO_CONFIG["seed"]
    monkeypatch.setitem(demo.DEMO_CONFIG, "seed", 5)
    monkeypatch.setitem(demo.DEMO_CONFIG, "train", {**demo.DEMO_CONFIG["train"], "epochs": 3})
    assert (demo.demo_config().train.epochs, demo.demo_config().seed) == (3, 5)
    assert (demo.demo_config(epochs=2, seed=1).train.epochs, demo.demo_config(epochs=2, seed=1).seed) == (2, 1)
    monkeypatch.undo()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub.choices["demo"]._actions}
    assert f"(default: {demo.DEMO_CONFIG['train']['epochs']})" in helps["epochs"]
    assert f"(default: {demo.DEMO_CONFIG['seed']})" in helps["seed"]


def test_a_plain_demo_resume_continues_the_run_as_it_was_set_up(tmp_path, monkeypatch) -> None:
    """`bpsrm demo --epochs 1 --out runs/d`, then `bpsrm demo --out runs/d --resume`, extended the finished run to
    the demo's default 8 epochs ("extending runs/d from 1 to 8 epochs"): a plain --resume now takes the run's own
    epochs and seed; --epochs given with --resume still extends it."""
    from bpsrm import demo
    from bpsrm.engine.config import config_to_dict
    from bpsrm.engine.run_folder import write_config

    given: list = []
    monkeypatch.setattr(demo, "train", lambda config, out, **kwargs: given.append(config) or {})
    out = tmp_path / "run"
    out.mkdir()
    write_config(out, config_to_dict(demo.demo_config(epochs=1, seed=3)))
    demo.run_demo(out, resume=True, log=lambda _: None)
    demo.run_demo(out, resume=True, epochs=2, log=lambda _: None)
    demo.run_demo(tmp_path / "new", resume=True, log=lambda _: None)  # nothing to resume: the demo's own settings
    assert [(c.train.epochs, c.seed) for c in given] == [(1, 3), (2, 3), (8, 0)]
    (out / "config.yaml").write_text("train: [unclosed\n")  # the defaults would extend the run: an error instead
    from bpsrm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"config\.yaml"):
        demo.run_demo(out, resume=True, log=lambda _: None)
    assert len(given) == 3


def test_overrides_may_follow_the_options_and_keep_their_order(tmp_path, monkeypatch) -> None:
    """`bpsrm train cfg --out runs/x train.epochs=3` was refused ("unrecognized arguments: train.epochs=3"):
    argparse ends the positional list at the first option. Overrides now may come on either side, in order."""
    from bpsrm.engine import trainer

    seen: list = []
    monkeypatch.setattr(trainer, "train", lambda config, out, **kwargs: seen.append((config, out)) or {})
    config = "configs/fashion-mnist.yaml"
    argv = ["train", config, "train.epochs=2", "--out", str(tmp_path / "x"), "train.epochs=3", "model.time_steps=4"]
    assert main(argv) == 0
    ((trained, out),) = seen
    assert (trained.train.epochs, trained.model.time_steps, out) == (3, 4, tmp_path / "x")


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["train", "configs/fashion-mnist.yaml", "--out", "x", "--epocs", "3"], "--epocs 3"),
        (["train", "configs/fashion-mnist.yaml", "--out", "x", "epochs"], "epochs"),
        (["eval", "run/best.pt", "train.epochs=3"], "train.epochs=3"),  # eval takes no overrides
        (["train", "configs/fashion-mnist.yaml", "--out", "x", "a=1", "typo"], "typo"),  # the override is fine
    ],
)
def test_what_is_neither_an_option_nor_an_override_is_still_refused(argv, unknown, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert f"unrecognized arguments: {unknown}" in capsys.readouterr().err
