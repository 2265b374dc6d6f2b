"""The cross-load protocol for bearing models: train at some loads, test at each load never seen.

``bpsrm crossload CONFIG --loads 0 1 2 --seeds 0 1 2 --out DIR`` trains one
model per training set and seed (each single load, then each set of all loads
but one) and tests it on every load outside its training set, as trained and
after unsupervised adaptation of its normalisation statistics to the test load
(:mod:`bpsrm.deploy.adapt`; labels never read). Nothing is chosen on data: the model
is the last epoch of a fixed schedule (``train.select: last``, no validation
split), so no test load is ever looked at before it is reported.

Writes ``DIR/train-<loads>/seed<k>/`` (a run folder each, with
``eval-<load>hp.json`` and ``eval-<load>hp-adapted.json``), ``DIR/matrix.json``,
``DIR/matrix.md`` (mean, std and the worst class of every cell) and
``DIR/matrix.png`` (heat maps). Interrupted runs resume where they stopped.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BpsrmError, ConfigError, DataError
from ..files import write_text_atomic
from . import run_folder
from .config import Config, config_from_dict, config_to_dict
from .replicates import check_distinct, format_percent, mean_sd, replicate_name
from .resume import finished_metrics

__all__ = [
    "training_sets",
    "protocol_config",
    "run_crossload",
    "summarise",
    "write_matrix",
    "matrix_markdown",
    "plot_matrix",
    "preprocessing_text",
]

Log = Callable[[str], None]


def training_sets(loads: Sequence[int]) -> list[tuple[int, ...]]:
    """Each single load, then (for three loads or more) each set of all loads but one."""
    loads = sorted(set(loads))
    sets: list[tuple[int, ...]] = [(load,) for load in loads]
    if len(loads) >= 3:
        sets += [tuple(c) for c in itertools.combinations(loads, len(loads) - 1)]
    return sets


def _name(train_loads: Sequence[int]) -> str:
    return "train-" + "-".join(str(x) for x in train_loads)


def protocol_config(config: Config, train_loads: Sequence[int], seed: int, root: str | Path | None = None) -> Config:
    """``config`` trained at ``train_loads`` with ``seed``: the 9 fault classes, a fixed schedule, no validation
    (and the data looked for in ``root`` first, when given)."""
    if config.data.name != "cwru":
        raise ConfigError(f"crossload: the config trains on {config.data.name!r}; the protocol is for cwru")
    raw = config_to_dict(config)
    raw["seed"] = int(seed)
    raw["data"]["options"] = {**raw["data"]["options"], "load": list(train_loads), "class_set": "9"}
    raw["data"]["val_fraction"] = 0.0
    raw["data"]["val_options"] = None
    raw["train"]["select"] = "last"
    if root is not None:
        raw["data"]["root"] = str(root)
    return config_from_dict(raw)


def _eval_name(test_load: int, adapted: bool) -> str:
    return f"eval-{test_load}hp{'-adapted' if adapted else ''}.json"


@dataclass
class _Cell:
    train: tuple[int, ...]
    test: int
    adapted: bool
    accuracies: list[float]
    per_class: list[dict[str, float]]

    def summary(self) -> dict[str, Any]:
        classes = list(self.per_class[0])
        class_means = {c: statistics.fmean(p[c] for p in self.per_class) for c in classes}
        worst = min(class_means, key=lambda c: class_means[c])
        mean, sd = mean_sd(self.accuracies)
        return {
            "train": list(self.train),
            "test": self.test,
            "adapted": self.adapted,
            "seeds": len(self.accuracies),
            "accuracies": self.accuracies,
            "mean": mean,
            "std": sd,
            "worst_class": worst,
            "worst_class_accuracy": class_means[worst],
            "lowest_class_accuracy_any_seed": min(min(p.values()) for p in self.per_class),
            "per_class_mean": class_means,
        }


def run_crossload(
    config: Config,
    out: str | Path,
    loads: Sequence[int] = (0, 1, 2),
    seeds: Sequence[int] = (0, 1, 2),
    root: str | Path | None = None,
    adapt: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Train and test every cell of the cross-load matrix (module docstring); returns the summary."""
    from .trainer import train

    out = Path(out)
    given = " ".join(str(x) for x in loads)
    loads = sorted(check_distinct([int(x) for x in loads], "crossload --loads"))
    if len(loads) < 2:
        raise ConfigError(f"crossload: needs two loads or more to test across, got {given or 'none'}")
    if not seeds:
        raise ConfigError("crossload: needs at least one seed")
    seeds = check_distinct(seeds, "crossload --seeds")
    sets = training_sets(loads)
    total = len(sets) * len(seeds)
    done = 0
    checked = False  # the records and the spec, before the first cell that needs them (none: a summary only)
    for train_loads in sets:
        for seed in seeds:
            done += 1
            run = out / _name(train_loads) / replicate_name("seed", seed)
            cfg = protocol_config(config, train_loads, seed, root)
            finished = finished_metrics(run, cfg) is not None
            if not checked and (not finished or _pending_cells(run, loads, train_loads, adapt)):
                _check_records(config, loads, root, given)
                checked = True
            if not finished:
                log(f"crossload [{done}/{total}]: training at {list(train_loads)} HP, seed {seed} -> {run}")
                train(cfg, run, reuse=True, log=log)
            _evaluate_cells(run, cfg, loads, train_loads, seed, root, adapt, log)
    summary = write_matrix(out, loads, seeds, adapt, log)
    log(f"crossload: wrote {out / 'matrix.md'}")
    return summary


