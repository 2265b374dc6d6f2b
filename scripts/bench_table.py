"""Print the README's performance tables from results/bench/*.json (written by benchmarks/)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "bench"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def neuron_table() -> str:
    tuned, default = _load("neuron-tuned.json"), _load("neuron-default.json")
    if tuned is None:
        return ""
    lines = [
        f"Neuron forward + backward, x [T=16, B=64, N=4096] float32, {tuned['threads']} threads, medians "
        f"(floor {tuned['main']['floor_ms']:.2f} ms with the tuned allocator"
        + (f", {default['main']['floor_ms']:.2f} ms with the default one" if default else "")
        + "):",
        "",
        "| implementation | ms (tuned allocator) | x floor | bpsrm fused is x faster | ms (default allocator) "
        "| kept for backward, bytes per neuron-step |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in tuned["main"]["results"].items():
        other = default["main"]["results"].get(name, {}).get("ms") if default else None
        other_text = f"{other:.1f}" if other is not None else "-"
        faster = row.get("x_bpsrm_fused", float("nan"))
        lines.append(
            f"| {name} | {row['ms']:.1f} | {row['x_floor']:.1f} | {faster:.2f} | {other_text} | "
            f"{row['saved_bytes_per_neuron_step']:.1f} |"
        )
    lines += [
        "",
        "Cost per step (us) as T grows, B=16, N=1024, tuned allocator; the floor per step is measured at each "
        "size in the same run:",
        "",
    ]
    names = list(tuned["t_sweep"][0]["results"]) if tuned["t_sweep"] else []
    lines.append("| T | floor | " + " | ".join(names) + " | bpsrm fused x floor |")
    lines.append("|---" * (len(names) + 3) + "|")
    for entry in tuned["t_sweep"]:
        steps = entry["shape"][0]
        cells = " | ".join(f"{entry['results'][n]['us_per_step']:.0f}" for n in names)
        fused = entry["results"].get("bpsrm fused", {}).get("x_floor")
        ratio = f"{fused:.1f}" if fused is not None else "-"
        lines.append(f"| {steps} | {entry['floor_ms'] * 1e3 / steps:.0f} | {cells} | {ratio} |")
    return "\n".join(lines)


def train_table() -> str:
    tuned, default = _load("train_step-tuned.json"), _load("train_step-default.json")
    if tuned is None:
        return ""
    lines = [
        f"Training step, `{tuned['spec']}`, T={tuned['T']}, batch {tuned['batch']}, {tuned['threads']} threads:",
        "",
        "| build | ms/step (tuned) | samples/s (tuned) | x faster peer | ms/step (default allocator) "
        "| peak RSS MB (x leaner peer) | peak live MB (x leaner peer) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in tuned["results"].items():
        other = default["results"].get(name, {}).get("ms_per_step") if default else None
        other_text = f"{other:.1f}" if other is not None else "-"
        live = row.get("peak_live_mb")
        live_text = f"{live:.0f} ({row.get('peak_live_vs_leaner_peer', float('nan')):.2f})" if live else "-"
        lines.append(
            f"| {name} | {row['ms_per_step']:.1f} | {row['samples_per_second']:.0f} | "
            f"{row.get('speed_vs_faster_peer', float('nan')):.2f} | {other_text} | "
            f"{row['peak_rss_mb']:.0f} ({row.get('peak_rss_vs_leaner_peer', float('nan')):.2f}) | {live_text} |"
        )
    return "\n".join(lines)


def inference_table() -> str:
    """The evaluation forward (benchmarks/train_step.py --inference): time only."""
    report = _load("inference-tuned.json")
    if report is None:
        return ""
    lines = [
        f"Inference (evaluation forward under no_grad), `{report['spec']}`, T={report['T']}, batch "
        f"{report['batch']}, {report['threads']} threads:",
        "",
        "| build | ms/batch | samples/s | x faster peer |",
        "|---|---|---|---|",
    ]
    for name, row in report["results"].items():
        lines.append(
            f"| {name} | {row['ms_per_step']:.1f} | {row['samples_per_second']:.0f} | "
            f"{row.get('speed_vs_faster_peer', float('nan')):.2f} |"
        )
    return "\n".join(lines)


def agreement_table() -> str:
    report = _load("peer_agreement.json")
    if report is None:
        return ""
    shape = "x".join(str(n) for n in report["shape"])
    lines = [
        f"Each peer against bpsrm's `srm` with the options of the same dynamics, and against the default dexp SRM "
        f"timed beside it (x [{shape}] float64, loss sum(spikes * w); `benchmarks/peer_agreement.py`):",
        "",
        "| peer | same dynamics in bpsrm | equal spikes | gradient cosine | largest gradient difference "
        "| equal spikes, default dexp | firing rate (peer / default dexp) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report["results"].items():
        same, default = row["against_same_dynamics"], row["against_default_dexp"]
        options = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row["same_dynamics"].items()
        )
        lines.append(
            f"| {name} | {options or 'the defaults'} | {same['equal_spikes']:.2%} | {same['grad_cosine']:.6f} | "
            f"{same['grad_max_abs_diff']:.1e} | {default['equal_spikes']:.2%} | "
            f"{default['rate_peer']:.3f} / {default['rate_bpsrm']:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(neuron_table())
    print()
    print(train_table())
    for table in (inference_table(), agreement_table()):
        if table:
            print()
            print(table)
