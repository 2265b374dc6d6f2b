"""Choose a configuration by k-fold cross-validation on the training part only (issue 22).

Every variant (a name and KEY=VALUE overrides of one config) is trained once per fold with
``data.val_folds=K data.val_fold=k train.test=false`` (and ``log.plots=false train.ood_samples=0``: a fold run is
read for its validation figures only): it validates on fold k of the training part, with groups
(e.g. weather pictures with equal pixels) whole and classes balanced, and never evaluates the test split (its
files are listed when the dataset is built; an event dataset bins them into its cache). The
variant with the highest mean best-validation accuracy over the folds wins; its test figure is measured later,
once, by the final runs. Resumable: a fold whose metrics.json exists is read, one with last.pt continues.

    python scripts/cv_select.py configs/weather.yaml --out runs/cv/weather --threads 1 \\
        --variant base --variant wide model.spec=32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-128C3-TCN-SRM-MP2-FC128-SRM-FC4

writes <out>/<variant>/fold<k>/ (run folders) and <out>/cv.json, and prints the table; --results FILE copies
cv.json (the figures, no checkpoints) where it is kept, e.g. results/tuning/weather-near-cv.json. --jobs N trains N
folds at once (each with ``--threads``, by default this machine's cores / N); each run's output is then appended
to <out>/<variant>/fold<k>.log. Stopping the script (Ctrl-C, SIGTERM) stops its trainings too.

--dataset-folds uses the dataset's own folds instead (N-MNIST's ``data.options.folds`` / ``fold``, whose test
split is the fold that the final figure reports): each run then validates on a ``data.val_fraction`` share of
its training folds, test still unread. The choice is then made per fold (nested): fold k's variant is the one
with the best validation accuracy in fold k's own runs, which never saw fold k. (A choice on the mean over all
folds would have validated on samples of fold k in the other folds' runs, and fold k's final test figure would
not be independent of it.) The final runs train fold k's chosen variant and test it on fold k.

--earlier REPORT adds the variants of an earlier cv.json of the same config, folds and protocol (e.g.
results/tuning/nmnist-cv.json) to the choice with their kept figures, without training them again: a later round
of a search is then chosen among every variant tried, and the report keeps them all. Earlier variants come first,
so a tie still goes to the variant that was there first.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
from pathlib import Path

from bpsrm.data.base import check_dataset_options, dataset_class
from bpsrm.data.download import sha256_of
from bpsrm.engine.commands import Command, add_job_options, bpsrm_command, failure_report, run_commands, thread_options
from bpsrm.engine.config import Config, load_config, override_value, parse_assignment
from bpsrm.engine.replicates import mean_sd, replicate_name
from bpsrm.engine.resume import finished_metrics
from bpsrm.engine.run_folder import LAST_PT, read_metrics
from bpsrm.errors import BpsrmError
from bpsrm.files import write_text_atomic

BPSRM = bpsrm_command()


# Keys that decide which samples test, validate and train: a variant that changed one would be validated on other
# samples than the rest, or on another variant's test samples (the folds are set by this script). The dataset's own
# options of that kind come from its class (SampleDataset.split_options): split_keys adds them.
SPLIT_KEYS = (
    "seed",
    "train.test",
    "data.name",
    "data.val_fraction",
    "data.val_folds",
    "data.val_fold",
    "data.val_options",
    "data.limit_train",
    "data.limit_test",
)


@functools.cache
def _configured(config: str) -> Config:
    """The config file as it stands, without a variant's overrides (read once per call of the script)."""
    return load_config(config)


def split_keys(config: str) -> tuple[str, ...]:
    """:data:`SPLIT_KEYS` and ``data.options.<name>`` for each split option of the config's dataset."""
    try:
        dataset = _configured(config).data.name
        options = dataset_class(dataset).split_options
    except BpsrmError as exc:
        raise SystemExit(f"cv_select: {exc}") from None
    if not isinstance(options, tuple) or not all(isinstance(name, str) for name in options):
        raise SystemExit(f"cv_select: {dataset}: split_options must be a tuple of option names, got {options!r}")
    return (*SPLIT_KEYS, *(f"data.options.{name}" for name in options))


