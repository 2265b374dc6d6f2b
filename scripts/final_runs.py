"""The final runs of a configuration chosen by scripts/cv_select.py (issue 22): the test split is read here, once
per run, and never took part in the choice.

    python scripts/final_runs.py runs/cv/weather/cv.json --out runs/weather-final --seeds 0 1 2
    python scripts/final_runs.py runs/cv/nmnist/cv.json --out runs/nmnist-final --folds 5

(then copy the run folders into results/; a folder that holds a run of anything else is refused)

With a k-fold CV on the training part (cv.json's ``chosen``), the chosen variant is trained once per seed on the
whole training part (checkpoint chosen on its ``data.val_fraction`` share) and tested. With ``--dataset-folds``
selections (cv.json's ``chosen_per_fold``), fold k trains fold k's own choice and tests on fold k. Every run
folder gets ``selection.json`` (the variant, its overrides and where the choice came from). Resumable: a run
whose metrics.json exists is skipped, one with last.pt continues; last.pt is deleted at the end, and best.pt
too when it is larger than 1 MB (results/ keeps figures, not weights). --jobs N trains N runs at once (each with
``--threads``, by default this machine's cores / N), each one's output appended to <out>/<folder>.log.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from bpsrm.data.download import sha256_of
from bpsrm.engine.commands import Command, add_job_options, bpsrm_command, failure_report, run_commands, thread_options
from bpsrm.engine.config import load_config
from bpsrm.engine.replicates import check_distinct, replicate_name
from bpsrm.engine.resume import finished_metrics
from bpsrm.engine.run_folder import (
    BEST_PT,
    LAST_PT,
    METRICS_JSON,
    SELECTION_JSON,
    read_metrics,
    read_selection,
    write_selection,
)
from bpsrm.errors import BpsrmError

BPSRM = bpsrm_command()
KEEP_CHECKPOINT_BYTES = 1 << 20


def plan(report: dict, seeds: list[int] | None, folds: int | None) -> list[tuple[str, str, list[str]]]:
    """(run folder name, variant, overrides) of every final run the report asks for."""
    variants = report["variants"]
    per_fold = report.get("chosen_per_fold")
    if per_fold:
        if folds is None or folds != len(per_fold):
            raise SystemExit(
                f"final_runs: the report chose per fold for {len(per_fold)} folds; give --folds {len(per_fold)}"
            )
        return [
            (
                replicate_name("fold", k),
                name,
                [*variants[name]["overrides"], f"data.options.folds={folds}", f"data.options.fold={k}"],
            )
            for k, name in enumerate(per_fold)
        ]
    chosen = report.get("chosen")
    if not chosen or seeds is None:
        raise SystemExit("final_runs: the report has one chosen variant; give --seeds (e.g. --seeds 0 1 2)")
    try:
        check_distinct(seeds, "--seeds")
        return [(replicate_name("seed", s), chosen, [*variants[chosen]["overrides"], f"seed={s}"]) for s in seeds]
    except BpsrmError as exc:
        raise SystemExit(f"final_runs: {exc}") from None


def check_config_unchanged(report: dict, path: Path) -> None:
    """Refuse to train the choice of a report whose config file has changed since (when the report records its
    sha256): the final runs would train other settings than the ones chosen."""
    recorded = report.get("config_sha256")
    if recorded is None:
        return
    try:
        now = sha256_of(report["config"])
    except OSError as exc:
        raise SystemExit(f"final_runs: {report['config']}: cannot read ({exc.strerror or exc})") from None
    if now != recorded:
        raise SystemExit(
            f"final_runs: {report['config']} has changed since {path} chose among its variants (its sha256 differs): "
            "the final runs would train other settings; run the search again or restore the config"
        )


def check_folder(out: Path, selection: dict) -> bool:
    """Whether ``out`` still needs training for ``selection``: False when it holds the finished run of the same
    variant and overrides; an error when it holds a run of anything else (a finished configured run, another
    choice), which this script must not report or resume as the chosen one."""
    written = out / SELECTION_JSON
    try:
        old = read_selection(out)
    except BpsrmError:
        old = {"variant": None, "overrides": None}  # damaged: not the same choice
    if old is not None:
        if (old["variant"], old["overrides"]) != (selection["variant"], selection["overrides"]):
            raise SystemExit(
                f"final_runs: {out} holds a run of another choice ({written}); planned {selection['variant']} with "
                f"{selection['overrides']}: remove the folder or give another --out"
            )
    elif (out / METRICS_JSON).exists() or (out / LAST_PT).exists():
        raise SystemExit(
            f"final_runs: {out} holds a run without {SELECTION_JSON} (not one of this script's): remove the folder "
            "or give another --out"
        )
    return not (out / METRICS_JSON).exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="cv.json written by scripts/cv_select.py")
    parser.add_argument("--out", type=Path, required=True, help="folder of the run folders, e.g. results/weather")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--folds", type=int, default=None)
    add_job_options(parser, "<out>/<folder>.log")
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    check_config_unchanged(report, args.report)
    pending = []
    for folder, name, overrides in plan(report, args.seeds, args.folds):
        out = args.out / folder
        selection = {
            "variant": name,
            "overrides": overrides,
            "chosen_by": str(args.report),
            "protocol": report["protocol"],
        }
        run_overrides = [*overrides, "log.progress=false"]
        try:
            config = load_config(report["config"], run_overrides)
        except BpsrmError as exc:
            raise SystemExit(f"final_runs: {exc}") from None
        if not config.train.test:  # found after training, it cost every run and deleted their checkpoints
            raise SystemExit(
                f"final_runs: {report['config']} with {name}'s overrides sets train.test: false; a final run must "
                "test (set train.test: true in the config)"
            )
        done = functools.partial(finish, out, f"{folder}: {name}")
        if not check_folder(out, selection):
            try:  # the same choice: also the same config (bpsrm train --reuse's rule), or the script stops
                finished_metrics(out, config)
            except BpsrmError as exc:
                raise SystemExit(f"final_runs: {exc}") from None
            done()  # again: a run that ended while this script was not there to clean up after it
            continue
        threading = thread_options(args.threads, args.jobs)
        command = [str(BPSRM), *threading, "train", "--out", str(out), "--reuse", report["config"], *run_overrides]
        before = functools.partial(write_selection, out, selection)  # just before the run starts: a crash keeps it
        pending.append(Command(str(out), command, args.out / f"{folder}.log", before, done))
    failed = run_commands(pending, args.jobs)
    if failed:
        raise SystemExit(f"final_runs: {failure_report(failed, args.jobs)}; run this again to resume")


def finish(out: Path, what: str) -> None:
    """After a run: delete last.pt, and best.pt when larger than KEEP_CHECKPOINT_BYTES; print its test figure."""
    metrics = read_metrics(out, required=True)
    if metrics.get("test_accuracy") is None:  # before anything is deleted: the trained model stays
        raise SystemExit(f"final_runs: {out} was trained without a test (train.test: false); a final run must test")
    (out / LAST_PT).unlink(missing_ok=True)
    best = out / BEST_PT
    if best.exists() and best.stat().st_size > KEEP_CHECKPOINT_BYTES:
        best.unlink()
    print(f"{what}, test accuracy {100 * metrics['test_accuracy']:.2f}%", flush=True)


if __name__ == "__main__":
    main()
