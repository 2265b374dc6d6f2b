"""Copy a cross-load matrix folder into results/: the matrix files and every run's metrics and
evaluations, without checkpoints.

    python scripts/keep_matrix.py runs/crossload-matrix/base results/crossload-matrix/base
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

KEEP = ("matrix.json", "matrix.md", "matrix.png")
KEEP_PER_RUN = ("metrics.json", "config.yaml")


def main(source: Path, target: Path) -> None:
    if not (source / "matrix.json").is_file():
        raise SystemExit(f"{source}: no matrix.json (run bpsrm crossload to the end first)")
    target.mkdir(parents=True, exist_ok=True)
    for name in KEEP:
        shutil.copy2(source / name, target / name)
    for run in sorted(source.glob("train-*/seed*")):
        destination = target / run.relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for item in [*(run / n for n in KEEP_PER_RUN), *run.glob("eval-*.json")]:
            if item.is_file():
                shutil.copy2(item, destination / item.name)
    print(f"kept {target}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
