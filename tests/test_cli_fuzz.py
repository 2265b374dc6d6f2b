"""A hypothesis-driven pass over the command line: random argument lists built from the parser's real
options (with good, bad and hostile values) and random config files built from the config schema's real
keys end in exit status 0, 1 or 2 with no traceback, and every status-1 answer is one ``bpsrm: error:``
line. Each case runs :func:`bpsrm.cli.main` in this process, so that any exception other than the
intended ones fails the test with the argument list that caused it."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import os
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bpsrm.cli import build_parser, main
from bpsrm.engine.config import Config

pytestmark = pytest.mark.slow

TINY = {
    "experiment": "fuzz",
    "data": {"name": "fashion-mnist-demo", "limit_train": 48, "limit_test": 16},
    "model": {"spec": "FC8-SRM-FC10", "time_steps": 2},
    "train": {"epochs": 1, "batch_size": 16, "max_batches": 1},
    "log": {"progress": False, "plots": False},
}
HUGE_TEXTS = ("9" * 5000, "-" + "9" * 5000, "x" * 10_000, "0x" + "f" * 5000)
"""Values hostile by size: a whole number of 5,000 digits (int() and repr() refuse more than 4,300), and a
string of 10,000 characters that an error message must not print back whole."""
LONGEST_LINE = 1500
"""The longest error line a case may print (a data-not-found message lists the folders searched)."""
# demo and crossload run long trainings (their own tests cover them); data download needs the network.
LEFT_OUT = {"demo", "crossload", "download"}
COUNT = itertools.count()


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict[str, Path]:
    """Files for positional and option values: good ones (a config, a checkpoint, an image) and bad ones."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (root / "empty.yaml").write_text("")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "zero.pt").touch()
    (root / "random.bin").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "text.csv").write_text("a,b\n1,2\nx,y\n")
    (root / "folder").mkdir()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(root / "image.png")
    assert main(["train", str(root / "tiny.yaml"), "--out", str(root / "run")]) == 0
    return {
        "config": root / "tiny.yaml",
        "empty": root / "empty.yaml",
        "list": root / "list.yaml",
        "checkpoint": root / "run" / "best.pt",
        "run": root / "run",
        "zero": root / "zero.pt",
        "random": root / "random.bin",
        "csv": root / "text.csv",
        "folder": root / "folder",
        "image": root / "image.png",
        "missing": root / "no-such-file.pt",
        "root": root,
    }


def _subcommands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name in LEFT_OUT:
                    continue
                nested = _subcommands(sub, (*prefix, name))
                found.update(nested or {(*prefix, name): sub})
    return found


COMMANDS = _subcommands(build_parser())
OVERRIDES = [
    "train.epochs=1",
    "train.epochs=0",
    "train.epochs=abc",
    "train.epochs=[1, 2]",
    "seed=3",
    "seed=-1",
    "model.spec=FC8-SRM-FC10",
    "model.spec=FC1000000000-SRM-FC10",
    "model.spec=8C3-SRM",
    "model.spec=",
    "model.time_steps=0",
    "model.time_steps=3",
    "model.neuron.tau_m=-1",
    "model.neuron.kernel=exp",
    "optim.lr=nan",
    "optim.lr=.inf",
    "data.name=nope",
    "data.name=json:loads",
    "data.limit_train=8",
    "train.batch_size=0",
    "nonsense",
    "=",
    "a.b.c.d=1",
    "train=3",
    "class_set=9",
    "load=[0, 1]",
    "load=7",
    "window=-4",
]


GOOD_FILES = {"config": "config", "checkpoint": "checkpoint", "files": "image", "run": "run", "root": "folder"}


def _values(action: argparse.Action, pool: dict[str, Path]) -> st.SearchStrategy[list[str]]:
    """Values for one option or positional: mostly a good one (from its choices, its type or the file it
    wants), else a bad file from the pool or junk."""
    junk = st.sampled_from(["", "-", "--", "nan", "-1", "1e400", "\x00", "ü", "../", "a=b=c", *HUGE_TEXTS])
    files = st.sampled_from([str(p) for k, p in pool.items() if k != "root"])
    bad = st.one_of(junk, files, st.text(max_size=5))
    if action.choices:
        good = st.sampled_from([str(c) for c in action.choices])
    elif action.dest in GOOD_FILES:
        good = st.just(str(pool[GOOD_FILES[action.dest]]))
    elif action.dest == "out":
        good = st.builds(lambda n: str(pool["root"] / f"written{n}.out"), st.integers(0, 10**6))
    elif action.dest in ("overrides", "option"):
        good = st.sampled_from(OVERRIDES)
    elif action.dest in ("epochs", "threads"):
        good = st.integers(1, 2).map(str)
    elif action.type is int or (action.type is not None and "int" in getattr(action.type, "__name__", "")):
        good = st.integers(0, 3).map(str)
    else:
        good = st.one_of(st.floats(0.1, 1e5).map(str), st.sampled_from(["0", "1", "X105_DE_time"]))
    one = st.one_of(good, good, good, bad)
    if action.nargs in ("+", "*"):
        return st.lists(one, min_size=1 if action.nargs == "+" else 0, max_size=3)
    return one.map(lambda v: [v])


