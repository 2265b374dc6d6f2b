"""Every failure a user can cause ends in one line, ``bpsrm: error: ...``, and exit status 1: the cases
found by trying the command line as a careless or hostile user would (issue 20), each driven through
:func:`bpsrm.cli.main` in this process, so that any other exception fails the test."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from bpsrm.cli import main
from bpsrm.errors import ParameterError, shown
from bpsrm.network.models import build_model
from conftest import REPO

TINY = {
    "experiment": "tiny",
    "data": {"name": "fashion-mnist-demo", "limit_train": 64, "limit_test": 32},
    "model": {"spec": "FC16-SRM-FC10", "time_steps": 2},
    "train": {"epochs": 1, "batch_size": 32},
    "log": {"progress": False, "plots": False},
}


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 1, err
    assert "Traceback" not in err
    errors = [line for line in lines if line.startswith("bpsrm: error: ")]
    assert len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def test_an_allocator_setting_bpsrm_does_not_know_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    """BPSRM_ALLOCATOR=bogus was taken for tuned without a word (--allocator bogus is refused by argparse)."""
    monkeypatch.setenv("BPSRM_ALLOCATOR", "bogus")
    _fails(["demo", "--epochs", "1", "--out", tmp_path / "run"], capsys, "BPSRM_ALLOCATOR='bogus'; expected tuned")
    assert not (tmp_path / "run").exists()
    from bpsrm import runtime

    for accepted in ("", " Default "):  # unset or empty is the tuned default; case and spaces as BPSRM_KERNEL
        monkeypatch.setenv("BPSRM_ALLOCATOR", accepted)
        monkeypatch.setattr(runtime, "tune_allocator", lambda: "tuned")
        assert main(["eval", str(tmp_path / "missing.pt")]) == 1  # refused for the missing file, not the setting
        assert "BPSRM_ALLOCATOR" not in capsys.readouterr().err


def test_an_empty_file_as_a_checkpoint(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "best.pt"
    empty.touch()
    _fails(["eval", empty], capsys, str(empty), "an empty file (0 bytes)")
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG")
    _fails(["predict", empty, image], capsys, str(empty), "an empty file (0 bytes)")


def test_a_yaml_file_as_a_checkpoint(config: Path, capsys) -> None:
    _fails(["eval", config], capsys, str(config), "not a readable bpsrm checkpoint")


def test_a_spec_too_large_for_memory_is_refused_before_allocating(config: Path, tmp_path: Path, capsys) -> None:
    message = _fails(
        ["train", config, "model.spec=FC1000000000-SRM-FC10", "--out", tmp_path / "run"],
        capsys,
        "'FC1000000000'",
        "784,000,000,000 parameters",
        "GiB of memory",
    )
    assert "this machine has" in message


def test_a_batch_too_large_for_memory_is_refused(config: Path, tmp_path: Path, capsys) -> None:
    _fails(
        ["train", config, "model.spec=512C3-SRM-FC10", "train.batch_size=100000", "--out", tmp_path / "run"],
        capsys,
        "train.batch_size=100000",
        "GiB of activations",
    )


def test_an_empty_config_file(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    _fails(["train", empty, "--out", tmp_path / "run"], capsys, str(empty), "the file is empty")
    assert not (tmp_path / "run").exists()


def test_a_config_that_is_not_utf8(tmp_path: Path, capsys) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("experiment: caf\u00e9\n".encode("latin-1"))  # byte 0xe9 at position 15
    _fails(["train", latin, "--out", tmp_path / "run"], capsys, str(latin), "a config must be UTF-8 text", "byte 15")


def test_a_config_name_with_a_null_byte(tmp_path: Path, capsys) -> None:
    """Found by test_cli_fuzz: Path.read_text raises ValueError ("embedded null byte"), not OSError."""
    _fails(["train", "\x00", "--reuse", "--out", tmp_path / "run"], capsys, "'\\x00'", "not a usable file name")


def test_an_override_error_names_the_override_not_the_file(config: Path, tmp_path: Path, capsys) -> None:
    message = _fails(
        ["train", config, "train.epochs=0", "--out", tmp_path / "run"], capsys, "override 'train.epochs=0'"
    )
    assert message.index("override") < message.index(str(config))  # the override is the subject
    _fails(
        ["train", config, "train.epoch=3", "--out", tmp_path / "run"],
        capsys,
        "override 'train.epoch=3'",
        "did you mean train.epochs",
    )
    _fails(["train", config, "=3", "--out", tmp_path / "run"], capsys, "override '=3' must look like key.sub=value")


def test_an_error_of_the_file_itself_names_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": -1}}))
    message = _fails(["train", path, "seed=4", "--out", tmp_path / "run"], capsys, str(path), "train.epochs")
    assert "override" not in message


def test_time_steps_zero_is_refused_by_the_builder_without_a_norm() -> None:
    expected = "time_steps (None or a count) must be a whole number in [1, 2147483647], got 0"
    with pytest.raises(ParameterError, match=re.escape(expected)):
        build_model("FC10", (784,), time_steps=0)
    with pytest.raises(ParameterError, match="got True"):
        build_model("FC10", (784,), time_steps=True)
    assert build_model("FC10", (784,), time_steps=None)(torch.zeros(2, 1, 784)).shape == (1, 10)


@pytest.mark.data
def test_a_numeric_class_set_on_the_command_line_is_the_named_set(shared_data, capsys) -> None:
    """-o class_set=9 (the example of eval --help) reads as the number 9: the dataset takes it as "9"."""
    import json

    status = main(["data", "info", "cwru", "--root", str(shared_data), "-o", "class_set=9", "-o", "load=1"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert len(json.loads(captured.out)["test"]["classes"]) == 9


def test_a_resume_with_another_config_names_the_keys_on_the_command_line(config: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    capsys.readouterr()
    _fails(
        ["train", config, "optim.lr=0.02", "--out", out, "--resume"],
        capsys,
        "optim.lr: 0.001 there, 0.02 now",
        "only train.epochs may change",
    )
    _fails(["train", config, "--out", out], capsys, "holds a run", "--resume", "--overwrite")


def test_a_resume_on_another_split_is_one_error_line(config: Path, tmp_path: Path, capsys) -> None:
    """A last.pt whose recorded split is not the one this config draws (as after a change of the data) ends in one
    line naming the file and both splits; TINY's 64 samples split 58 / 6 (data.val_fraction 0.1)."""
    from bpsrm.engine.checkpoint import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    capsys.readouterr()
    last = out / "last.pt"
    state = load_checkpoint(last)
    save_checkpoint(last, {**state, "split": {**state["split"], "train": 50, "val": 14, "sha256": "0" * 64}})
    _fails(
        ["train", config, "train.epochs=2", "--out", out, "--resume"],
        capsys,
        str(last),
        "another split (50 train / 14 validation samples, where this config draws 58 train / 6 validation samples",
    )


