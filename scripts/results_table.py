"""Print the README's results tables from results/ (metrics.json, eval-*.json); the docs' Results page too.

    python scripts/results_table.py             # print the tables
    python scripts/results_table.py --readme    # rewrite them in README.md
    python scripts/results_table.py --plots     # results/ablations/<dataset>.png, results/superseded/ablations-*.png

- results/<experiment>/seed<S>/: one row per experiment, mean ± sd over seeds;
- results/nmnist-cv5/fold<K>/: 5-fold cross-validation over the N-MNIST samples;
- results/cwru-crossload/seed<S>/: the bearing field model (every load at hand); results/crossload-matrix/<variant>/:
  cross-load matrices (bpsrm crossload); results/cwru-crossload-1hp-chosen/: the earlier protocol, one row;
- results/ablations/<dataset>/<variant>/seed<S>/: one table per dataset (nmnist-cv5: fold<K>/,
  with results/nmnist-cv5/ as the base row);
- results/tuning/<experiment>-<change>/seed<S>/: tuning runs beside the configured run they were
  compared with on validation (the change is in the folder's name and in its config.yaml); a tuning folder's
  baseline.json names another folder under results/ when the runs it was compared with have since been replaced,
  as results/superseded/<experiment>-<when>/ holds them.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from bpsrm.engine.config import ConfigError, without_key
from bpsrm.engine.replicates import format_percent, mean_sd, replicate_folders, replicate_index
from bpsrm.engine.run_folder import read_metrics, read_selection

RESULTS = Path(__file__).resolve().parents[1] / "results"
SPECIAL = (
    "bench",
    "cwru-crossload",
    "crossload-matrix",
    "cwru-crossload-1hp-chosen",
    "ablations",
    "nmnist-cv5",
    "tuning",
    "superseded",
)

# Experiments (and ablation datasets) replicated over the folds of a cross-validation, based on results/<dataset>/.
FOLDED_ABLATIONS = ("nmnist-cv5",)

ANCHORS = {
    "fashion-mnist": "PLIF 93.85% (checkpoint chosen on validation; 94.38% best test epoch), T = 8, 2 conv "
    "layers of 128 channels, GPU; TSSL-BP 92.83%, T = 5",
    "weather": "a shallow SNN (Tian et al., 2021) 93.45% on the same four classes (its split not published); "
    "ANN transfer learning (ResNet-34, ImageNet weights) about 98.6%",
    "cwru": "SNNs report 97.8-99.9% under various protocols",
    "nmnist-cv5": "PLIF 99.61%, TSSL-BP 99.40% on the full 60k/10k set",
}
DATA = {
    "cwru": "CWRU 12 kHz drive end, 0 HP, 10 classes, windows of 2,048; train windows from the first 70% of "
    "each record, test from the last 30% (644 test windows)",
    "fashion-mnist": "Fashion-MNIST, full 60,000 / 10,000 (6,000 training images held out for validation)",
    "weather": "Multi-class Weather Dataset, 1,121 images of the shared copy, stratified 80/20 split that keeps "
    "near-duplicates (equal pixels, or resized, cropped and recoloured copies) on one side (896 / 225), 96 x 96; "
    "10% of the training part validates",
    "nmnist-cv5": "N-MNIST, the real 1,000 / 100 subset of the shared copy pooled (1,100 samples), stratified "
    "5-fold cross-validation (one fold tests, 10% of the rest validates), T = 10 time bins",
}


def _mean_std(values: list[float], unit: str = "seeds") -> str:
    count = f"1 {unit[:-1]}" if len(values) == 1 else f"{len(values)} {unit}"
    return f"{format_percent(*mean_sd(values), len(values))} ({count})"


def _load(folder: Path, kind: str) -> list[dict]:
    """The metrics of the finished replicates (``seed<S>`` or ``fold<K>`` folders) under ``folder``."""
    return [read_metrics(p, required=True) for p in replicate_folders(folder, kind) if (p / "metrics.json").is_file()]


def _row(name: str, metrics: list[dict], unit: str) -> str:
    epochs = "/".join(str(e) for e in sorted({m["epochs"] for m in metrics}))
    rates = statistics.mean(statistics.mean(m["firing_rates"].values()) for m in metrics)
    return (
        f"| {name} | {_mean_std([m['test_accuracy'] for m in metrics], unit)} | {epochs} | "
        f"{statistics.mean(m['train_seconds'] for m in metrics) / 60:.1f} min | "
        f"{statistics.mean(m['samples_per_second'] for m in metrics):.0f} | {rates:.3f} | "
        f"{statistics.mean(m['synaptic_ops_per_sample'] for m in metrics) / 1e6:.2f} M | "
        f"{statistics.mean(m['energy_per_sample_uj'] for m in metrics):.2f} uJ | {_networks(metrics, unit)} |"
    )


def _networks(metrics: list[dict], unit: str) -> str:
    """The network of the runs; where replicates differ (a choice per fold), each with how many ran it."""
    counts: dict[str, int] = {}
    for m in metrics:
        network = f"T={m['time_steps']}, `{m['spec']}`"
        counts[network] = counts.get(network, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{network} ({count} {unit if count > 1 else unit[:-1]})" for network, count in counts.items())


def experiments_table() -> str:
    rows = []
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir() and p.name not in SPECIAL):
        metrics = _load(folder, "seed")
        if metrics:
            rows.append(_row(folder.name, metrics, "seeds"))
    cv = _runs("nmnist-cv5")
    if cv:
        rows.append(_row("nmnist-cv5", cv, "folds"))
    if rows and (RESULTS.parent / "configs" / "asl-dvs.yaml").is_file():
        rows.append(
            "| asl-dvs | no real data reachable (the config runs end to end on fixture files in CI, "
            "tests/test_configs.py) | | | | | | | `configs/asl-dvs.yaml` |"
        )
    if not rows:
        return ""
    head = (
        "| experiment | test accuracy | epochs | training time | samples/s | layers' mean firing rate | SOPs/sample "
        "| energy/sample | network |\n|---|---|---|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


# Issue 22's targets (mean test accuracy, %): the anchors' level under this project's protocols.
TARGETS = {"cwru": 99.5, "fashion-mnist": 93.9, "weather": 93.5, "nmnist-cv5": 97.0}


def _runs(name: str) -> list[dict]:
    """The metrics of an experiment's replicates: seed folders, or fold folders for the cross-validated one."""
    return _load(RESULTS / name, "fold" if name in FOLDED_ABLATIONS else "seed")


