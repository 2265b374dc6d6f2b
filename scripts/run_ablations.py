"""Ablations (issues 6, 22, 23): normalisation, kernel, surrogate, detach_reset and reset, each changed alone.

    python scripts/run_ablations.py cwru [--seeds 0 1 2] [--only norm-none kernel-exp ...] [--root ../shared/data]
    python scripts/run_ablations.py fashion-mnist ...
    python scripts/run_ablations.py nmnist-cv5 --only kernel-exp [--seeds 0 1 2 3 4] [--threads 1]
    python scripts/run_ablations.py my-study --config my.yaml --out runs/my-ablations [--set train.epochs=2 ...]

Every variant runs with the same budget as the base (epochs, data, optimiser); runs land in
results/ablations/<dataset>/<variant>/seed<S>/ with config.yaml, metrics.json, metrics.csv and predictions.npz
(checkpoints, plots and activity files are removed: the table is built from metrics.json, and its McNemar column
from predictions.npz, the test predictions of the run against those of the base run of its seed).
N-MNIST replicates over the folds of its 5-fold cross-validation instead of seeds (``--seeds K``
means fold K, seed 0: results/ablations/nmnist-cv5/<variant>/fold<K>/); its base is the configured
experiment, results/nmnist-cv5/fold<K>/. When that base is a final run of scripts/final_runs.py (its
selection.json names the variant chosen for fold K on validation), every variant of fold K starts from those
same overrides, so the ablation changes one thing of the final configuration (issue 22, item 3).
A finished run (metrics.json present) is skipped, an interrupted one resumed, so the script can
be started again after a crash. --jobs N runs N at once (each on cores / N threads unless --threads says;
each output appended to runs/ablations/<dataset>/<variant>/<seed>.log). `python scripts/results_table.py`
prints the tables.

A study of one's own: ``--config`` names its config (any name for the study), ``--set KEY=VALUE`` adds
overrides to every run (a smaller budget, say), and ``--out DIR`` puts the runs in DIR/<study>/<variant>/seed<S>
(default runs/ablation-studies, never results/ablations, whose tables the README prints);
`python scripts/results_table.py --ablations DIR` prints that study's table with the same columns and rule. A
relative --root is read from the folder the script is started in.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from results_table import FOLDED_ABLATIONS  # datasets replicated over cross-validation folds, not seeds

from bpsrm.engine.commands import Command, add_job_options, bpsrm_command, failure_report, run_commands, thread_options
from bpsrm.engine.config import load_config, override_value, without_key
from bpsrm.engine.replicates import check_distinct, replicate_name
from bpsrm.engine.resume import finished_metrics
from bpsrm.engine.run_folder import (
    ACTIVITY_NPZ,
    BEST_PT,
    LAST_PT,
    METRICS_JSON,
    TENSORBOARD_DIR,
    read_selection,
)
from bpsrm.errors import BpsrmError
from bpsrm.files import write_text_atomic
from bpsrm.network.models import replace_norm

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "ablations"
LOGS = REPO / "runs" / "ablations"  # each run's output with --jobs > 1 (not kept in results/)

# Budget of each dataset's ablation runs: CWRU is the whole experiment; Fashion-MNIST uses a
# 5,000-image training subset (4,500 train / 500 validation) and 3 epochs, tested on the full
# 10,000 test images, so that each run takes minutes on this 2-core machine (the README gives the count and the
# command).
BUDGETS: dict[str, tuple[str, list[str]]] = {
    "cwru": ("configs/cwru.yaml", []),
    "fashion-mnist": ("configs/fashion-mnist.yaml", ["data.limit_train=5000", "train.epochs=3"]),
    "nmnist-cv5": ("configs/nmnist.yaml", ["data.options.folds=5"]),
}


def replicate(dataset: str, index: int, results: Path = REPO / "results") -> tuple[str, list[str]]:
    """The run folder's name and the overrides of replicate ``index``: a seed, or a fold (seed 0) together with
    the overrides chosen for that fold, read from its base run's selection.json when it has one."""
    if dataset in FOLDED_ABLATIONS:
        folder = replicate_name("fold", index)
        return folder, [
            "seed=0",
            *chosen_overrides(results / dataset / folder),
            f"data.options.fold={index}",
        ]
    return replicate_name("seed", index), [f"seed={index}"]


BASE_JSON = "base.json"  # in an ablation run folder: the chosen overrides of the base it changes one thing of


