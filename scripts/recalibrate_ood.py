"""Compute a run's out-of-distribution calibration (bpsrm.deploy.ood) again and write it into its best.pt.

    python scripts/recalibrate_ood.py results/cwru-crossload/seed0 [RUN...]

For runs trained before the calibration existed, or with an earlier version of it. The run folder's
config.yaml says which training data to read (unaugmented, as the trainer does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from bpsrm.engine.checkpoint import load_checkpoint, load_model_state
from bpsrm.engine.config import config_from_dict
from bpsrm.engine.trainer import _calibrate_ood, prepare


def main(runs: list[Path]) -> None:
    for run in runs:
        config = config_from_dict(yaml.safe_load((run / "config.yaml").read_text()))
        experiment = prepare(config)
        best = load_checkpoint(run / "best.pt")
        load_model_state(experiment.model, best["model"], run / "best.pt")
        experiment.model.eval()
        _calibrate_ood(run / "best.pt", best, experiment, experiment.model, config, print)
        threshold = float(load_checkpoint(run / "best.pt")["ood"]["threshold"])
        print(f"{run / 'best.pt'}: OOD threshold {threshold:.1f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main([Path(a) for a in sys.argv[1:]])