# Rows whose figure cannot count against the target, and why (said in the table instead of "met").
NOT_ESTABLISHED: dict[str, str] = {}


# The cross-validation reports (scripts/cv_select.py --results) that chose the final runs' configurations.
CV_REPORTS = {"nmnist-cv5": "tuning/nmnist-cv.json", "weather": "tuning/weather-near-cv.json"}


def _chosen_by(name: str, link: bool = True) -> str:
    """How the runs' configuration was chosen: the variants named by their selection.json (scripts/final_runs.py)
    and the report they came from, or the configured experiment."""
    chosen: dict[str, int] = {}
    configured = 0
    for run in sorted(p.parent for p in (RESULTS / name).glob("*/metrics.json")):
        selection = read_selection(run)
        if selection is None:
            configured += 1
            continue
        chosen[selection["variant"]] = chosen.get(selection["variant"], 0) + 1
    if not chosen:
        return "the configured experiment"
    if configured:
        chosen["the configured experiment, not chosen"] = configured
    runs = ", ".join(f"{variant} ({count} {'run' if count == 1 else 'runs'})" for variant, count in chosen.items())
    report = CV_REPORTS.get(name)
    if not (report and (RESULTS / report).is_file()):
        where = ""
    else:  # the docs site holds no results/ files: the path there, a link in the README
        where = f"; [{report}](results/{report})" if link else f"; `results/{report}`"
    return f"chosen by cross-validation on the training side: {runs}{where}"


def standing(name: str, metrics: list[dict]) -> str:
    """The target and where the mean test accuracy stands against it: 'met' or 'short by X points'."""
    target = TARGETS.get(name)
    if target is None or not metrics:
        return ""
    mean = 100 * mean_sd([m["test_accuracy"] for m in metrics])[0]  # the mean of the row's figure, to the last bit
    if name in NOT_ESTABLISHED:
        return f"{target:.1f}%: not established ({mean:.2f}%, but {NOT_ESTABLISHED[name]})"
    if mean >= target:  # unrounded: 93.496 does not meet 93.5
        return f"{target:.1f}%: met"
    return f"{target:.1f}%: {mean:.2f}%, short by {max(target - mean, 0.01):.2f} points"


def data_and_anchors(link: bool = True) -> str:
    names = [
        p.name for p in sorted(RESULTS.iterdir()) if p.is_dir() and p.name in DATA and any(p.glob("*/metrics.json"))
    ]
    if not names:
        return ""
    lines = [
        "| experiment | data and protocol | configuration | anchor (BP-SRM.md section 5) | target (issue 22) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {DATA[n]} | {_chosen_by(n, link)} | {ANCHORS.get(n, '')} | {standing(n, _runs(n))} |" for n in names
    ]
    return "\n".join(lines)


CROSSLOAD_VARIANTS = {
    "base": "raw windows, each standardised on its own (the configured preprocessing)",
    "speed": "+ order-domain speed normalisation to 1,800 rpm",
    "augment": "+ random speed (±3%) and gain (±10%) per training window",
    "order-spectrum": "speed normalisation + log spectrum (an order spectrum)",
    "envelope": "log envelope spectrum (Hilbert envelope)",
}


def _cells(matrix: dict, train_size: int, adapted: bool) -> list[dict]:
    return [c for c in matrix["cells"] if len(c["train"]) == train_size and c["adapted"] == adapted]


def _mean_cells(cells: list[dict]) -> str:
    return f"{100 * statistics.mean(c['mean'] for c in cells):.2f}%"


