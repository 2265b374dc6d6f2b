"""`bpsrm demo`: train BP-SRM on the Fashion-MNIST subset shipped inside the package.

The subset (5,000 train / 1,000 test images, stratified, made by
scripts/make_demo_subset.py) needs no download. 10% of the train images are
held out for validation; the test images are read once, at the end, with the
weights of the best validation epoch. The run goes through the same engine
as ``bpsrm train`` (run folder, checkpoints, ``--resume``, plots).
Fashion-MNIST is (c) 2017 Zalando SE, MIT licence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine.config import Config, config_from_dict, load_config
from .engine.distributed import environment_rank
from .engine.run_folder import CONFIG_YAML
from .engine.trainer import Log, train

__all__ = ["DEMO_CONFIG", "demo_config", "run_demo"]

DEMO_CONFIG: dict[str, Any] = {
    "experiment": "demo",
    "seed": 0,
    "data": {"name": "fashion-mnist-demo", "val_fraction": 0.1},
    "model": {"spec": "16C3-TCN-SRM-MP2-32C3-TCN-SRM-MP2-FC10", "time_steps": 4},
    "encoder": {"name": "direct"},
    "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.01},
    "schedule": {"name": "cosine", "warmup_epochs": 0.3},
    "train": {"epochs": 8, "batch_size": 64, "clip_grad_norm": 1.0},
}


def demo_config(epochs: int | None = None, seed: int | None = None) -> Config:
    """The demo's validated config: :data:`DEMO_CONFIG`, the one place of its settings and defaults, with
    ``epochs`` and ``seed`` in place of its own where given."""
    train_options = {**DEMO_CONFIG["train"], **({} if epochs is None else {"epochs": epochs})}
    raw = {**DEMO_CONFIG, **({} if seed is None else {"seed": seed}), "train": train_options}
    return config_from_dict(raw)


def run_demo(
    out: str | Path,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    log: Log = print,
) -> dict:
    """Train the demo into the run folder ``out``; returns the final metrics (``epochs`` and ``seed`` as in
    :func:`demo_config`, ``resume`` and ``overwrite`` as in :func:`bpsrm.engine.trainer.train`)."""
    if environment_rank("RANK") == 0:  # under torchrun, only rank 0 speaks
        log("bpsrm demo: Fashion-MNIST subset shipped with bpsrm (5,000 train / 1,000 test images, no download)")
    saved = Path(out) / CONFIG_YAML
    if resume and saved.is_file() and (epochs is None or seed is None):
        # a plain --resume continues the run as it was set up, it does not extend it to the demo's defaults; an
        # unreadable config.yaml is an error naming it (the defaults would extend the run)
        run = load_config(saved)
        epochs = run.train.epochs if epochs is None else epochs
        seed = run.seed if seed is None else seed
    return train(demo_config(epochs, seed), out, resume=resume, overwrite=overwrite, log=log)
