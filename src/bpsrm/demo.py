"""`bpsrm demo`: train BP-SRM on the Fashion-MNIST subset shipped inside the package.

The subset (5,000 train / 1,000 test images, stratified, made by
scripts/make_demo_subset.py) needs no download. 10% of the train images are
held out for validation; the test images are read once, at the end.
Fashion-MNIST is (c) 2017 Zalando SE, MIT licence.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .encoding import direct
from .engine import EpochResult, evaluate, train_epoch
from .errors import DataError
from .models import build_model

__all__ = ["DemoSettings", "load_demo_data", "run_demo"]

DEMO_SPEC = "16C3-TCN-SRM-MP2-32C3-TCN-SRM-MP2-FC10"


@dataclass(frozen=True)
class DemoSettings:
    """What `bpsrm demo` trains."""

    out: Path
    epochs: int = 4
    seed: int = 0
    time_steps: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    spec: str = DEMO_SPEC


def load_demo_data() -> dict[str, torch.Tensor]:
    """The shipped subset as float images ``[N, 1, 28, 28]`` in [0, 1] and int64 labels."""
    asset = resources.files("bpsrm") / "assets" / "fashion_mnist_demo.npz"
    try:
        with asset.open("rb") as handle, np.load(handle) as arrays:
            data = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{asset}: the demo subset shipped with bpsrm cannot be read ({exc})") from None
    out = {}
    for split in ("train", "test"):
        out[f"{split}_x"] = torch.from_numpy(data[f"{split}_images"].astype(np.float32) / 255.0).unsqueeze(1)
        out[f"{split}_y"] = torch.from_numpy(data[f"{split}_labels"].astype(np.int64))
    return out


def _batches(x: torch.Tensor, y: torch.Tensor, size: int, generator: torch.Generator | None):
    order = torch.randperm(len(x), generator=generator) if generator is not None else torch.arange(len(x))
    for start in range(0, len(x), size):
        idx = order[start : start + size]
        yield x[idx], y[idx]


def run_demo(settings: DemoSettings, log=print) -> dict:
    """Train, validate every epoch, test once with the best-validation weights; write the run folder."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    data = load_demo_data()
    n = len(data["train_x"])
    order = torch.randperm(n, generator=generator)
    n_val = n // 10
    val_idx, train_idx = order[:n_val], order[n_val:]
    train_x, train_y = data["train_x"][train_idx], data["train_y"][train_idx]
    val_x, val_y = data["train_x"][val_idx], data["train_y"][val_idx]

    model = build_model(settings.spec, (1, 28, 28), time_steps=settings.time_steps)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr)
    steps = settings.epochs * -(-len(train_x) // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=settings.lr, total_steps=steps)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return direct(x, settings.time_steps)

    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    log(
        f"bpsrm demo: {settings.spec}, T={settings.time_steps}, {len(train_x)} train / {len(val_x)} val / "
        f"{len(data['test_x'])} test images (Fashion-MNIST subset shipped with bpsrm)"
    )
    rows = []
    best_val, best_state = -1.0, None
    start = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        train = train_epoch(
            model, _batches(train_x, train_y, settings.batch_size, generator), optimiser, encode, scheduler=scheduler
        )
        val = evaluate(model, _batches(val_x, val_y, 256, None), encode)
        rows.append(_row(epoch, train, val))
        log(
            f"epoch {epoch}/{settings.epochs}: loss {train.loss:.3f}, train acc {train.accuracy:.3f}, "
            f"val acc {val.accuracy:.3f}, {train.samples_per_second:.0f} samples/s"
        )
        if val.accuracy > best_val:
            best_val = val.accuracy
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    train_seconds = time.perf_counter() - start
    assert best_state is not None
    model.load_state_dict(best_state)
    test = evaluate(model, _batches(data["test_x"], data["test_y"], 256, None), encode)
    metrics = {
        "test_accuracy": test.accuracy,
        "best_val_accuracy": best_val,
        "epochs": settings.epochs,
        "train_seconds": train_seconds,
        "samples_per_second": sum(r["train_samples"] for r in rows) / train_seconds,
        "firing_rates": list(test.firing_rates),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
    }
    _write_csv(out / "metrics.csv", rows)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    torch.save(best_state, out / "model.pt")
    log(
        f"test accuracy {100 * test.accuracy:.2f}% (weights of the best validation epoch, "
        f"val {100 * best_val:.2f}%), {train_seconds:.0f} s of training; run folder: {out}"
    )
    return metrics


def _row(epoch: int, train: EpochResult, val: EpochResult) -> dict:
    return {
        "epoch": epoch,
        "train_loss": round(train.loss, 6),
        "train_accuracy": round(train.accuracy, 6),
        "val_loss": round(val.loss, 6),
        "val_accuracy": round(val.accuracy, 6),
        "train_samples": train.samples,
        "train_seconds": round(train.seconds, 3),
        "firing_rates": " ".join(f"{r:.4f}" for r in val.firing_rates),
    }


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