def _worst_cell(cells: list[dict]) -> str:
    worst = min(cells, key=lambda c: c["worst_class_accuracy"])
    train = ",".join(map(str, worst["train"]))
    return f"{worst['worst_class']} {100 * worst['worst_class_accuracy']:.1f}% ({train} -> {worst['test']})"


def crossload_table(link: bool = True) -> str:
    """The field model (trained on every load), the cross-load matrix of its preprocessing, the variants
    that matrix chose between, and the earlier protocol (epoch chosen on 1 HP) as one labelled row."""
    parts = []
    field = _load(RESULTS / "cwru-crossload", "seed")
    if field:
        worst = min(min(m["per_class_accuracy"].values()) for m in field)
        parts.append(
            "| field model: 9 fault classes, trained at 0, 1 and 2 HP, fixed schedule | test windows (last 30% of "
            "every record) | lowest class, any seed | checkpoints |\n|---|---|---|---|\n"
            f"| `configs/cwru-crossload.yaml` | {_mean_std([m['test_accuracy'] for m in field])} | {100 * worst:.1f}% "
            "| `results/cwru-crossload/seed*/best.pt` |"
        )
    folder = RESULTS / "crossload-matrix"
    matrices = {
        p.name: json.loads((p / "matrix.json").read_text())
        for p in sorted(folder.glob("*"))
        if (p / "matrix.json").is_file()
    }
    heat_map_path = "results/crossload-matrix/base/matrix.png"
    heat_map = f"[{heat_map_path}]({heat_map_path})"  # relative to the README; the docs site has no results/
    if "base" in matrices:
        parts.append(
            "Cross-load matrix of the field model's preprocessing (`bpsrm crossload configs/cwru-crossload.yaml "
            "data.root=../shared/data --seeds 0 1 2 --out runs/crossload-matrix/base`, its figures copied here by "
            "`scripts/keep_matrix.py`, as `bash scripts/run_crossload.sh` does; whole records of the test load, "
            "fixed schedule of 15 epochs; adapted: AdaBN on the test load's windows, labels unread; heat map: "
            + (heat_map if link else f"`{heat_map_path}`")
            + "):\n\n"
            + (folder / "base" / "matrix.md").read_text().strip()
        )
    if matrices:
        rows = [
            "| preprocessing | seeds | train on one: mean | train on one: worst class (cell) | train on two: mean "
            "| train on two: worst class (cell) | train on two, adapted: mean | adapted: worst class (cell) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        order = list(CROSSLOAD_VARIANTS)
        for name in sorted(matrices, key=lambda n: order.index(n) if n in order else len(order)):
            matrix = matrices[name]
            one, two, two_adapted = _cells(matrix, 1, False), _cells(matrix, 2, False), _cells(matrix, 2, True)
            rows.append(
                f"| {CROSSLOAD_VARIANTS.get(name, name)} | {len(matrix['seeds'])} | {_mean_cells(one)} | "
                f"{_worst_cell(one)} | {_mean_cells(two)} | {_worst_cell(two)} | "
                + (f"{_mean_cells(two_adapted)} | {_worst_cell(two_adapted)} |" if two_adapted else "- | - |")
            )
        parts.append(
            "Preprocessing variants on the matrix (results/crossload-matrix/<variant>/):\n\n" + "\n".join(rows)
        )
    earlier = [
        r for r in replicate_folders(RESULTS / "cwru-crossload-1hp-chosen", "seed") if (r / "eval-2hp.json").is_file()
    ]
    if earlier:
        two = [json.loads((r / "eval-2hp.json").read_text()) for r in earlier]
        worst = min(min(e["per_class_accuracy"].values()) for e in two)
        parts.append(
            "Earlier protocol, kept as one row: trained at 0 HP, the epoch chosen on 1 HP (so 1 HP is not a test), "
            "tested at 2 HP: "
            f"{_mean_std([e['accuracy'] for e in two])}, lowest class {100 * worst:.1f}% "
            "(`results/cwru-crossload-1hp-chosen/`, each seed's `eval-2hp.json`: the figures in its seed folders are "
            "of the 0 HP held-out windows, as its README says; its epochs were chosen by the earlier rule, the first "
            "epoch of the best accuracy on 1 HP, where today's rule takes the lowest loss among equal accuracies)."
        )
    return "\n\n".join(parts)


ABLATION_ORDER = [
    "base",
    "norm-none",
    "norm-bn",
    "norm-tdbn",
    "norm-bntt",
    "norm-tebn",
    "norm-tcn-time-channel",
    "kernel-alpha",
    "kernel-exp",
    "surrogate-atan",
    "surrogate-triangle",
    "detach-reset",
    "reset-zero",
]
ABLATION_TEXT = {
    "base": "TCN (channel statistics), dexp kernel, sigmoid surrogate, reset gradient kept",
    "norm-none": "no normalisation",
    "norm-bn": "folded BatchNorm",
    "norm-tdbn": "tdBN",
    "norm-bntt": "BNTT",
    "norm-tebn": "TEBN",
    "norm-tcn-time-channel": "TCN with time-channel statistics",
    "kernel-alpha": "alpha kernel (tau_s = tau_m)",
    "kernel-exp": "exp kernel (LIF-equivalent)",
    "surrogate-atan": "atan surrogate",
    "surrogate-triangle": "triangle surrogate",
    "detach-reset": "detach_reset on",
    "reset-zero": "hard reset to 0 (reset: zero) instead of the refractory response",
}


def check_replicate_seed(run: dict) -> None:
    """Stop the table when a seed<S> folder holds a run trained with another seed (metrics.json's ``seed``): it
    would be paired with the base's seed S, whose validation split and initial weights differ."""
    name, seed = run["_replicate"], run.get("seed")
    if name.startswith("seed") and seed is not None and replicate_index(name) != seed:
        raise SystemExit(f"{run['_folder']}: holds a run trained with seed {seed}, not {replicate_index(name)}")


def ablation_runs(root: Path | None = None) -> dict[str, tuple[str, dict[str, list[dict]]]]:
    """dataset -> (replicate unit, variant -> metrics of its runs), variants in ABLATION_ORDER, of the ablation
    folders in ``root`` (default results/ablations; another: scripts/run_ablations.py --out)."""
    root = root if root is not None else RESULTS / "ablations"
    found: dict[str, tuple[str, dict[str, list[dict]]]] = {}
    if not root.is_dir():
        return found
    for dataset in sorted(p for p in root.iterdir() if p.is_dir()):
        kind, runs = dataset_ablation_runs(dataset)
        if runs:
            found[dataset.name] = (f"{kind}s", runs)
    return found


def dataset_ablation_runs(dataset: Path) -> tuple[str, dict[str, list[dict]]]:
    """One ablation folder (results/ablations/<dataset>, or results/superseded/ablations-<name>): its replicate kind
    and variant -> metrics of its runs, variants in ABLATION_ORDER, the runs checked to share one budget."""
    # N-MNIST replicates over cross-validation folds; its base is the configured experiment.
    folded = dataset.name in FOLDED_ABLATIONS
    kind = "fold" if folded else "seed"
    runs: dict[str, list[dict]] = {}
    unknown = sorted(
        p.name for p in dataset.iterdir() if p.is_dir() and p.name not in ABLATION_ORDER and p.name[0] != "."
    )
    if unknown:  # a typo in a folder name dropped its row without a word
        raise SystemExit(
            f"{dataset}: {', '.join(unknown)}: not an ablation this table knows (one of {', '.join(ABLATION_ORDER)})"
        )
    for variant in ABLATION_ORDER:
        folder = RESULTS / dataset.name if folded and variant == "base" else dataset / variant
        metrics = [
            {**read_metrics(p, required=True), "_replicate": p.name, "_folder": p}  # seed<S> or fold<K>
            for p in replicate_folders(folder, kind)
            if (p / "metrics.json").is_file()
        ]
        for run in metrics:
            check_replicate_seed(run)
        if metrics:
            runs[variant] = metrics
    if runs:
        check_one_budget(dataset.name, runs, per_replicate=folded)
    return kind, runs


_BODY = re.compile(r"\d+C\d+|FC\d+|[MA]P\d+", re.IGNORECASE)  # synapses and pooling: what no variant changes


def run_budget(folder: Path) -> dict[str, Any]:
    """What every run of an ablation table must share (read from the run's config.yaml): the network's synapses
    and pooling (a variant changes only its norms, neuron or surrogate), T, the data, its limits and its
    validation share, the encoder and readout, the optimiser, the schedule, the training budget and the loss, its
    clipping, precision and how the checkpoint is chosen (helper-89 trained a variant with other batches, encoder,
    readout and validation share, and the table took it)."""
    from bpsrm.engine.config import load_config
    from bpsrm.errors import BpsrmError

    try:
        config = load_config(folder / "config.yaml")
    except BpsrmError as exc:
        raise SystemExit(f"results_table: {exc}") from None
    return {
        "network (synapses and pooling)": "-".join(_BODY.findall(config.model.spec)).upper(),
        "model.time_steps": config.model.time_steps,
        "data.name": config.data.name,
        "data.options": dict(sorted(config.data.options.items())),
        "data.limit_train": config.data.limit_train,
        "data.limit_test": config.data.limit_test,
        "data.augment": config.data.augment,
        "data.val_fraction": config.data.val_fraction,
        "data.val_folds": config.data.val_folds,
        "encoder": config.encoder,
        "model.readout": config.model.readout,
        "optim": config.optim,
        "schedule": config.schedule,
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
        "train.max_batches": config.train.max_batches,
        "train.loss": config.train.loss,
        "train.label_smoothing": config.train.label_smoothing,
        "train.clip_grad_norm": config.train.clip_grad_norm,
        "train.select": config.train.select,
        "train.precision": config.train.precision,
    }


def check_one_budget(dataset: str, runs: dict[str, list[dict]], per_replicate: bool) -> None:
    """Stop the table when its runs were not trained alike: every variant's run against its replicate's base run
    (``per_replicate``: the folds of a cross-validation each start from their own choice), and every run against
    the first base run otherwise. Old runs of another network left beside new ones would be averaged and paired
    without a word (helper-53)."""
    base = {m["_replicate"]: m["_folder"] for m in runs.get("base", [])}
    first = next(iter(base.values()), None)
    budgets: dict[Path, dict[str, Any]] = {}

    def budget(folder: Path) -> dict[str, Any]:
        if folder not in budgets:
            budgets[folder] = run_budget(folder)
        return budgets[folder]

    for metrics in runs.values():
        for m in metrics:
            reference = base.get(m["_replicate"]) if per_replicate else first
            if reference is None or reference == m["_folder"]:
                continue
            differ = [key for key, value in budget(m["_folder"]).items() if budget(reference)[key] != value]
            if differ:
                raise SystemExit(
                    f"results_table: ablations of {dataset}: {m['_folder']} was not trained as {reference} "
                    f"({', '.join(differ)} differ); a table averages and pairs runs trained alike only: move the "
                    "older runs to results/superseded/"
                )


def _accuracies(metrics: list[dict]) -> list[float]:
    return [m["test_accuracy"] for m in metrics]


def difference_of_means(base: list[dict], variant: list[dict]) -> str:
    """The variant's mean minus the base's, in points, over the replicates (seeds or folds) both have: a variant
    still running is not compared with base replicates it has not reached yet."""
    common = {m["_replicate"] for m in variant} & {m["_replicate"] for m in base}
    if not common:
        return ""

    def mean(runs: list[dict]) -> float:
        return statistics.mean(m["test_accuracy"] for m in runs if m["_replicate"] in common)

    return f"{round(100 * (mean(variant) - mean(base)), 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"


# The README's rule for the ablations (written on 2026-12-06, before the runs on the final Fashion-MNIST
# configuration): a difference is beyond the noise when the paired t-test's p is below 0.05 / 12 = 0.004
# (Bonferroni over the 12 variants, as the README writes it: 0.004 exactly, a little stricter than 0.05 / 12 =
# 0.00417), or when it has the same sign in all 3 seeds with McNemar's p below 0.004 in each.
RULE_BAR = 0.004
RULE_REPLICATES = 3
"""The rule speaks of 3 seeds: with fewer replicates (a job cut off after 2) it gives no verdict."""


def paired_difference(base: list[dict], variant: list[dict]) -> tuple[float, float | None, int] | None:
    """(mean difference in points, two-sided p of a paired t-test with n - 1 degrees of freedom, n) of the variant
    minus the base, replicate by replicate (the same seed or fold); p is None when the differences have no spread;
    None with fewer than 2 pairs."""
    by_replicate = {m["_replicate"]: m for m in base}
    diffs = [_points(by_replicate[m["_replicate"]], m) for m in variant if m["_replicate"] in by_replicate]
    if len(diffs) < 2:
        return None
    mean, sd = mean_sd(diffs)
    if sd < 1e-9:  # equal counts of samples gained or lost in every replicate (_points; rounding, for older runs)
        return mean, None, len(diffs)
    from scipy.stats import t as student_t

    t = mean / (sd / len(diffs) ** 0.5)
    return mean, float(2 * student_t.sf(abs(t), len(diffs) - 1)), len(diffs)


def _points(base: dict, variant: dict) -> float:
    """The variant's test accuracy minus the base's, in points, from counts of correct samples where both runs
    tested the same number: one sample more right in every seed gave differences apart in their last bits
    (100 * (643/644 - 642/644) against 100 * (1 - 643/644)), a spread of 1e-14 and "p < 0.001" (helper-89)."""
    samples = base.get("test_samples")
    if samples and samples == variant.get("test_samples"):
        right = (round(run["test_accuracy"] * samples) for run in (variant, base))
        return 100 * (next(right) - next(right)) / samples
    return 100 * (variant["test_accuracy"] - base["test_accuracy"])


def paired(base: list[dict], variant: list[dict]) -> str:
    """The paired column: mean difference in points and the paired t-test's p (:func:`paired_difference`); "" with
    fewer than 2 pairs."""
    found = paired_difference(base, variant)
    if found is None:
        return ""
    mean, p, n = found
    shown = round(mean, 2) + 0.0  # + 0.0: no "-0.00"
    return f"{shown:+.2f} (n = {n}, no spread)" if p is None else f"{shown:+.2f} ({format_p(p)})"


def mcnemar_tests(base: list[dict], variant: list[dict]) -> list[tuple[int, Any]]:
    """Replicate by replicate (the same seed or fold, so the same test samples), in the order of their numbers:
    (number, McNemar's test of the variant's model against the base's, a :class:`bpsrm.engine.paired.PairedTest`),
    with "-" for a replicate without predictions on both sides (runs from before predictions.npz existed) and
    "not run" for one that the base or the variant lacks. Predictions that are not their run's, or two runs of one
    replicate tested on different samples, stop the table: they would not be a paired comparison."""
    from bpsrm.engine.paired import compare_runs
    from bpsrm.engine.run_folder import Missing
    from bpsrm.errors import BpsrmError

    bases = {m["_replicate"]: m["_folder"] for m in base}
    variants = {m["_replicate"]: m["_folder"] for m in variant}

    def number(name: str) -> int:  # the names come from replicate_folders: seed<S> or fold<K>
        return replicate_index(name) or 0

    tests: list[tuple[int, Any]] = []
    for replicate in sorted(bases.keys() | variants.keys(), key=number):
        if replicate not in bases or replicate not in variants:
            tests.append((number(replicate), "not run"))
            continue
        try:
            tests.append((number(replicate), compare_runs(bases[replicate], variants[replicate]).test))
        except Missing:
            tests.append((number(replicate), "-"))
        except BpsrmError as exc:
            raise SystemExit(f"results_table: {exc}") from None
    return tests


def mcnemar_by_replicate(tests: list[tuple[int, Any]]) -> str:
    """The McNemar column from :func:`mcnemar_tests`: the variant minus the base in points with McNemar's exact p,
    each labelled with its seed or fold: "0: +0.31 (0.03), 1: -, 2: not run"; "" when no replicate has
    predictions."""
    if all(isinstance(test, str) for _, test in tests):
        return ""
    return ", ".join(
        f"{number}: {test}"
        if isinstance(test, str)
        else f"{number}: {round(100 * test.difference, 2) + 0.0:+.2f} ({format_p(test.p).removeprefix('p = ')})"
        for number, test in tests
    )


def verdict(
    paired_found: tuple[float, float | None, int] | None, tests: list[tuple[int, Any]], independent: bool = True
) -> str:
    """The README's rule (:data:`RULE_BAR`) applied: "beyond the noise (paired t)" when the paired t-test's p is below
    the bar; "beyond the noise (McNemar)" when every replicate has McNemar's test, every difference has the same
    sign and every p is below the bar, and the test samples are ``independent`` (not windows cut from a few
    recordings, whose McNemar p is too small: there the t-test decides alone); "within the noise" otherwise; ""
    when neither test could be made (one replicate, no predictions)."""
    pairs = paired_found[2] if paired_found is not None else 0
    both = max(pairs, sum(1 for _, test in tests if not (isinstance(test, str) and test == "not run")))
    if both < RULE_REPLICATES:  # the rule's "all 3 seeds": a job cut off after 2 seeds is no verdict yet
        return f"no verdict: {both} of {RULE_REPLICATES} replicates" if both else ""
    if paired_found is not None and paired_found[1] is not None and paired_found[1] < RULE_BAR:
        return "beyond the noise (paired t)"
    made = [test for _, test in tests if not isinstance(test, str)]
    every = bool(tests) and len(made) == len(tests)
    if every and independent and all(test.p < RULE_BAR for test in made):
        if all(test.difference > 0 for test in made) or all(test.difference < 0 for test in made):
            return "beyond the noise (McNemar)"
    if paired_found is None and not every:
        return ""
    return "within the noise"


def independent_samples(metrics: list[dict]) -> bool:
    """Whether the runs' test samples count as independent for McNemar's test
    (:func:`bpsrm.engine.paired.independent_samples` of each run's dataset)."""
    from bpsrm.engine.paired import independent_samples as independent

    return all(independent(str(name)) for name in {m.get("dataset") for m in metrics} - {None})


def format_p(p: float) -> str:
    """A p-value as the tables print it: two decimals from 0.01 on, two significant digits below (the Bonferroni
    bar of 12 variants, 0.004, must be readable), "p < 0.001" below that."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2f}" if p >= 0.01 else f"p = {p:.2g}"


def ablation_tables(root: Path | None = None) -> str:
    """The ablation tables of :func:`ablation_runs` (``root`` as there)."""
    parts = []
    for dataset, (unit, runs) in ablation_runs(root).items():
        base = runs.get("base")
        rows = []
        for variant, metrics in runs.items():
            accuracy = _accuracies(metrics)
            delta = "" if base is None or variant == "base" else difference_of_means(base, metrics)
            rate = statistics.mean(statistics.mean(m["firing_rates"].values()) for m in metrics)
            pairs = by_sample = rule = ""
            if base is not None and variant != "base":
                paired_found, tests = paired_difference(base, metrics), mcnemar_tests(base, metrics)
                pairs, by_sample = paired(base, metrics), mcnemar_by_replicate(tests)
                rule = verdict(paired_found, tests, independent_samples(metrics))
            own_base = root is not None and variant == "base"
            label = "base: the study's config as given" if own_base else ABLATION_TEXT[variant]
            rows.append(
                f"| {label} | {_mean_std(accuracy, unit)} | {delta} | {pairs} | {by_sample} | "
                f"{rule} | {rate:.3f} | {statistics.mean(m['train_seconds'] for m in metrics) / 60:.1f} min |"
            )
        first = next(iter(runs.values()))  # the base when it ran (ABLATION_ORDER starts with it)
        parts.append(
            f"Ablations on {dataset} ({first[0]['epochs']} epochs; each row changes one thing from the first):\n\n"
            f"| variant | test accuracy | vs first row (points) | paired by {unit[:-1]} (points, p) "
            f"| each {unit[:-1]}: points, McNemar p (same test samples) "
            f"| by the rule (p < 0.004; every {unit[:-1]}, at least 3) "
            "| layers' mean firing rate | training time |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
    return "\n\n".join(parts)


def ablation_plots() -> list[Path]:
    """One PNG per ablation dataset, results/ablations/<dataset>.png, and one per superseded ablation folder with
    its base, results/superseded/ablations-<name>.png, titled as superseded (see :func:`ablation_figure`)."""
    written = []
    for dataset, (unit, runs) in ablation_runs().items():
        path = RESULTS / "ablations" / f"{dataset}.png"
        ablation_figure(dataset, unit, runs).savefig(path, dpi=110)
        written.append(path)
    for folder in sorted(p for p in (RESULTS / "superseded").glob("ablations-*") if p.is_dir()):  # 3.10: no "*/"
        kind, runs = dataset_ablation_runs(folder)
        if "base" not in runs:  # N-MNIST's kernels, round 2: folds without their base here (nothing read), not drawn
            continue
        path = folder.with_suffix(".png")
        note = f"superseded: {folder.relative_to(RESULTS.parent)}"
        ablation_figure(folder.name.removeprefix("ablations-"), f"{kind}s", runs, note).savefig(path, dpi=110)
        written.append(path)
    return written


def ablation_figure(dataset: str, unit: str, runs: dict[str, list[dict]], note: str = "") -> Any:
    """Every run's test accuracy as a dot, the mean as a square with a bar from the lowest run to the highest, the
    base's mean as a dashed line. (A mean ± sd bar passed 100% where the runs sat near it.) Needs matplotlib."""
    from matplotlib.figure import Figure

    names = list(runs)
    figure = Figure(figsize=(9, 0.42 * len(names) + 1.3), layout="constrained")
    axes = figure.add_subplot()
    for row, variant in enumerate(names):
        accuracy = [100 * a for a in _accuracies(runs[variant])]
        mean = statistics.mean(accuracy)
        span = [[mean - min(accuracy)], [max(accuracy) - mean]]
        axes.errorbar(mean, row, xerr=span, fmt="s", color="tab:blue", capsize=3)
        axes.plot(accuracy, [row] * len(accuracy), "o", color="tab:gray", alpha=0.6, markersize=4)
    if "base" in runs:
        axes.axvline(100 * statistics.mean(_accuracies(runs["base"])), color="tab:red", linestyle="--", lw=1)
    axes.set_yticks(range(len(names)), [ABLATION_TEXT[n] for n in names], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("test accuracy (%)")
    epochs = next(iter(runs.values()))[0]["epochs"]
    figure.suptitle(
        f"Ablations on {dataset} ({epochs} epochs){'  —  ' + note if note else ''}\ndots: {unit}; squares: their "
        "mean; bars: lowest to highest; dashed line: the first row's mean",
        fontsize=9,
    )
    axes.grid(axis="x", alpha=0.3)
    return figure


def results_page() -> str:
    """The docs' Results page (Markdown)."""
    sections = [
        "# Results",
        "",
        "Measured on the project's machine (2 CPU cores) on the real data, with the checkpoint chosen on "
        "validation data and the test data read once; generated from `results/` when the docs are built "
        "(`python scripts/results_table.py` prints the same tables for the README).",
    ]
    for title, table in (
        ("Experiments", experiments_table()),
        ("Data and anchors", data_and_anchors(link=False)),
        ("Tuning", tuning_table()),
        ("Choices by cross-validation", cv_table()),
        ("CWRU across loads", crossload_table(link=False)),
        ("Ablations", ablation_tables()),
    ):
        if table:
            sections += ["", f"## {title}", "", table]
    return "\n".join(sections) + "\n"


BASELINE_JSON = "baseline.json"  # in a tuning folder: {"runs": <folder under results/ it was compared with>}


def compared_with(run: Path, experiment: str) -> str:
    """The folder under results/ whose seeds a tuning run was compared with: results/<experiment>/, or the folder its
    baseline.json names (the configured runs of the time, moved aside once a tuning run replaced them)."""
    recorded = run / BASELINE_JSON
    if not recorded.is_file():
        return experiment
    try:
        folder = json.loads(recorded.read_text())["runs"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        expected = '{"runs": "<folder under results/>"}'
        raise SystemExit(f"results_table: {recorded}: expected {expected} ({error})") from None
    if not isinstance(folder, str) or not (RESULTS / folder).is_dir():
        raise SystemExit(f"results_table: {recorded} names {folder!r}, which is not a folder under {RESULTS}")
    return folder


def tuning_table() -> str:
    """Tuning runs against the configured run of the same seed (or the run their baseline.json names): the choice
    is made on validation."""
    folder = RESULTS / "tuning"
    if not folder.is_dir():
        return ""
    rows = []
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        for seed_dir in replicate_folders(run, "seed"):
            tried = read_metrics(seed_dir, required=True)
            base_path = RESULTS / compared_with(run, tried["experiment"]) / seed_dir.name / "metrics.json"
            if not base_path.is_file():
                continue
            base = read_metrics(base_path.parent, required=True)
            chosen = "tuning run" if tried["best_val_accuracy"] > base["best_val_accuracy"] else "configured run"
            change = run.name.removeprefix(tried["experiment"] + "-")
            rows.append(
                f"| {tried['experiment']} | {change} | {seed_dir.name} | "
                f"{100 * base['best_val_accuracy']:.2f}% / {100 * base['test_accuracy']:.2f}% | "
                f"{100 * tried['best_val_accuracy']:.2f}% / {100 * tried['test_accuracy']:.2f}% | {chosen} |"
            )
    if not rows:
        return ""
    head = (
        "Tuning runs (best validation / test accuracy; the choice is made on validation alone; the runs kept the first "
        "epoch of their best validation accuracy, the rule before ties went to the lower loss, which changes no "
        "choice here):\n\n"
        "| experiment | change | seed | configured run | tuning run | chosen on validation |\n"
        "|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


def cv_table() -> str:
    """Model choices made by scripts/cv_select.py (results/tuning/<name>-cv.json): each variant's validation
    accuracy per fold, its mean and spread, and the choice; no test figure takes part."""
    rows = []
    for path in sorted((RESULTS / "tuning").glob("*-cv.json")):
        try:
            rows += _cv_rows(path.name.removesuffix("-cv.json"), json.loads(path.read_text()))
        except ValueError as error:  # json.JSONDecodeError too
            expected = 'a report of scripts/cv_select.py ({"variants": {name: {"overrides", "val_accuracy", ...}}})'
            raise SystemExit(f"results_table: {path}: expected {expected}: {error}") from None
    if not rows:
        return ""
    head = (
        "Choices by cross-validation on the training side (`scripts/cv_select.py`; validation accuracy per fold, "
        "the test split never read):\n\n"
        "| data | variant | validation accuracy per fold (%) | mean ± sd | chosen |\n"
        "|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


def _cv_rows(data: str, report: dict) -> list[str]:
    """The cross-validation table's rows of one cv_select report; a ValueError names what is malformed."""
    if not isinstance(report, dict) or not isinstance(report.get("variants"), dict):
        raise ValueError("no 'variants' mapping")
    per_fold = report.get("chosen_per_fold")
    if per_fold is not None and not (isinstance(per_fold, list) and all(isinstance(p, str) for p in per_fold)):
        raise ValueError(f"chosen_per_fold must be a list of variant names, got {per_fold!r}")
    rows = []
    for name, row in report["variants"].items():
        try:
            accuracies = [float(a) for a in row["val_accuracy"]]
            mean, sd = float(row["mean"]), float(row["sd"])
            overrides = " ".join(without_key(row["overrides"], "data.root")) or "(the config)"
        except KeyError as error:
            raise ValueError(f"variant {name!r} has no {error}") from None
        except (TypeError, ValueError, AttributeError, ConfigError) as error:
            raise ValueError(f"variant {name!r}: {error}") from None
        if per_fold:
            chosen = ", ".join(f"fold {k}" for k, pick in enumerate(per_fold) if pick == name) or "-"
        else:
            chosen = "chosen" if name == report.get("chosen") else ""
        folds = " ".join(f"{100 * a:.1f}" for a in accuracies)
        spread = format_percent(mean, sd, len(accuracies))
        rows.append(f"| {data} | {name}: `{overrides}` | {folds} | {spread} | {chosen} |")
    return rows


def readme_tables() -> list[str]:
    """The README's result tables, in order (empty ones left out)."""
    tables = (
        experiments_table(),
        data_and_anchors(),
        tuning_table(),
        cv_table(),
        crossload_table(),
        ablation_tables(),
    )
    return [t for t in tables if t]


README_START = "| experiment | test accuracy |"
README_END = "\nWhat the data is, and how each target stands:"


def update_readme(path: Path) -> None:
    """Rewrite the generated tables of the README's results section in place (the prose is left alone)."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: cannot find the generated tables (from {README_START!r} to {README_END!r})")
    from bpsrm.files import write_text_atomic  # a crash never leaves half a README

    write_text_atomic(path, text[:start] + "\n\n".join(readme_tables()) + "\n" + text[end:])
    print(f"updated {path}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--readme", action="store_true", help="rewrite the generated tables in README.md")
    action.add_argument(
        "--plots",
        action="store_true",
        help="write results/ablations/<dataset>.png and results/superseded/ablations-*.png",
    )
    action.add_argument(
        "--ablations",
        type=Path,
        metavar="DIR",
        help="print the ablation tables of DIR/<study>/<variant>/seed<S> (scripts/run_ablations.py --out DIR)",
    )
    args = parser.parse_args()
    if args.ablations is not None:
        if not args.ablations.is_dir():
            raise SystemExit(f"results_table: --ablations {args.ablations}: no such folder")
        print(ablation_tables(args.ablations) or f"results_table: no ablation runs in {args.ablations}")
    elif args.readme:
        update_readme(Path(__file__).resolve().parents[1] / "README.md")
    elif args.plots:
        for written in ablation_plots():
            print(f"wrote {written}")
    else:
        for table in readme_tables():
            print(table)
            print()