def test_a_key_given_twice_is_refused_not_the_last_one_kept(config: Path, tmp_path: Path, capsys) -> None:
    """PyYAML keeps the last of two equal keys: a second ``train:`` block dropped ``epochs: 50`` without a word."""
    twice = tmp_path / "twice.yaml"
    twice.write_text(config.read_text() + "train: {batch_size: 16}\n")
    lines = twice.read_text().splitlines()
    first, second = [n + 1 for n, line in enumerate(lines) if line.startswith("train:")]
    fragment = f"line {second}: the key 'train' is given a second time (first on line {first})"
    _fails(["train", twice, "--out", tmp_path / "run"], capsys, str(twice), fragment)
    _fails(
        ["train", config, "train={epochs: 1, epochs: 2}", "--out", tmp_path / "run"],
        capsys,
        "override train",
        "line 1: the key 'epochs' is given a second time (first on line 1)",
    )
    assert not (tmp_path / "run").exists()


def test_an_alias_bomb_is_quoted_in_one_short_line(tmp_path: Path, capsys) -> None:
    """40 levels of lists of two aliases: tiny as YAML and in memory, 2**40 items as a full repr."""
    lines = ["experiment: bomb", "data:", "  name: fashion-mnist-demo", "  options:", "    k0: &l0 [lol, lol]"]
    lines += [f"    k{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, 40)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([*lines, "model:", "  spec: *l39"]) + "\n")
    message = _fails(["train", bomb, "--out", tmp_path / "run"], capsys, str(bomb), "model.spec: expected a string")
    assert len(message) < 400


def test_a_config_nested_deeper_than_the_stack(tmp_path: Path, capsys) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("experiment: " + "[" * 20_000 + "]" * 20_000 + "\n")
    _fails(["train", deep, "--out", tmp_path / "run"], capsys, str(deep), "nested too deeply")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("schedule.warmup_epochs=.inf", "schedule.warmup_epochs: expected a finite number, got inf"),
        ("optim.weight_decay=.nan", "optim.weight_decay: expected a finite number, got nan"),
        ("model.norm.eps=" + "9" * 400, "model.norm.eps: expected a finite number"),  # beyond float's range
        ("seed=" + "1" * 30, "seed: expected a whole number of at most 64 bits"),
        ("train.batch_size=" + "1" * 25, "train.batch_size: expected a whole number of at most 64 bits"),
        ("seed=-1", "seed: expected in [0, 4294967295]"),
        (
            "data.options.augment_gain=0x" + "f" * 400,
            "data.options.augment_gain: expected a whole number of at most 64",
        ),
        ("seed=" + "1" * 5000, "a value cannot be read"),  # int() refuses more than 4,300 digits: a ValueError
        ("seed=4294967296", "seed: expected in [0, 4294967295]"),
    ],
)
def test_numbers_no_setting_can_use_are_refused(
    config: Path, tmp_path: Path, capsys, override: str, fragment: str
) -> None:
    """Before: inf warm-up epochs ended in an OverflowError, a 30-digit seed in torch.manual_seed's ValueError."""
    message = _fails(["train", config, override, "--out", tmp_path / "run"], capsys, fragment)
    assert message.startswith("bpsrm: error: override ") and len(message) < 600  # the override is the subject