def data_root(config: str, overrides: list[str]) -> str | None:
    """The folder a variant reads: its last ``data.root=`` override, else the config's, resolved (None: the
    dataset's own search)."""
    try:
        root = override_value(overrides, "data.root", _configured(config).data.root)
    except BpsrmError as exc:
        raise SystemExit(f"cv_select: {exc}") from None
    return None if root in (None, "") else str(Path(str(root)).expanduser().resolve())


VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A variant's name: a folder name under --out (no path, no leading dot), not the report's own file."""


def config_digest(config: str) -> str:
    """sha256 of the config file's bytes: a report names the config it was made with by path and by content."""
    try:
        return sha256_of(config)
    except OSError as exc:
        raise SystemExit(f"cv_select: {config}: cannot read ({exc.strerror or exc})") from None


def _variant(text: list[str], keys: tuple[str, ...]) -> tuple[str, list[str]]:
    name, *overrides = text
    if not VARIANT_NAME.fullmatch(name) or name == "cv.json":
        raise SystemExit(
            f"cv_select: a variant starts with its name, letters, digits, '_', '.' and '-' (not first), at most 64, "
            f"and not cv.json; got {name!r}"
        )
    for item in overrides:
        try:
            key, _ = parse_assignment(item, f"variant {name!r}: override")
        except BpsrmError as exc:
            raise SystemExit(f"cv_select: {exc}") from None
        # a whole section (train={...}) sets every key below it
        if key in ("data", "data.options") or any(
            key == k or k.startswith(key + ".") or key.startswith(k + ".") for k in keys
        ):
            raise SystemExit(
                f"cv_select: variant {name!r} sets {key}, which decides the split; every variant must see the same "
                f"samples (set it in the config instead; split keys: {', '.join(keys)})"
            )
    return name, overrides


def check_variant_options(config: str, variants: dict[str, list[str]], dataset_folds: bool) -> None:
    """Before any training: every variant's ``data.options`` (with ``folds`` and ``fold`` under --dataset-folds)
    are options its dataset takes; a typo used to end the search after the earlier variants had trained."""
    for name, overrides in variants.items():
        extra = ["data.options.folds=2", "data.options.fold=0"] if dataset_folds else []
        try:
            chosen = load_config(config, [*overrides, *extra]).data
            check_dataset_options(dataset_class(chosen.name), chosen.options, chosen.name)
        except BpsrmError as exc:
            raise SystemExit(f"cv_select: variant {name!r}: {exc}") from None


def fold_command(
    config: str, out: Path, overrides: list[str], folds: int, fold: int, threading: list[str], dataset_folds: bool
) -> tuple[dict | None, list[str]]:
    """One fold's metrics.json if its run has finished, else None; and the command that trains (or resumes) it.
    A folder an earlier call left with another config (the variant's overrides changed since) is refused, not
    read (``bpsrm train --reuse``'s rule, :func:`bpsrm.engine.resume.finished_metrics`)."""
    where = "data.options." if dataset_folds else "data.val_"
    cv = [f"{where}folds={folds}", f"{where}fold={fold}", "train.test=false", "log.progress=false"]
    cv += ["log.plots=false", "train.ood_samples=0"]  # a fold run is read for its validation figures only
    try:
        metrics = finished_metrics(out, load_config(config, [*overrides, *cv]))
    except BpsrmError as exc:
        raise SystemExit(f"cv_select: {exc}") from None
    return metrics, [str(BPSRM), *threading, "train", "--out", str(out), "--reuse", config, *overrides, *cv]


