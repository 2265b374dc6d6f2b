"""scripts/cv_select.py and scripts/final_runs.py end to end on a tiny config: the choice is made on validation
folds of the training part without a test figure anywhere, and the final runs read the test split once each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, run_script_here, script_module

TINY = """experiment: tiny-cv
seed: 0
data: {name: fashion-mnist-demo, limit_train: 200, limit_test: 50}
model: {spec: 4C3-TCN-SRM-MP4-FC10, time_steps: 2}
train: {epochs: 1, batch_size: 50}
log: {plots: false}
"""


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True, timeout=600, cwd=REPO
    )


@pytest.mark.slow
def test_choose_by_cv_then_final_runs(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    cv = tmp_path / "cv"
    chosen = _script(
        "cv_select.py", str(config), "--folds", "2", "--out", str(cv), "--threads", "1", "--jobs", "2",
        "--variant", "slow", "optim.lr=0.0001", "--variant", "fast", "optim.lr=0.01",
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr[-3000:]
    for name in ("slow", "fast"):  # two at once: each run's output in its own log
        assert all("test not read" in (cv / name / f"fold{k}.log").read_text() for k in range(2))
    report = json.loads((cv / "cv.json").read_text())
    import hashlib

    assert report["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()  # what --earlier checks
    means: dict[str, float] = {}  # from each fold's own metrics.json, as the trainer wrote it
    for name in ("slow", "fast"):
        accuracies = []
        for fold in range(2):
            metrics = json.loads((cv / name / f"fold{fold}" / "metrics.json").read_text())
            assert metrics["test_accuracy"] is None and metrics["evaluated_on"] == "validation"
            assert not (cv / name / f"fold{fold}" / "last.pt").exists()
            accuracies.append(metrics["best_val_accuracy"])
        means[name] = sum(accuracies) / 2
        assert report["variants"][name]["mean"] == pytest.approx(means[name], abs=1e-12)
    assert report["chosen"] == max(means, key=means.__getitem__) and report["chosen_per_fold"] is None
    assert f"chosen: {report['chosen']}" in chosen.stdout
    # Called again on the same --out: the same variants are read back (and a last.pt left by a run that ended
    # while the script was not there is deleted), one whose overrides changed is refused
    (cv / "fast" / "fold1" / "last.pt").write_bytes(b"left behind")
    again = _script(
        "cv_select.py", str(config), "--folds", "2", "--out", str(cv), "--threads", "1",
        "--variant", "slow", "optim.lr=0.0001", "--variant", "fast", "optim.lr=0.01",
    )  # fmt: skip
    assert again.returncode == 0 and "+ " not in again.stdout, again.stdout[-2000:]  # no training command ran
    assert not (cv / "fast" / "fold1" / "last.pt").exists()
    changed = _script(
        "cv_select.py", str(config), "--folds", "2", "--out", str(cv), "--threads", "1",
        "--variant", "slow", "optim.lr=0.0001", "--variant", "fast", "optim.lr=0.02",
    )  # fmt: skip
    assert changed.returncode != 0 and "fast" in changed.stderr and "optim.lr" in changed.stderr, changed.stderr

    final = _script("final_runs.py", str(cv / "cv.json"), "--out", str(tmp_path / "final"), "--seeds", "0", "1")
    assert final.returncode == 0, final.stderr[-3000:]
    assert "seed0: " in final.stdout and "seed1: " in final.stdout
    assert final.stdout.count("run folder: ") == 2  # each training's last line, written to the terminal (one job)
    for seed in (0, 1):
        run = tmp_path / "final" / f"seed{seed}"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["evaluated_on"] == "test" and metrics["test_samples"] == 50 and metrics["seed"] == seed
        selection = json.loads((run / "selection.json").read_text())
        assert selection["variant"] == report["chosen"] and f"seed={seed}" in selection["overrides"]
        assert not (run / "last.pt").exists()
    # Called again: the finished runs are read, not trained (a last.pt left by a run that ended while the script
    # was not there is deleted); one whose config.yaml says another config is refused
    args = (str(cv / "cv.json"), "--out", str(tmp_path / "final"), "--seeds", "0", "1")
    (tmp_path / "final" / "seed0" / "last.pt").write_bytes(b"left behind")
    again = _script("final_runs.py", *args)
    assert again.returncode == 0 and "+ " not in again.stdout, again.stdout[-2000:]
    assert not (tmp_path / "final" / "seed0" / "last.pt").exists()
    saved = tmp_path / "final" / "seed1" / "config.yaml"
    saved.write_text(saved.read_text().replace("time_steps: 2", "time_steps: 3"))
    changed = _script("final_runs.py", *args)
    assert changed.returncode != 0 and "seed1 holds a run of another config" in changed.stderr, changed.stderr
    assert "model.time_steps" in changed.stderr


def test_final_runs_plan_per_fold_and_refusals() -> None:
    plan = script_module("final_runs").plan
    report = {
        "variants": {"a": {"overrides": ["x=1"]}, "b": {"overrides": ["x=2"]}},
        "chosen": None,
        "chosen_per_fold": ["b", "a", "b"],
    }
    assert plan(report, None, 3) == [
        ("fold0", "b", ["x=2", "data.options.folds=3", "data.options.fold=0"]),
        ("fold1", "a", ["x=1", "data.options.folds=3", "data.options.fold=1"]),
        ("fold2", "b", ["x=2", "data.options.folds=3", "data.options.fold=2"]),
    ]
    with pytest.raises(SystemExit, match="give --folds 3"):
        plan(report, None, None)
    with pytest.raises(SystemExit, match="give --seeds"):
        plan({**report, "chosen": "a", "chosen_per_fold": None}, None, None)
    with pytest.raises(SystemExit, match=r"--seeds names 0 more than once \(0 1 0\)"):
        plan({**report, "chosen": "a", "chosen_per_fold": None}, [0, 1, 0], None)
    with pytest.raises(SystemExit, match=r"final_runs: seed -1: expected a whole number >= 0"):
        plan({**report, "chosen": "a", "chosen_per_fold": None}, [0, -1], None)


def test_nested_choice_per_fold_reads_only_each_folds_own_runs() -> None:
    script = script_module("cv_select")
    choose_per_fold, summarise = script.choose_per_fold, script.summarise
    rows = {
        "a": [{"best_val_accuracy": v, "best_epoch": 1} for v in (0.90, 0.70, 0.80)],
        "b": [{"best_val_accuracy": v, "best_epoch": 1} for v in (0.85, 0.95, 0.79)],
    }
    assert choose_per_fold(rows) == ["a", "b", "a"]  # fold by fold, although b has the higher mean
    table = summarise(rows)
    assert table["b"]["mean"] == pytest.approx(0.863333, abs=1e-6) and table["a"]["mean"] == pytest.approx(0.8)
    assert table["a"]["sd"] == pytest.approx(0.1)


def test_folded_ablation_starts_from_each_folds_chosen_overrides(tmp_path: Path) -> None:
    replicate = script_module("run_ablations").replicate
    fold1 = tmp_path / "nmnist-cv5" / "fold1"
    fold1.mkdir(parents=True)
    chosen = ["data.root=../shared/data", "data.augment.shift=3", "data.options.folds=5", "data.options.fold=1"]
    (fold1 / "selection.json").write_text(json.dumps({"variant": "aug", "overrides": chosen}))
    # fold 1 has a final run's selection: its overrides (less data.root, given apart); fold 0 ran the configured one
    assert replicate("nmnist-cv5", 1, tmp_path) == (
        "fold1",
        ["seed=0", "data.augment.shift=3", "data.options.folds=5", "data.options.fold=1", "data.options.fold=1"],
    )
    assert replicate("nmnist-cv5", 0, tmp_path) == ("fold0", ["seed=0", "data.options.fold=0"])
    assert replicate("fashion-mnist", 2, tmp_path) == ("seed2", ["seed=2"])
    (fold1 / "selection.json").write_text(json.dumps({"variant": "aug", "overrides": "data.augment.shift=3"}))
    with pytest.raises(SystemExit, match=r"selection\.json: 'overrides' must be a list"):
        replicate("nmnist-cv5", 1, tmp_path)
    (fold1 / "selection.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"fold1/selection\.json: not a readable selection\.json"):
        replicate("nmnist-cv5", 1, tmp_path)


def test_final_runs_never_reports_a_folder_of_another_choice(tmp_path: Path) -> None:
    check_folder = script_module("final_runs").check_folder
    plan = {"variant": "aug", "overrides": ["x=1"], "chosen_by": "cv.json", "protocol": "p"}
    assert check_folder(tmp_path / "new", plan)  # nothing there: train
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "metrics.json").write_text("{}")
    (finished / "selection.json").write_text(json.dumps({**plan, "chosen_by": "elsewhere/cv.json"}))
    assert not check_folder(finished, plan)  # the same variant and overrides, finished: skip
    with pytest.raises(SystemExit, match="holds a run of another choice"):
        check_folder(finished, {**plan, "overrides": ["x=2"]})
    configured = tmp_path / "configured"  # a finished run of scripts/run_experiments.sh: no selection.json
    configured.mkdir()
    (configured / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit, match="without selection"):
        check_folder(configured, plan)
    interrupted = tmp_path / "interrupted"  # this script's run, stopped: resume it
    interrupted.mkdir()
    (interrupted / "last.pt").write_bytes(b"")
    (interrupted / "selection.json").write_text(json.dumps(plan))
    assert check_folder(interrupted, plan)


def test_an_ablation_run_of_another_base_is_refused(tmp_path: Path) -> None:
    check_base = script_module("run_ablations").check_base
    old = tmp_path / "kernel-exp" / "fold0"  # made before base.json: from the configured experiment
    old.mkdir(parents=True)
    check_base(old, [])
    with pytest.raises(SystemExit, match="remove that run folder"):
        check_base(old, ["data.augment.shift=3"])
    (old / "base.json").write_text(json.dumps({"overrides": ["data.augment.shift=3"]}))
    check_base(old, ["data.augment.shift=3"])
    with pytest.raises(SystemExit, match="the base is now the configured experiment"):
        check_base(old, [])


def test_ablations_stop_when_the_training_command_cannot_reuse(tmp_path: Path) -> None:
    """run_ablations decides by train --reuse's rule, so a --bpsrm without --reuse (a frozen copy of older code)
    is refused before any run starts."""
    check_reuse = script_module("run_ablations").check_reuse
    old = tmp_path / "old-bpsrm"
    old.write_text("#!/bin/sh\necho 'usage: bpsrm train [--resume | --overwrite] config'\n")
    old.chmod(0o755)
    with pytest.raises(SystemExit, match="has no --reuse"):
        check_reuse(str(old))
    check_reuse(str(Path(sys.executable).with_name("bpsrm")))


def test_a_variant_may_not_change_the_split() -> None:
    script = script_module("cv_select")
    _variant, split_keys = script._variant, script.split_keys
    cwru = split_keys(str(REPO / "configs" / "cwru.yaml"))
    assert _variant(["wide", "model.spec=8C3-SRM-FC10", "data.options.window=1024"], cwru) == (
        "wide",
        ["model.spec=8C3-SRM-FC10", "data.options.window=1024"],  # how a sample is prepared: a variant may change it
    )
    # which records and classes test (CWRU: the load, the class set, the share of each record that trains)
    for key in ("data.options.train_fraction", "data.options.load", "data.options.class_set", "data.val_fraction"):
        with pytest.raises(SystemExit, match=f"sets {key}, which decides the split"):
            _variant(["bad", f"{key}=0.3"], cwru)
    for config, key in (
        ("weather", "data.options.test_fraction"),
        ("nmnist", "data.options.fold"),
        ("weather", "seed"),
    ):
        with pytest.raises(SystemExit, match=f"sets {key}, which decides the split"):
            _variant(["bad", f"{key}=1"], split_keys(str(REPO / "configs" / f"{config}.yaml")))
    for key in ("data.name", "train.test", "data.val_options"):
        with pytest.raises(SystemExit, match=f"sets {key}"):
            _variant(["bad", f"{key}=x"], split_keys(str(REPO / "configs" / "fashion-mnist.yaml")))
    for key in ("data.val_options.fold", "data.options.load.0"):  # a key below a split key: refused too
        with pytest.raises(SystemExit, match=f"sets {key}"):
            _variant(["bad", f"{key}=0"], cwru)


def test_variants_that_read_one_folder_spelt_two_ways_are_one_root(tmp_path: Path) -> None:
    data_root = script_module("cv_select").data_root
    config = str(REPO / "configs" / "weather.yaml")
    here = data_root(config, ["data.root=../shared/data"])
    assert here == data_root(config, ["data.root=../shared/data/"]) == data_root(config, [f"data.root={here}"])
    assert data_root(config, ["data.root=/elsewhere", "optim.lr=0.1"]) == "/elsewhere"
    # read as bpsrm reads an override (helper-44): quotes are YAML's, a space before '=' is allowed, and an empty
    # value is None, the dataset's own search (the split on '=' had made '"../shared/data"' a folder of that name)
    assert data_root(config, ['data.root="../shared/data"']) == data_root(config, ["data.root =../shared/data"]) == here
    assert data_root(config, ["data.root=/elsewhere", "data.root=null"]) is None


def test_a_variant_that_sets_a_split_key_in_another_spelling_is_still_refused() -> None:
    script = script_module("cv_select")
    _variant, split_keys = script._variant, script.split_keys
    cwru = split_keys(str(REPO / "configs" / "cwru.yaml"))
    with pytest.raises(SystemExit, match=r"sets data\.options\.load, which decides the split"):
        _variant(["bad", "data.options.load =2"], cwru)
    with pytest.raises(SystemExit, match="must look like KEY=VALUE"):
        _variant(["bad", "optim.lr"], cwru)


def test_a_later_round_is_chosen_among_every_variant_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--earlier: the kept figures of an earlier report join the nested choice without training again; the new
    variant's folds are read from their metrics.json here (finished runs, each with the config.yaml of its fold
    run), so nothing trains in this test."""
    from bpsrm.engine.config import config_to_dict, load_config

    protocol = "validation on a data.val_fraction share of the training folds of the dataset's 3 folds"
    protocol += ", train.test=false: test never read"
    earlier = {
        "config": "configs/nmnist.yaml",
        "folds": 3,
        "protocol": protocol,
        "variants": {
            "base": {"overrides": ["a=1"], "val_accuracy": [0.90, 0.80, 0.85], "best_epoch": [3, 4, 5]},
            "aug": {"overrides": ["a=2"], "val_accuracy": [0.95, 0.80, 0.70], "best_epoch": [6, 7, 8]},
        },
        "chosen": None,
        "chosen_per_fold": ["aug", "base", "base"],
    }
    report = tmp_path / "earlier.json"
    report.write_text(json.dumps(earlier))
    out = tmp_path / "cv"
    for fold, accuracy in enumerate((0.93, 0.80, 0.99)):
        run = out / "warp" / f"fold{fold}"
        run.mkdir(parents=True)
        metrics = {"best_val_accuracy": accuracy, "best_epoch": 9}
        (run / "metrics.json").write_text(json.dumps(metrics))
        fold_run = ["optim.lr=0.003", "data.options.folds=3", f"data.options.fold={fold}", "train.test=false"]
        fold_run += ["log.progress=false", "log.plots=false", "train.ood_samples=0"]
        (run / "config.yaml").write_text(
            yaml.safe_dump(config_to_dict(load_config(REPO / "configs/nmnist.yaml", fold_run)))
        )
    args = ["configs/nmnist.yaml", "--dataset-folds", "--folds", "3", "--out", str(out), "--earlier", str(report)]

    def select(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_script_here("cv_select.py", monkeypatch, capsys, *extra)

    chosen = select(*args, "--variant", "warp", "optim.lr=0.003")
    assert chosen.returncode == 0, chosen.stderr[-3000:]
    merged = json.loads((out / "cv.json").read_text())
    assert list(merged["variants"]) == ["base", "aug", "warp"]
    assert merged["variants"]["base"]["val_accuracy"] == [0.90, 0.80, 0.85]
    assert (
        merged["variants"]["warp"]["overrides"] == ["optim.lr=0.003"]
        and merged["variants"]["warp"]["best_epoch"] == [9] * 3
    )
    # fold 0: aug's 0.95 beats warp's 0.93; fold 1: a three-way tie goes to the variant that was there first
    assert merged["chosen_per_fold"] == ["aug", "base", "warp"]
    assert merged["earlier"] == {"report": str(report), "variants": ["base", "aug"]}
    assert merged["protocol"] == protocol
    twice = select(*args, "--variant", "aug", "a=4")
    assert twice.returncode != 0 and "variant 'aug' is in --earlier" in twice.stderr
    other = select(*args[:3], "5", *args[4:], "--variant", "warp", "optim.lr=0.003")
    assert other.returncode != 0 and "3 folds" in other.stderr and "5 folds" in other.stderr
    report.write_text("{}")
    broken = select(*args, "--variant", "warp", "optim.lr=0.003")
    assert broken.returncode != 0 and "not a cv.json report" in broken.stderr
    report.write_text(json.dumps(earlier))
    leaky = {**earlier, "variants": {**earlier["variants"], "fold1": {**earlier["variants"]["aug"]}}}
    leaky["variants"]["fold1"]["overrides"] = ["data.options.fold=1"]  # an earlier round that changed the split
    (tmp_path / "leaky.json").write_text(json.dumps(leaky))
    held = select(*args[:-1], str(tmp_path / "leaky.json"), "--variant", "warp", "optim.lr=0.003")
    assert held.returncode != 0 and "'fold1' sets data.options.fold" in held.stderr, held.stderr
    elsewhere = select(*args, "--variant", "warp", "optim.lr=0.003", "data.root=/elsewhere")
    assert elsewhere.returncode != 0 and "data.root differs" in elsewhere.stderr, elsewhere.stderr
    (out / "warp" / "fold1" / "config.yaml").unlink()
    unknown = select(*args, "--variant", "warp", "optim.lr=0.003")
    assert unknown.returncode != 0 and "fold1 holds a metrics.json but no config.yaml" in unknown.stderr


@pytest.mark.slow
def test_an_ablation_study_trains_two_at_once_where_it_is_told_and_gets_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path, capsys: pytest.CaptureFixture
) -> None:
    """run_ablations --jobs 2 on a tiny CWRU budget: both variants train (each with its own log under the logs
    folder, not under results/), keep config.yaml, metrics.json, predictions.npz and base.json only, and the kernel
    variant's config says the exponential kernel; a second call trains nothing. It took only its three studies,
    wrote into results/ablations and took no overrides, and results_table read results/ alone (helper-89): a study
    of one's own now runs from its --config with --set overrides into --out, a relative --root read from where
    the script starts, and gets its table."""
    run_ablations, results_table = script_module("run_ablations"), script_module("results_table")
    monkeypatch.setattr(run_ablations, "LOGS", tmp_path / "logs")
    config = tmp_path / "my.yaml"
    config.write_text((REPO / "configs" / "cwru.yaml").read_text())
    (tmp_path / "data").symlink_to(shared_data)
    monkeypatch.chdir(tmp_path)
    tiny = ["train.epochs=1", "train.max_batches=2", "log.plots=false", "train.ood_samples=0"]
    argv = ["run_ablations.py", "my-study", "--config", "my.yaml", "--out", "mine", "--root", "data", "--seeds", "0"]
    argv += ["--only", "base", "kernel-exp", "--set", *tiny]
    monkeypatch.setattr(sys, "argv", [*argv, "--jobs", "2", "--threads", "1"])
    assert run_ablations.main() == 0
    runs = ("base", "kernel-exp")
    for name in runs:
        run = tmp_path / "mine" / "my-study" / name / "seed0"
        assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
            "base.json", "config.yaml", "metrics.csv", "metrics.json", "predictions.npz"
        ]  # fmt: skip
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["epochs"] == 1 and metrics["experiment"] == f"ablation-my-study-{name}"
        assert "run folder: " in (tmp_path / "logs" / "my-study" / name / "seed0.log").read_text()
        written = yaml.safe_load((run / "config.yaml").read_text())
        assert written["model"]["neuron"]["kernel"] == ("exp" if name == "kernel-exp" else "dexp")
        assert written["data"]["root"] == str(tmp_path / "data")
    assert capsys.readouterr().out.count(" done in ") == 2
    assert not (REPO / "results" / "ablations" / "my-study").exists()
    # the McNemar column pairs the two runs sample by sample: both were tested on the same samples in one order
    base, variant = (np.load(tmp_path / "mine" / "my-study" / name / "seed0" / "predictions.npz") for name in runs)
    assert np.array_equal(base["labels"], variant["labels"]) and base["labels"].size > 0
    table = results_table.ablation_tables(tmp_path / "mine")
    assert "Ablations on my-study (1 epochs" in table and "| exp kernel" in table
    assert "| base: the study's config as given |" in table
    assert "no verdict: 1 of 3 replicates" in table
    monkeypatch.setattr(sys, "argv", argv)
    assert run_ablations.main() == 0 and " ..." not in capsys.readouterr().out  # finished: nothing started
    monkeypatch.setattr(sys, "argv", ["run_ablations.py", "my-study"])
    with pytest.raises(SystemExit):
        run_ablations.main()
    assert "unknown dataset 'my-study': expected one of ['cwru', 'fashion-mnist', 'nmnist-cv5'], or --config" in (
        capsys.readouterr().err
    )


