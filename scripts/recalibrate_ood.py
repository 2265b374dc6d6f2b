"""Compute a run's out-of-distribution calibration (bpsrm.deploy.ood) again and write it into its best.pt.

    python scripts/recalibrate_ood.py results/cwru-crossload/seed0 [RUN...]
    python scripts/recalibrate_ood.py --level-range-only results/cwru-crossload/seed0 [RUN...]

For runs trained before the calibration existed, with an earlier version of it, or with ``train.ood_samples: 0``
(then with the default number of samples). The run folder's config.yaml says which training data to read
(unaugmented, as the trainer does). Both forms also write the training windows' level range into a vibration
model's preprocessing record (``level_range``, which ``bpsrm predict`` holds new windows to), as training does
since it was introduced; ``--level-range-only`` writes that alone and leaves the calibration as it is.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from bpsrm.data import get_dataset
from bpsrm.deploy.ood import calibrate_checkpoint
from bpsrm.engine.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from bpsrm.engine.config import Config, TrainConfig, load_config
from bpsrm.engine.experiment import prepare
from bpsrm.engine.run_folder import BEST_PT, CONFIG_YAML
from bpsrm.errors import BpsrmError


def with_level_range(best: dict[str, Any], config: Config) -> dict[str, Any]:
    """``best`` with its preprocessing record's ``level_range`` that of the run's training data (unchanged for a
    model of images or events, whose data keeps none)."""
    record = best.get("preprocess")
    if not isinstance(record, dict) or record.get("kind", "vibration") != "vibration":
        return best
    data = config.data
    pre = get_dataset(data.name, "train", root=data.root, **data.options).preprocess
    return {**best, "preprocess": {**record, "level_range": list(pre.level_range)}}


def main(runs: list[Path], level_range_only: bool = False) -> None:
    for run in runs:
        try:
            config = load_config(run / CONFIG_YAML)
            best = with_level_range(load_checkpoint(run / BEST_PT), config)
        except BpsrmError as exc:
            raise SystemExit(f"recalibrate_ood: {exc}") from None
        if level_range_only:
            save_checkpoint(run / BEST_PT, best)
            print(f"{run / BEST_PT}: level range {best.get('preprocess', {}).get('level_range')}")
            continue
        if config.train.ood_samples == 0:  # trained without one: calibrate with the default number of samples
            train = dataclasses.replace(config.train, ood_samples=TrainConfig().ood_samples)
            config = dataclasses.replace(config, train=train)
        experiment = prepare(config, saved=True)
        load_model_state(experiment.model, best["model"], run / BEST_PT)
        experiment.model.eval()
        calibration = calibrate_checkpoint(run / BEST_PT, best, experiment, experiment.model, config, print)
        if calibration is None:
            raise SystemExit(f"{run / BEST_PT}: no calibration was written (see the message above)")
        print(f"{run / BEST_PT}: OOD threshold {calibration.threshold:.1f}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    only = "--level-range-only" in arguments
    folders = [Path(a) for a in arguments if a != "--level-range-only"]
    if not folders:
        raise SystemExit(__doc__)
    main(folders, only)