def run_folds(args: argparse.Namespace, new: dict[str, list[str]], rows: dict[str, list[dict | None]]) -> None:
    """Fill ``rows[name][fold]`` for every new variant and fold: read finished folds, train the rest (fold-major:
    an interrupted search has every variant on the same folds), ``args.jobs`` at a time."""
    pending = []
    threading = thread_options(args.threads, args.jobs)
    for fold in range(args.folds):
        for name, overrides in new.items():
            out = args.out / name / replicate_name("fold", fold)
            metrics, argv = fold_command(args.config, out, overrides, args.folds, fold, threading, args.dataset_folds)
            rows[name].append(metrics)
            if metrics is None:
                done = functools.partial(_store, rows[name], fold, out)
                pending.append(Command(str(out), argv, out.with_name(f"{out.name}.log"), done=done))
            else:
                (out / LAST_PT).unlink(missing_ok=True)  # a run that ended while this script was not there
    failed = run_commands(pending, args.jobs)
    if failed:
        raise SystemExit(f"cv_select: {failure_report(failed, args.jobs)}; run this again to resume")


def _store(row: list[dict | None], fold: int, out: Path) -> None:
    """``row[fold]``: the metrics.json of a fold run that has just finished; its last.pt is deleted (the run is
    over)."""
    (out / LAST_PT).unlink(missing_ok=True)
    row[fold] = read_metrics(out, required=True)


def summarise(rows: dict[str, list[dict]]) -> dict[str, dict]:
    """Per variant: every fold's best validation accuracy and epoch, their mean and standard deviation."""
    table = {}
    for name, folds in rows.items():
        accuracies = [m["best_val_accuracy"] for m in folds]
        mean, sd = mean_sd(accuracies)
        epochs = [m["best_epoch"] for m in folds]
        table[name] = {"val_accuracy": accuracies, "best_epoch": epochs, "mean": mean, "sd": sd}
    return table


def choose_per_fold(rows: dict[str, list[dict]]) -> list[str]:
    """Nested choice over the dataset's own folds: fold k's variant is the one whose run on fold k validated best
    (its validation share lies in fold k's training folds, so fold k's test samples played no part); a tie goes
    to the variant listed first."""
    folds = len(next(iter(rows.values())))
    return [max(rows, key=lambda name: rows[name][k]["best_val_accuracy"]) for k in range(folds)]


def protocol(folds: int, dataset_folds: bool) -> str:
    """The protocol line of a report."""
    return (
        f"validation on a data.val_fraction share of the training folds of the dataset's {folds} folds"
        if dataset_folds
        else f"{folds}-fold CV on the training part (data.val_folds)"
    ) + ", train.test=false: test never read"


def earlier_variants(path: Path, config: str, folds: int, dataset_folds: bool) -> dict[str, dict]:
    """The variants of the earlier report in the file ``path`` (:func:`earlier_variants_from`)."""
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        raise SystemExit(f"cv_select: --earlier {path}: not a cv.json report ({exc!r})") from exc
    return earlier_variants_from(report, path, config, folds, dataset_folds)