def test_the_run_scripts_name_files_that_exist() -> None:
    """scripts/run_experiments.sh named results/tuning/weather-cv.json after that report had moved to
    results/superseded/ (the weather runs are now chosen by weather-near-cv.json): every committed file a shell
    script of scripts/ names exists, and the weather report it trains from is the one the committed runs record."""
    import re

    named = {
        (script.name, path)
        for script in (REPO / "scripts").glob("*.sh")
        for path in re.findall(r"\b((?:results|configs)/[\w./-]+\.(?:json|yaml))\b", script.read_text())
    }
    assert any(path.startswith("results/tuning/") for _, path in named)  # the pattern still finds the reports
    missing = sorted(f"{script}: {path}" for script, path in named if not (REPO / path).is_file())
    assert not missing, missing
    text = (REPO / "scripts" / "run_experiments.sh").read_text()
    (report,) = re.findall(r"final_runs\.py (\S+) --out results/weather\b", text)
    chosen_by = {
        json.loads(p.read_text())["chosen_by"] for p in (REPO / "results" / "weather").glob("*/selection.json")
    }
    assert chosen_by == {report}


def test_ablations_refuse_a_seed_named_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Two trainings of one seed were queued for one run folder (with --jobs 2 the second failed on its lock)."""
    run_ablations = script_module("run_ablations")
    monkeypatch.setattr(run_ablations, "OUT", tmp_path / "ablations")
    monkeypatch.setattr(sys, "argv", ["run_ablations.py", "cwru", "--seeds", "1", "1", "--only", "kernel-exp"])
    with pytest.raises(SystemExit) as info:
        run_ablations.main()
    assert info.value.code == 2 and "--seeds names 1 more than once (1 1)" in capsys.readouterr().err
    assert not (tmp_path / "ablations").exists()


def test_the_scripts_train_with_the_bpsrm_beside_their_python() -> None:
    """Four rules had chosen the bpsrm that trains (beside sys.executable, --bpsrm defaulting to the checkout's
    .venv, $BPSRM, $BPSRM_VENV): one now, commands.bpsrm_command, which the shell scripts follow from the Python
    of $BPSRM_VENV."""
    from bpsrm.engine.commands import bpsrm_command

    answered = subprocess.run([str(bpsrm_command()), "--version"], capture_output=True, text=True, timeout=120)
    assert answered.returncode == 0 and answered.stdout.startswith("bpsrm "), answered  # this environment's bpsrm
    cv_select = script_module("cv_select")
    final_runs = script_module("final_runs")
    assert cv_select.BPSRM == final_runs.BPSRM == bpsrm_command()
    for script in (REPO / "scripts").glob("*"):
        text = script.read_text() if script.suffix in (".py", ".sh") else ""
        assert ".venv/bin/bpsrm" not in text and "${BPSRM:-.venv" not in text, script.name
        if "$bpsrm" in text:
            assert 'bpsrm=$(dirname "$python")/bpsrm' in text, script.name


def test_keep_matrix_copies_figures_without_checkpoints_and_rebuilds_the_same_matrix(tmp_path: Path) -> None:
    """The committed base matrix, copied as a run folder with a checkpoint and a seed10 added: keep_matrix keeps
    every run's metrics and evaluations, drops the checkpoint, and writes back the committed matrix.json."""
    import json
    import shutil

    committed = REPO / "results" / "crossload-matrix" / "base"
    source, target = tmp_path / "runs", tmp_path / "kept"
    shutil.copytree(committed, source)
    run = source / "train-0" / "seed0"  # trained at 0 HP, evaluated at 1 and 2 HP
    (run / "best.pt").write_bytes(b"weights")
    shutil.copytree(run, run.with_name("seed10"))  # not in matrix.json's seeds, but a run folder all the same
    script_module("keep_matrix").main(source, target)
    kept = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert not [name for name in kept if name.endswith(".pt")]
    assert "train-0/seed10/eval-1hp.json" in kept
    for evaluation in committed.glob("train-*/seed*/eval-*.json"):
        assert str(evaluation.relative_to(committed)) in kept
    assert json.loads((target / "matrix.json").read_text()) == json.loads((committed / "matrix.json").read_text())