def test_shown_quotes_any_value_in_a_short_line() -> None:
    nested: list = ["lol", "lol"]
    for _ in range(40):  # 2**41 strings as a full repr; one list of two references per level in memory
        nested = [nested, nested]
    assert shown(nested) == "[[[[...], [...]], [[...], [...]]], [[[...], [...]], [[...], [...]]]]"
    assert shown(10**5000) == "<a whole number of 16610 bits>"  # repr(10**5000) itself raises ValueError
    assert len(shown("x" * 10_000)) <= 80 and shown("x" * 10_000).startswith("'xxx") and "..." in shown("x" * 10_000)
    assert shown(3) == "3" and shown("train") == "'train'"


def test_the_unique_key_loader_reads_what_the_safe_loader_reads_else() -> None:
    """Merges may override merged keys, also in a mapping anchored inside a merge and used again later (a first
    version saw that mapping after flattening and refused it); 1 and "1" are two keys; true and yes are one."""
    from bpsrm.engine.config import read_yaml

    texts = [
        "base: &b {lr: 1, wd: 2}\nx:\n  <<: *b\n  lr: 3\n",
        "a: &a {p: 1}\nb: &b {p: 2}\nc:\n  <<: [*a, *b]\n  p: 3\n",
        "common: &c {lr: 0.1}\nx:\n  <<: &y\n    <<: *c\n    lr: 0.2\n  wd: 1\nz: *y\n",
        "1: a\n'1': b\n",
    ]
    for text in texts:
        assert read_yaml(text) == yaml.safe_load(text), text
    with pytest.raises(yaml.YAMLError, match="line 2: the key 'yes' is given a second time"):
        read_yaml("true: 1\nyes: 2\n")


