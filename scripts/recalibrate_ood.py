"""Compute a run's out-of-distribution calibration (bpsrm.deploy.ood) again and write it into its best.pt.

    python scripts/recalibrate_ood.py results/cwru-crossload/seed0 [RUN...]

For runs trained before the calibration existed, with an earlier version of it, or with ``train.ood_samples: 0``
(then with the default number of samples). The run folder's config.yaml says which training data to read
(unaugmented, as the trainer does).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from bpsrm.deploy.ood import calibrate_checkpoint
from bpsrm.engine.checkpoint import load_checkpoint, load_model_state
from bpsrm.engine.config import TrainConfig, load_config
from bpsrm.engine.experiment import prepare
from bpsrm.engine.run_folder import BEST_PT, CONFIG_YAML
from bpsrm.errors import BpsrmError


def main(runs: list[Path]) -> None:
    for run in runs:
        try:
            config = load_config(run / CONFIG_YAML)
        except BpsrmError as exc:
            raise SystemExit(f"recalibrate_ood: {exc}") from None
        if config.train.ood_samples == 0:  # trained without one: calibrate with the default number of samples
            train = dataclasses.replace(config.train, ood_samples=TrainConfig().ood_samples)
            config = dataclasses.replace(config, train=train)
        experiment = prepare(config, saved=True)
        best = load_checkpoint(run / BEST_PT)
        load_model_state(experiment.model, best["model"], run / BEST_PT)
        experiment.model.eval()
        calibration = calibrate_checkpoint(run / BEST_PT, best, experiment, experiment.model, config, print)
        if calibration is None:
            raise SystemExit(f"{run / 'best.pt'}: no calibration was written (see the message above)")
        print(f"{run / 'best.pt'}: OOD threshold {calibration.threshold:.1f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main([Path(a) for a in sys.argv[1:]])