def test_what_a_search_refuses_before_it_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-70 (session 32): a name given twice dropped the first variant; `train={test: true}` passed the split
    guard; a typo in a dataset option, or --dataset-folds on a dataset without folds, failed only once training
    had begun; `..` and `cv.json` were variant names; --folds 0 ended in a traceback."""
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    base = [str(config), "--out", str(tmp_path / "cv"), "--folds", "2"]
    cases = [
        (["--variant", "a", "train.epochs=1", "--variant", "a", "train.epochs=2"], "given more than once: a"),
        (["--variant", "Fast", "train.epochs=1", "--variant", "fast"], "(also in case); given more than once: fast"),
        (["--variant", "blk", "train={test: true, epochs: 1}"], "variant 'blk' sets train, which decides the split"),
        (["--variant", "typo", "data.options.sise=3"], "variant 'typo': dataset 'fashion-mnist-demo': unknown options"),
        (["--dataset-folds", "--variant", "a"], "unknown options ['fold', 'folds']"),
        (["--variant", ".."], "got '..'"),
        (["--variant", "cv.json"], "and not cv.json; got 'cv.json'"),
        (["--variant", ""], "got ''"),
    ]
    for extra, message in cases:
        refused = run_script_here("cv_select.py", monkeypatch, capsys, *base, *extra)
        assert refused.returncode != 0 and message in refused.stderr, (extra, refused.stderr[-1500:])
        assert not (tmp_path / "cv").exists()  # nothing trained, no folder made
    zero = run_script_here("cv_select.py", monkeypatch, capsys, *base[:-1], "0", "--variant", "a")
    assert zero.returncode != 0 and "--folds must be 2 or more, got 0" in zero.stderr


def test_a_changed_config_is_refused_by_later_rounds_and_final_runs(tmp_path: Path) -> None:
    """A report records its config's sha256: --earlier and final_runs.py refuse the config once it has changed (a
    later round ranked variants trained at another learning rate, and the final runs trained the new one), and
    accept the same file under another spelling of its path (refused before)."""
    script = script_module("cv_select")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    protocol = script.protocol(2, False)
    report = {
        "config": str(config),
        "config_sha256": script.config_digest(str(config)),
        "folds": 2,
        "protocol": protocol,
        "variants": {"a": {"overrides": [], "val_accuracy": [0.5, 0.6], "best_epoch": [1, 1]}},
        "chosen": "a",
        "chosen_per_fold": None,
    }
    spelt = str(tmp_path / "." / "tiny.yaml")
    assert list(script.earlier_variants_from(report, tmp_path / "r.json", spelt, 2, False)) == ["a"]
    script_module("final_runs").check_config_unchanged(report, tmp_path / "r.json")
    config.write_text(TINY.replace("epochs: 1", "epochs: 2"))
    with pytest.raises(SystemExit, match=r"has changed since \(its sha256 differs\)"):
        script.earlier_variants_from(report, tmp_path / "r.json", str(config), 2, False)
    with pytest.raises(SystemExit, match=r"final_runs: .*tiny\.yaml has changed since .*r\.json chose"):
        script_module("final_runs").check_config_unchanged(report, tmp_path / "r.json")


def test_a_final_run_without_a_test_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """A config with train.test: false trained every seed, then failed with a TypeError (and, once caught, deleted
    the checkpoints first): it is refused before training, and a run found so keeps its files."""
    run = tmp_path / "seed0"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": None}))
    (run / "last.pt").write_bytes(b"kept")
    with pytest.raises(SystemExit, match=r"trained without a test \(train\.test: false\); a final run must test"):
        script_module("final_runs").finish(run, "seed0: a")
    assert (run / "last.pt").exists()
    config = tmp_path / "untested.yaml"
    config.write_text(TINY.replace("train: {", "train: {test: false, "))
    report = {"config": str(config), "folds": 2, "protocol": "p", "chosen": "a", "chosen_per_fold": None}
    report["variants"] = {"a": {"overrides": []}}
    (tmp_path / "cv.json").write_text(json.dumps(report))
    refused = _script("final_runs.py", str(tmp_path / "cv.json"), "--out", str(tmp_path / "final"), "--seeds", "0")
    assert refused.returncode != 0 and "sets train.test: false; a final run must test" in refused.stderr
    assert not (tmp_path / "final").exists()