@st.composite
def argument_lists(draw, pool: dict[str, Path]) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    parser = COMMANDS[command]
    argv = list(command)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            if draw(st.integers(0, 2)) > 0:  # each option now and then
                continue
            argv.append(draw(st.sampled_from(action.option_strings)))
            if action.nargs != 0:
                argv += draw(_values(action, pool))
        elif draw(st.integers(0, 9)) > 0:  # positionals: now and then left out
            argv += draw(_values(action, pool))
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--bogus", "-x", "--threads", "1"])))
    return argv


def _run(argv: list[str], workdir: Path) -> tuple[int, str]:
    """main(argv) with a fresh --out folder for commands that train (argparse's exits are statuses), run in
    ``workdir``: a relative path a random argument list writes to (a NIR file named `sum` once) stays out of the
    repository."""
    argv = [
        str(workdir / f"out{next(COUNT)}") if i and argv[i - 1] == "--out" and "train" in argv[:1] else a
        for i, a in enumerate(argv)
    ]
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as stop:  # argparse: --help, --version (0) and usage errors (2)
                status = stop.code if isinstance(stop.code, int) else 2
    finally:
        os.chdir(here)
    return status, err.getvalue()


def _check(status: int, err: str, argv: list[str]) -> None:
    assert status in (0, 1, 2), (status, argv, err[-2000:])
    assert "Traceback" not in err, (argv, err[-3000:])
    if status == 1:
        lines = [line for line in err.splitlines() if line.startswith("bpsrm: error: ")]
        # one error; predict names each file it refused (one line each) and classifies the others
        most = len(argv) if argv[:1] == ["predict"] else 1
        assert 1 <= len(lines) <= most, (argv, err[-2000:])
        for line in lines:
            assert len(line) < LONGEST_LINE, (argv, line[:300])  # a value of 10,000 characters is cut short


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_random_argument_lists_end_in_a_status_and_never_in_a_traceback(pool, data) -> None:
    argv = data.draw(argument_lists(pool))
    status, err = _run(argv, pool["root"])
    _check(status, err, argv)


# ------------------------------------------------------------------------------------------- configs


def _schema(cls: type) -> dict[str, typing.Any]:
    """The config schema's keys: {name: type or nested schema}."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: _schema(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else hints[f.name]
        for f in dataclasses.fields(cls)
    }


SCHEMA = _schema(Config)
SAFE = {
    ("train", "epochs"),
    ("train", "max_batches"),
    ("data", "limit_train"),
    ("data", "limit_test"),
    ("data", "name"),
    ("data", "root"),
    ("train", "batch_size"),
    ("model", "time_steps"),
    ("log", "tensorboard"),
}
ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["x" * 10_000, [1] * 10_000]),  # (YAML cannot dump an int of 5,000 digits: test_cli_errors)
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-1, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def configs(draw) -> dict[str, typing.Any]:
    """The tiny config with random keys of the schema set to random values (and now and then an unknown key)."""
    raw = yaml.safe_load(yaml.safe_dump(TINY))
    flat = [(section, key) for section, keys in SCHEMA.items() if isinstance(keys, dict) for key in keys]
    flat += [(key, None) for key, kind in SCHEMA.items() if not isinstance(kind, dict)]
    for section, key in draw(st.lists(st.sampled_from(flat), max_size=4, unique=True)):
        if (section, key) in SAFE:
            continue  # these keep every case small (and on data at hand)
        value = draw(ANY)
        if key is None:
            raw[section] = value
        else:
            raw.setdefault(section, {})
            if isinstance(raw[section], dict):
                raw[section][key] = value
    if draw(st.integers(0, 6)) == 0:
        raw[draw(st.sampled_from(["trian", "model", "data"]))] = draw(ANY)
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(raw=configs())
def test_random_configs_train_or_fail_with_one_clear_line(pool, raw) -> None:
    path = pool["root"] / f"config{next(COUNT)}.yaml"
    path.write_text(yaml.safe_dump(raw))
    argv = ["train", str(path), "--out", "placeholder"]
    status, err = _run(argv, pool["root"])
    _check(status, err, argv + [repr(raw)])
    assert status in (0, 1)