def test_data_not_found_names_the_options_each_command_has(tmp_path, monkeypatch, capsys) -> None:
    """The message named root=... and --root DIR, which `bpsrm train` does not take, and download=True, which no
    command offers for CWRU: it now names each command's own way (train: data.root=DIR)."""
    monkeypatch.delenv("BPSRM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = REPO / "configs" / "cwru.yaml"
    assert main(["train", str(config), f"data.root={tmp_path / 'dta'}", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bpsrm: error: CWRU not found. Looked in:") and "Traceback" not in err
    assert f"{tmp_path / 'dta'}" in err
    assert "data.root=DIR (bpsrm train)" in err and "--root DIR (bpsrm crossload, eval, data info)" in err
    assert "Pass root=" not in err and "or pass download=True" not in err


def test_a_time_step_mismatch_names_the_keys_to_change(config, tmp_path, capsys) -> None:
    """Event frames of another T than the model's (or the frames encoder on images) named no config key."""
    _fails(
        ["train", config, "encoder.name=frames", "model.time_steps=4", "--out", tmp_path / "run"],
        capsys,
        "encoder.name='frames' with model.time_steps=4 does not fit the dataset's samples of shape",
        "data.options",
        "the samples hold T = 1 frames, the model expects T = 4",
    )


@pytest.mark.parametrize(("command", "missing"), [("train", "config"), ("crossload", "config, --out")])
def test_the_optional_overrides_are_not_called_required(command, missing, capsys) -> None:
    """argparse listed a nargs='*' positional without a default as required: 'required: config, KEY=VALUE'."""
    with pytest.raises(SystemExit) as info:
        main([command])
    assert info.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith(f"error: the following arguments are required: {missing}")


def test_a_dataset_option_named_as_get_datasets_own_argument_is_refused(tmp_path, capsys) -> None:
    """-o root=..., data.options.root=... and data.val_options.split=... reached get_dataset twice: a TypeError
    traceback ('got multiple values for keyword argument'); -o download=true set the download flag unasked."""
    checkpoint = REPO / "results" / "cwru" / "seed0" / "best.pt"
    _fails(["eval", checkpoint, "-o", "root=/tmp"], capsys, "-o: 'root' is not a dataset option", "--root")
    _fails(["data", "info", "cwru", "-o", "download=true"], capsys, "-o: 'download' is not a dataset option")
    config = REPO / "configs" / "cwru.yaml"
    out = tmp_path / "run"
    _fails(["train", config, "data.options.root=/tmp", "--out", out], capsys, "data.options: 'root' is not a dataset")
    _fails(["train", config, "data.val_options={split: train}", "--out", out], capsys, "data.val_options: 'split'")
    assert not out.exists()  # refused before the run folder is made

    from bpsrm.deploy.inference import evaluate_trained, load_trained

    with pytest.raises(ParameterError, match="options: 'root' is not a dataset option"):
        evaluate_trained(load_trained(checkpoint), options={"root": "/tmp"})


def test_threads_beyond_the_bound_and_yaml_errors_are_one_line(tmp_path, capsys) -> None:
    """--threads 100000 crashed the process (status 139) and 2^31 overflowed torch.set_num_threads; a YAML error
    printed PyYAML's excerpt and caret over several lines (helper-50)."""
    from bpsrm.options import MAX_THREADS

    for threads in (MAX_THREADS + 1, 2**31):
        with pytest.raises(SystemExit) as stopped:
            main(["--threads", str(threads), "eval", str(tmp_path / "none.pt")])
        assert stopped.value.code == 2
        assert f"expected at most {MAX_THREADS} threads on this machine" in capsys.readouterr().err
    _fails(["--threads", str(MAX_THREADS), "eval", tmp_path / "none.pt"], capsys, "no such checkpoint file")
    _fails(
        ["data", "info", "cwru", "-o", 'load="abc'], capsys, "option load: cannot parse value", "at line 1, column 5"
    )
    (tmp_path / "tab.yaml").write_text("data:\n\tname: cwru\n")
    _fails(["train", tmp_path / "tab.yaml", "--out", tmp_path / "run"], capsys, "found character '\\t'", "line 2")


def test_a_run_folder_given_as_the_checkpoint_says_so(tmp_path, capsys) -> None:
    """`bpsrm eval results/cwru/seed0` said "no such checkpoint file" of a path that exists (helper-50)."""
    _fails(["eval", REPO / "results" / "cwru" / "seed0"], capsys, "seed0: a folder, not a checkpoint file (best.pt")
    _fails(["eval", tmp_path], capsys, f"{tmp_path}: a folder, not a checkpoint file")


def test_a_report_does_not_replace_a_run_file(tmp_path, capsys) -> None:
    """`bpsrm compare A A --out A/metrics.json` replaced the run's metrics with the report (helper-50)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(REPO / "results" / "cwru" / "seed0", run)
    before = (run / "metrics.json").read_bytes()
    for target in ("metrics.json", "best.pt"):
        _fails(["eval", run / "best.pt", "--out", run / target], capsys, "would replace a file of a run folder")
    assert (run / "metrics.json").read_bytes() == before
    (run / "eval.json").write_text("{}")  # a report of its own may be written again
    assert main(["eval", str(run / "best.pt"), "--out", str(run / "eval.json")]) == 0
    assert json.loads((run / "eval.json").read_text())["accuracy"] > 0.9


def test_a_path_too_long_for_the_file_system_is_one_error_line(capsys) -> None:
    """`bpsrm eval 999...9` (5,000 characters) ended in a traceback: Path.is_dir() raises ENAMETOOLONG."""
    message = _fails(["eval", "9" * 5000], capsys, "File name too long", "...")
    assert len(message) < 300


def test_an_oserror_no_reader_named_says_what_failed_which_file_and_where(config, tmp_path, capsys) -> None:
    """The catch-all of main(): a run folder whose name the file system refuses (300 characters) is one line with
    the error, the file (cut short) and the place in bpsrm, instead of a traceback."""
    message = _fails(
        ["train", config, "--out", tmp_path / ("a" * 300)], capsys, "File name too long: '", "aaaaaaaa' (in "
    )
    assert " (in " in message and ".py:" in message, message
    assert len(message) < 400


@pytest.mark.parametrize("name", ["9" * 5000, "a\x00b.pt"])
def test_load_checkpoint_names_a_path_the_file_system_cannot_take(name: str) -> None:
    """ENAMETOOLONG came out of Path.is_dir() as an OSError; a NUL byte as a ValueError from Path.stat()."""
    from bpsrm.engine.checkpoint import load_checkpoint
    from bpsrm.errors import CheckpointError

    with pytest.raises(CheckpointError, match="the checkpoint cannot be read") as caught:
        load_checkpoint(name)
    assert len(str(caught.value)) < 300


def test_a_reader_that_goes_away_gets_no_error_line(config, tmp_path) -> None:
    """`bpsrm eval best.pt | (exec 0<&-; sleep 8)`: the closed pipe printed "bpsrm: error: Broken pipe"."""
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    argv = [sys.executable, "-m", "bpsrm", "eval", str(tmp_path / "run" / "best.pt")]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader goes before the report is written
    err = child.stderr.read()
    assert child.wait(timeout=300) == 1
    assert "error" not in err and "Traceback" not in err, err


def test_a_config_name_too_long_for_the_file_system_is_quoted_cut_short(capsys) -> None:
    """Found by the argument fuzzer: `bpsrm train 999...9` (5,000 characters) printed the whole name back in its
    error line ("File name too long")."""
    from bpsrm.cli import main

    assert main(["train", "9" * 5000]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("bpsrm: error: '9999") and line.endswith(": cannot read the config (File name too long)")
    assert len(line) < 200