def _check_records(config: Config, loads: Sequence[int], root: str | Path | None, given: str) -> None:
    """What would stop the protocol later, checked before the first training: a network that does not end with
    9 outputs (the protocol trains the 9 fault classes), and every load's records (a load outside 0-3, or one
    whose records are missing, stopped it only when a trained model was tested there)."""
    from ..data.cwru import locate_records
    from ..network.models import spec_outputs

    outputs = spec_outputs(config.model.spec)
    if outputs != 9:
        raise ConfigError(
            f"crossload: model.spec {config.model.spec} ends with {outputs} outputs, but the protocol trains the 9 "
            "fault classes (it sets data.options.class_set to 9); end the spec with FC9, as "
            "configs/cwru-crossload.yaml does"
        )

    where = root if root is not None else config.data.root
    for chosen in training_sets(loads):  # as the cells read them: a training set's loads in one folder
        try:
            locate_records(chosen, "9", where)
        except BpsrmError as exc:
            which = f"load {chosen[0]}" if len(chosen) == 1 else f"loads {', '.join(map(str, chosen))} in one folder"
            raise type(exc)(f"crossload --loads {given} ({which}): {exc}") from None


def write_matrix(
    out: Path, loads: Sequence[int], seeds: Sequence[int], adapt: bool, log: Log = print
) -> dict[str, Any]:
    """Summarise the cells' evaluations under ``out`` (:func:`summarise`) and write matrix.json, matrix.md and the
    heat map matrix.png beside them, each atomically; returns the summary. Without matplotlib, or when the PNG
    cannot be written, ``log`` says so and the tables stand."""
    summary = summarise(out, loads, seeds, adapt)
    setting = preprocessing_text(out, loads, seeds)
    write_text_atomic(out / "matrix.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out / "matrix.md", matrix_markdown(summary, setting))
    try:
        plot_matrix(summary, out / "matrix.png", setting)
    except BpsrmError as exc:
        log(f"crossload: no heat map drawn: {exc}")
    return summary


def _evaluate_cells(
    run: Path,
    cfg: Config,
    loads: Sequence[int],
    train_loads: tuple[int, ...],
    seed: int,
    root: str | Path | None,
    adapt: bool,
    log: Log,
) -> None:
    """Test one trained run at every load it was not trained at (as trained, and adapted): one JSON each."""
    from ..data.vibration import VibrationPreprocess
    from ..deploy.inference import evaluate_trained, load_trained

    cells = _pending_cells(run, loads, train_loads, adapt)
    if not cells:
        return
    trained = load_trained(run / run_folder.BEST_PT)  # once per run; each cell starts from its statistics
    as_trained = copy.deepcopy(trained.model.state_dict())
    if not isinstance(trained.preprocess, VibrationPreprocess):
        raise DataError(f"{run / run_folder.BEST_PT}: not a vibration model (bpsrm crossload tests CWRU models)")
    window = trained.preprocess.window  # test windows side by side, as long as the checkpoint's own
    for test_load, adapted in cells:
        trained.model.load_state_dict(as_trained)  # adaptation changed the statistics of the last cell
        options = {"load": test_load, "whole": True, "stride": window}
        report = evaluate_trained(trained, root, options, "test", adapt=adapted)
        write_text_atomic(run / _eval_name(test_load, adapted), json.dumps(report, indent=2) + "\n")
        log(
            f"crossload: {list(train_loads)} HP -> {test_load} HP, seed {seed}"
            f"{' (adapted)' if adapted else ''}: {100 * report['accuracy']:.2f}%"
        )


def _pending_cells(
    run: Path, loads: Sequence[int], train_loads: tuple[int, ...], adapt: bool
) -> list[tuple[int, bool]]:
    """(test load, adapted) of the cells of one run whose evaluation file is not written yet."""
    return [
        (test_load, adapted)
        for test_load in loads
        if test_load not in train_loads
        for adapted in ((False, True) if adapt else (False,))
        if not (run / _eval_name(test_load, adapted)).is_file()
    ]


def summarise(out: str | Path, loads: Sequence[int], seeds: Sequence[int], adapt: bool = True) -> dict[str, Any]:
    """The matrix from the evaluation files under ``out``: one cell per (training set, test load, adapted)."""
    out = Path(out)
    cells = []
    for train_loads in training_sets(loads):
        for test_load in (x for x in sorted(set(loads)) if x not in train_loads):
            for adapted in (False, True) if adapt else (False,):
                accuracies, per_class = [], []
                for seed in seeds:
                    path = out / _name(train_loads) / replicate_name("seed", seed) / _eval_name(test_load, adapted)
                    try:
                        report = json.loads(path.read_text())
                    except (OSError, json.JSONDecodeError) as exc:
                        raise DataError(f"{path}: unreadable ({exc}); run bpsrm crossload again to redo it") from None
                    accuracies.append(float(report["accuracy"]))
                    per_class.append({str(k): float(v) for k, v in report["per_class_accuracy"].items()})
                cells.append(_Cell(tuple(train_loads), test_load, adapted, accuracies, per_class).summary())
    return {"loads": sorted(set(loads)), "seeds": list(seeds), "cells": cells}


#: the data options that make a matrix's variant (its framing and split options are the protocol's, not shown)
_SHOWN_OPTIONS = ("features", "normalize", "speed_normalize", "reference_rpm", "augment_speed", "augment_gain")


def preprocessing_text(out: str | Path, loads: Sequence[int], seeds: Sequence[int]) -> str:
    """The preprocessing of the matrix's runs, read from its first run's config.yaml: the features always, the
    other options of ``_SHOWN_OPTIONS`` where they differ from the dataset's defaults, e.g.
    ``features=raw, normalize=window, speed_normalize=true``; "" when that file cannot be read. Heat maps of several
    variants otherwise carried one title."""
    import inspect

    from ..data.base import dataset_class
    from .config import load_config

    first = Path(out) / _name(training_sets(sorted(loads))[0]) / replicate_name("seed", seeds[0])
    try:
        data = load_config(first / run_folder.CONFIG_YAML).data
        defaults = inspect.signature(dataset_class(data.name).__init__).parameters
    except (OSError, BpsrmError):
        return ""
    shown = []
    for key in _SHOWN_OPTIONS:
        default = defaults[key].default if key in defaults else inspect.Parameter.empty
        value = data.options.get(key, default)
        if value is not inspect.Parameter.empty and (key == "features" or value != default):
            shown.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return ", ".join(shown)


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def matrix_markdown(summary: dict[str, Any], setting: str = "") -> str:
    """The matrix as a Markdown table: one row per training set and test load; ``setting`` (the preprocessing,
    :func:`preprocessing_text`) closes its footnote."""
    lines = [
        "| trained at (HP) | tested at (HP) | as trained: mean ± sd | worst class (%) | adapted: mean ± sd "
        "| worst class (%) |",
        "|---|---|---|---|---|---|",
    ]
    cells = summary["cells"]
    keys = sorted({(tuple(c["train"]), c["test"]) for c in cells}, key=lambda k: (len(k[0]), k[0], k[1]))
    for train_loads, test_load in keys:
        row = [", ".join(str(x) for x in train_loads), str(test_load)]
        for adapted in (False, True):
            match = [c for c in cells if tuple(c["train"]) == train_loads and c["test"] == test_load]
            match = [c for c in match if c["adapted"] == adapted]
            if not match:
                row += ["-", "-"]
                continue
            cell = match[0]
            row.append(format_percent(cell["mean"], cell["std"], cell["seeds"]))
            row.append(f"{cell['worst_class']} {_percent(cell['worst_class_accuracy'])}")
        lines.append("| " + " | ".join(row) + " |")
    seeds = ", ".join(str(s) for s in summary["seeds"])
    lines.append("")
    lines.append(
        f"Seeds {seeds}; whole test-load records, windows without overlap; worst class: lowest mean over seeds"
        + (f"; preprocessing: {setting}." if setting else ".")
    )
    return "\n".join(lines) + "\n"


def plot_matrix(summary: dict[str, Any], path: str | Path, setting: str = "") -> Path:
    """Heat maps of mean accuracy (rows: training sets, columns: test loads), as trained and adapted, titled with
    ``setting`` (the preprocessing, :func:`preprocessing_text`) where given."""
    import numpy as np

    from .plots import new_figure, save_figure

    loads = summary["loads"]
    cells = summary["cells"]
    rows = sorted({tuple(c["train"]) for c in cells}, key=lambda k: (len(k), k))
    panels = [a for a in (False, True) if any(c["adapted"] == a for c in cells)]
    fig = new_figure((4.2 * len(panels), 0.55 * len(rows) + 1.6), ncols=len(panels), layout="tight")
    lowest = min((100 * c["mean"] for c in cells if not math.isnan(c["mean"])), default=100.0)
    floor = min(50.0, 10 * math.floor(lowest / 10))  # one colour scale for both panels; a cell under 50% gets its own
    for ax, adapted in zip(list(fig.axes), panels, strict=True):  # a list: each colour bar adds an axes
        grid = np.full((len(rows), len(loads)), math.nan)
        for c in cells:
            if c["adapted"] == adapted:
                grid[rows.index(tuple(c["train"])), loads.index(c["test"])] = 100 * c["mean"]
        image = ax.imshow(grid, vmin=floor, vmax=100, cmap="viridis", aspect="auto")
        for i, j in itertools.product(range(len(rows)), range(len(loads))):
            if not math.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", color="w" if grid[i, j] < 85 else "k")
        ax.set_xticks(range(len(loads)), [f"{x} HP" for x in loads])
        ax.set_yticks(range(len(rows)), [", ".join(str(x) for x in r) + " HP" for r in rows])
        ax.set_xlabel("tested at")
        ax.set_ylabel("trained at")
        ax.set_title("adapted (AdaBN)" if adapted else "as trained")
        fig.colorbar(image, ax=ax, label="accuracy (%)")
    seeds = len(summary["seeds"])
    title = f"CWRU across loads, mean of {seeds} seeds" if seeds > 1 else "CWRU across loads, one seed"
    fig.suptitle(title + (f"\n{setting}" if setting else ""))
    return save_figure(fig, path, dpi=110)