def check_base(run: Path, chosen: list[str]) -> None:
    """Refuse a finished ablation run made from another base than today's: its difference to the base would mix
    the variant's change with the change of base (runs from before base.json existed had the configured base)."""
    recorded = run / BASE_JSON
    made_from = json.loads(recorded.read_text())["overrides"] if recorded.is_file() else []
    if made_from != chosen:
        raise SystemExit(
            f"run_ablations: {run} was made from the base {made_from or 'of the configured experiment'}, and the base "
            f"is now {chosen or 'the configured experiment'}: remove that run folder to train it again"
        )


def check_reuse(bpsrm: str) -> None:
    """Stop unless the ``bpsrm`` command that trains (``--bpsrm``, perhaps a frozen copy of older code) knows
    ``train --reuse``: this script decides by that rule and lets the command continue or restart a run."""
    try:
        helped = subprocess.run([bpsrm, "train", "--help"], capture_output=True, text=True, timeout=120)
    except OSError as exc:
        raise SystemExit(f"run_ablations: cannot run --bpsrm {bpsrm} ({exc})") from None
    if helped.returncode != 0 or "--reuse" not in helped.stdout:
        raise SystemExit(
            f"run_ablations: {bpsrm} train has no --reuse (an older bpsrm?); give --bpsrm a bpsrm of this checkout"
        )


def finished(run: Path, config: Path, overrides: list[str]) -> bool:
    """Whether ``run`` holds the finished run of ``config`` with ``overrides`` (``bpsrm train --reuse``'s rule,
    :func:`bpsrm.engine.resume.finished_metrics`); a run of another config there stops the script."""
    try:
        return finished_metrics(run, load_config(config, overrides)) is not None
    except BpsrmError as exc:
        raise SystemExit(f"run_ablations: {exc}") from None


def chosen_overrides(base: Path) -> list[str]:
    """The overrides of the variant chosen for a base run (its selection.json, from scripts/final_runs.py), less
    ``data.root`` (given separately); none when the base ran the configured experiment."""
    try:
        selection = read_selection(base)
        return [] if selection is None else without_key(selection["overrides"], "data.root")
    except BpsrmError as exc:
        raise SystemExit(f"run_ablations: {exc}") from None