def earlier_variants_from(report: dict, path: Path, config: str, folds: int, dataset_folds: bool) -> dict[str, dict]:
    """The variants of an earlier report, refused unless it was made by the same config (its content, when the
    report records it; else its path), folds and protocol."""
    try:
        found = (report["config"], report["folds"], report["protocol"])
        variants = dict(report["variants"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"cv_select: --earlier {path}: not a cv.json report ({exc!r})") from exc
    if "config_sha256" in report:  # the same file content, wherever it lies and however its path is written
        if report["config_sha256"] != config_digest(config):
            raise SystemExit(
                f"cv_select: --earlier {path} was made with config {found[0]} as it was then; {config} has changed "
                "since (its sha256 differs), so the earlier variants were trained on other settings"
            )
        found = (config, *found[1:])
    elif Path(str(found[0])).resolve() == Path(config).resolve():
        found = (config, *found[1:])
    wanted = (config, folds, protocol(folds, dataset_folds))
    if found != wanted:
        raise SystemExit(
            f"cv_select: --earlier {path} was made by config {found[0]}, {found[1]} folds, protocol {found[2]!r}; "
            f"this search is config {wanted[0]}, {wanted[1]} folds, protocol {wanted[2]!r}"
        )
    for name, row in variants.items():
        figures = [row.get(key) if isinstance(row, dict) else None for key in ("val_accuracy", "best_epoch")]
        if not all(isinstance(f, list) and len(f) == folds for f in figures) or "overrides" not in row:
            raise SystemExit(
                f"cv_select: --earlier {path}: variant {name!r} lacks overrides or {folds} folds of figures"
            )
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    add_job_options(parser, "<out>/<variant>/fold<k>.log")
    parser.add_argument("--results", type=Path, default=None, help="copy cv.json here")
    parser.add_argument("--dataset-folds", action="store_true", help="the dataset's own folds (N-MNIST)")
    parser.add_argument("--earlier", type=Path, default=None, help="an earlier cv.json whose variants join the choice")
    args = parser.parse_args()
    if args.folds < 2:
        raise SystemExit(f"cv_select: --folds must be 2 or more, got {args.folds}")
    keys = split_keys(args.config)
    digest = config_digest(args.config)  # before anything trains: the content the variants are trained with
    names = [v[0].lower() for v in args.variant]  # one folder on a file system that ignores case
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SystemExit(
            f"cv_select: variant names must differ (also in case); given more than once: {', '.join(repeated)}"
        )
    new = dict(_variant(v, keys) for v in args.variant)
    earlier = earlier_variants(args.earlier, args.config, args.folds, args.dataset_folds) if args.earlier else {}
    for name, row in earlier.items():  # an earlier round is held to the same rule as this one
        _variant([name, *row["overrides"]], keys)
    for name in new.keys() & earlier.keys():
        raise SystemExit(f"cv_select: variant {name!r} is in --earlier {args.earlier} already; name it anew")
    check_variant_options(args.config, new, args.dataset_folds)
    variants = {**{name: row["overrides"] for name, row in earlier.items()}, **new}  # earlier first: they win ties
    roots = {name: data_root(args.config, overrides) for name, overrides in variants.items()}
    if len(set(roots.values())) > 1:  # data.root may come with each variant: then the same folder for all
        raise SystemExit(f"cv_select: the variants read different data (data.root differs): {roots}")
    rows: dict[str, list[dict]] = {
        name: [
            {"best_val_accuracy": a, "best_epoch": e}
            for a, e in zip(row["val_accuracy"], row["best_epoch"], strict=True)
        ]
        for name, row in earlier.items()
    }
    rows.update({name: [] for name in new})
    run_folds(args, new, rows)
    if config_digest(args.config) != digest:
        raise SystemExit(
            f"cv_select: {args.config} changed while the variants trained; the report would name the wrong settings "
            "(its folds are kept: restore the config and run again to read them)"
        )
    table = summarise(rows)
    chosen = max(table, key=lambda name: table[name]["mean"])
    per_fold = choose_per_fold(rows) if args.dataset_folds else None
    report = {
        "config": args.config,
        "config_sha256": digest,
        "folds": args.folds,
        "protocol": protocol(args.folds, args.dataset_folds),
        "variants": {name: {"overrides": variants[name], **table[name]} for name in variants},
        "chosen": None if args.dataset_folds else chosen,
        "chosen_per_fold": per_fold,
    }
    if args.earlier:
        report["earlier"] = {"report": str(args.earlier), "variants": list(earlier)}
    write_text_atomic(args.out / "cv.json", json.dumps(report, indent=2) + "\n")
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.results, json.dumps(report, indent=2) + "\n")
    print(f"{'variant':<16} {'mean val %':>10} {'sd':>6}  folds (best epoch)")
    for name, row in sorted(table.items(), key=lambda item: -item[1]["mean"]):
        folds = " ".join(f"{100 * a:.1f} ({e})" for a, e in zip(row["val_accuracy"], row["best_epoch"], strict=True))
        print(f"{name:<16} {100 * row['mean']:>10.2f} {100 * row['sd']:>6.2f}  {folds}")
    print("ties go to the variant listed first (earlier variants before new ones)")
    if per_fold is not None:
        print(
            "chosen per fold (each on its own training folds): "
            + ", ".join(f"{replicate_name('fold', k)} {name}" for k, name in enumerate(per_fold))
        )
    else:
        print(f"chosen: {chosen}")


if __name__ == "__main__":
    main()
