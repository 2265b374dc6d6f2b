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
from bpsrm.engine.config import TrainConfig, load_config
from bpsrm.engine.experiment import prepare
from bpsrm.engine.run_folder import BEST_PT, CONFIG_YAML
from bpsrm.errors import BpsrmError


def with_training_level_range(best: dict[str, Any], training: dict[str, Any] | None) -> dict[str, Any]:
    """``best`` with its preprocessing record's ``level_range`` that of the run's training data (``training``: its
    preprocessing record as the trainer makes it); unchanged for a model of images or events, or a dataset that
    records no level range."""
    record = best.get("preprocess")
    if not isinstance(record, dict) or record.get("kind", "vibration") != "vibration":
        return best
    level_range = (training or {}).get("level_range")
    return best if level_range is None else {**best, "preprocess": {**record, "level_range": list(level_range)}}


def main(runs: list[Path], level_range_only: bool = False) -> None:
    for run in runs:
        try:
            config = load_config(run / CONFIG_YAML)
            best = load_checkpoint(run / BEST_PT)
            if level_range_only:  # the training data alone, without the model the calibration needs
                data = config.data
                pre = get_dataset(data.name, "train", root=data.root, **data.options).preprocess
                best = with_training_level_range(best, pre.to_dict() if pre is not None else None)
        except BpsrmError as exc:
            raise SystemExit(f"recalibrate_ood: {exc}") from None
        if level_range_only:
            save_checkpoint(run / BEST_PT, best)
            print(f"{run / BEST_PT}: level range {best.get('preprocess', {}).get('level_range')}")
            continue
        if config.train.ood_samples == 0:  # trained without one: calibrate with the default number of samples
            train = dataclasses.replace(config.train, ood_samples=TrainConfig().ood_samples)
            config = dataclasses.replace(config, train=train)
        experiment = prepare(config, saved=True)  # reads the training data once, for both
        best = with_training_level_range(best, experiment.preprocess)
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