def variants(spec: str) -> dict[str, list[str]]:
    """name -> config overrides; the base is TCN (channel statistics), dexp, sigmoid, detach_reset off."""
    norm = {
        "norm-none": replace_norm(spec, None),
        "norm-bn": replace_norm(spec, "BN"),
        "norm-tdbn": replace_norm(spec, "TDBN"),
        "norm-bntt": replace_norm(spec, "BNTT"),
        "norm-tebn": replace_norm(spec, "TEBN"),
        "norm-tcn-time-channel": replace_norm(spec, "TCNT"),
    }
    table: dict[str, list[str]] = {"base": []}
    table.update({name: [f"model.spec={value}"] for name, value in norm.items()})
    table.update(
        {
            "kernel-alpha": ["model.neuron.kernel=alpha"],
            "kernel-exp": ["model.neuron.kernel=exp"],
            "surrogate-atan": ["model.neuron.surrogate=atan"],
            "surrogate-triangle": ["model.neuron.surrogate=triangle"],
            "detach-reset": ["model.neuron.detach_reset=true"],
            "reset-zero": ["model.neuron.reset=zero"],  # issue 23: the hard reset of SpikingJelly's LIFNode and NIR
        }
    )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "dataset", help=f"one of {', '.join(sorted(BUDGETS))}, or the name of a study of one's own (with --config)"
    )
    parser.add_argument("--config", type=Path, default=None, help="the config of a study of one's own")
    parser.add_argument(
        "--set",
        dest="extra",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="overrides added to every run, the base's included",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder of the runs: OUT/<dataset>/... (default results/ablations; with --config runs/ablation-studies)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds (folds for nmnist-cv5); default 0 1 2 (0-4)"
    )
    parser.add_argument("--only", nargs="+", default=None, help="variant names (default: all)")
    parser.add_argument("--root", default=None, help="data folder (default: ../shared/data beside the checkout)")
    parser.add_argument(
        "--bpsrm", default=str(bpsrm_command()), help="the bpsrm command (default: the one beside this Python)"
    )
    add_job_options(parser, "runs/ablations/<dataset>/<variant>/<seed>.log")
    args = parser.parse_args()

    if args.config is not None:
        config, budget = str(args.config.resolve()), []
    elif args.dataset in BUDGETS:
        config, budget = BUDGETS[args.dataset]
    else:
        parser.error(f"unknown dataset {args.dataset!r}: expected one of {sorted(BUDGETS)}, or --config FILE")
    budget = [*budget, *args.extra]
    own = REPO / "runs" / "ablation-studies"  # a study of one's own stays out of results/ (and the README's tables)
    out_root = args.out.resolve() if args.out is not None else (own if args.config is not None else OUT)
    root = str(Path(args.root).absolute()) if args.root is not None else "../shared/data"  # the runs start in REPO
    try:
        configured_spec = load_config(REPO / config, args.extra).model.spec  # with the defaults and checks of a run
    except BpsrmError as exc:
        parser.error(str(exc))
    folded = args.dataset in FOLDED_ABLATIONS
    known = list(variants(configured_spec))  # the names; each replicate builds its overrides from its own spec
    names = args.only or [n for n in known if not (folded and n == "base")]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown variants {unknown}; expected some of {known}")
    if folded and "base" in names:
        parser.error(f"{args.dataset}'s base is results/{args.dataset}/ (scripts/run_experiments.sh); leave out 'base'")
    seeds = args.seeds if args.seeds is not None else ([0, 1, 2, 3, 4] if folded else [0, 1, 2])
    try:
        check_distinct(seeds, "--seeds")
        for seed in seeds:
            replicate_name("fold" if folded else "seed", seed)  # a negative one is refused before any training
    except BpsrmError as exc:
        parser.error(str(exc))
    check_reuse(args.bpsrm)  # after the checks of the arguments: it starts a bpsrm process
    pending = []
    for seed in seeds:  # seeds outermost: a partial run still gives every variant one seed
        folder, overrides = replicate(args.dataset, seed)
        chosen = chosen_overrides(REPO / "results" / args.dataset / folder) if folded else []
        if folded:
            print(f"[{args.dataset}] {folder}: base {' '.join(chosen) or 'the configured experiment'}", flush=True)
        # the norm variants swap the tokens of the base's own spec (a chosen model.spec, else the config's)
        table = variants(str(override_value(chosen, "model.spec", configured_spec)))
        for name in names:
            out = out_root / args.dataset / name / folder
            run_overrides = [f"data.root={root}", *overrides, "log.progress=false"]
            run_overrides += [f"experiment=ablation-{args.dataset}-{name}", *budget, *table[name]]
            if (out / METRICS_JSON).is_file() or (out / LAST_PT).is_file():
                check_base(out, chosen)  # neither report nor resume a run made from another base
            if finished(out, REPO / config, run_overrides):
                continue
            threading = thread_options(args.threads, args.jobs)
            command = [args.bpsrm, *threading, "train", str(REPO / config), *run_overrides, "--out", str(out)]
            command.append("--reuse")  # last.pt: continue it; what a start that never reached a checkpoint left goes
            what = f"[{args.dataset}] {name} seed {seed}"
            started: dict[str, float] = {}
            before = functools.partial(_start, out, chosen, what, started)
            done = functools.partial(_finish, out, what, started)
            log = LOGS / args.dataset / name / f"{folder}.log"
            pending.append(Command(what, command, log, before, done, cwd=REPO))
    failed = run_commands(pending, args.jobs)
    if failed:
        print(f"run_ablations: {failure_report(failed, args.jobs)}; run this again to resume", file=sys.stderr)
        return 1
    return 0


def _start(out: Path, chosen: list[str], what: str, started: dict[str, float]) -> None:
    """Just before a run starts: its base.json (the base's overrides it starts from) and a line saying so."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / BASE_JSON, json.dumps({"overrides": chosen}, indent=2) + "\n")
    started["at"] = time.perf_counter()
    print(f"{what} ...", flush=True)


def _finish(out: Path, what: str, started: dict[str, float]) -> None:
    """After a run: only the files the table reads stay (checkpoints, plots, activity and TensorBoard go)."""
    for leftover in (LAST_PT, BEST_PT, ACTIVITY_NPZ):
        (out / leftover).unlink(missing_ok=True)
    for plot in out.glob("*.png"):
        plot.unlink()
    shutil.rmtree(out / TENSORBOARD_DIR, ignore_errors=True)
    print(f"{what} done in {time.perf_counter() - started['at']:.0f} s", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
