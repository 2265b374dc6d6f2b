"""Fashion-MNIST full load time: both splits read and checked, then one pass over the Dataset.

A plain script, not a test: ``python benchmarks/data_speed_fashion_mnist.py [--root ../shared/data]``.
Prints the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bpsrm.data import get_dataset

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    loads, passes = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        train = get_dataset("fashion-mnist", "train", root=args.root)
        test = get_dataset("fashion-mnist", "test", root=args.root)
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(len(train)):
            train[i]
        passes.append(time.perf_counter() - start)
    print(
        f"load train + test ({len(train)} + {len(test)} images, gz, checked): "
        f"median {statistics.median(loads):.2f} s over {args.repeat} runs"
    )
    print(
        f"one pass of dataset[i] over train: median {statistics.median(passes):.2f} s "
        f"({1e6 * statistics.median(passes) / len(train):.1f} us per sample)"
    )


if __name__ == "__main__":
    main()
