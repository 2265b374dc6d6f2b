"""Print the README's results tables from results/<experiment>/seed<S>/ (metrics.json, eval-*.json).

python scripts/results_table.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.2f}% (1 seed)"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}% ({len(values)} seeds)"


def _runs(experiment: str) -> list[Path]:
    return sorted(p for p in (RESULTS / experiment).glob("seed*") if (p / "metrics.json").is_file())


def experiments_table() -> str:
    rows = []
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir() and p.name not in ("bench", "cwru-crossload")):
        runs = _runs(folder.name)
        if not runs:
            continue
        metrics = [json.loads((r / "metrics.json").read_text()) for r in runs]
        first = metrics[0]
        rates = statistics.mean(statistics.mean(m["firing_rates"].values()) for m in metrics)
        rows.append(
            f"| {folder.name} | {_mean_std([m['test_accuracy'] for m in metrics])} | {first['epochs']} | "
            f"{statistics.mean(m['train_seconds'] for m in metrics) / 60:.1f} min | "
            f"{statistics.mean(m['samples_per_second'] for m in metrics):.0f} | {rates:.3f} | "
            f"{statistics.mean(m['synaptic_ops_per_sample'] for m in metrics) / 1e6:.2f} M | "
            f"{statistics.mean(m['energy_per_sample_uj'] for m in metrics):.2f} uJ | T={first['time_steps']}, "
            f"`{first['spec']}` |"
        )
    if not rows:
        return ""
    head = (
        "| experiment | test accuracy | epochs | training time | samples/s | mean firing rate | SOPs/sample "
        "| energy/sample | network |\n|---|---|---|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


def crossload_table() -> str:
    runs = [r for r in _runs("cwru-crossload") if (r / "eval-2hp.json").is_file()]
    if not runs:
        return ""
    own = [json.loads((r / "metrics.json").read_text())["test_accuracy"] for r in runs]
    one = [json.loads((r / "eval-1hp.json").read_text()) for r in runs]
    two = [json.loads((r / "eval-2hp.json").read_text()) for r in runs]
    worst = min(min(e["per_class_accuracy"].values()) for e in two)
    classes = two[0]["classes"]
    per_class = " / ".join(f"{c} {100 * statistics.mean(e['per_class_accuracy'][c] for e in two):.1f}" for c in classes)
    return (
        "| trained at 0 HP, 9 fault classes | 0 HP (test part) | 1 HP (whole records; model choice) "
        "| 2 HP (whole records; final) | worst class at 2 HP, any seed |\n|---|---|---|---|---|\n"
        f"| `configs/cwru-crossload.yaml` | {_mean_std(own)} | {_mean_std([e['accuracy'] for e in one])} | "
        f"{_mean_std([e['accuracy'] for e in two])} | {100 * worst:.1f}% |\n\n"
        f"Per class at 2 HP (mean over seeds, %): {per_class}."
    )


if __name__ == "__main__":
    print(experiments_table())
    print()
    print(crossload_table())
