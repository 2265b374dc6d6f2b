"""Copy a cross-load matrix folder into results/: every run's metrics and evaluations, without
checkpoints, and the matrix (table, JSON, heat map) made again from those evaluations.

    python scripts/keep_matrix.py runs/crossload-matrix/base results/crossload-matrix/base
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bpsrm.engine.crossload import write_matrix
from bpsrm.engine.replicates import replicate_folders

KEEP_PER_RUN = ("metrics.json", "config.yaml")


def main(source: Path, target: Path) -> None:
    if not (source / "matrix.json").is_file():
        raise SystemExit(f"{source}: no matrix.json (run bpsrm crossload to the end first)")
    target.mkdir(parents=True, exist_ok=True)
    old = json.loads((source / "matrix.json").read_text())
    adapt = any(cell["adapted"] for cell in old["cells"])
    for run in (r for cell in sorted(source.glob("train-*")) for r in replicate_folders(cell, "seed")):
        destination = target / run.relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for item in [*(run / n for n in KEEP_PER_RUN), *run.glob("eval-*.json")]:
            if item.is_file():
                shutil.copy2(item, destination / item.name)
    write_matrix(target, old["loads"], old["seeds"], adapt)
    print(f"kept {target}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
