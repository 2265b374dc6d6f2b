"""Weather split build time: every image looked at (pixel digest, thumbnails) and grouped, with and without the
on-disk cache of the looks (bpsrm.data.image_looks.cached_looks).

A plain script, not a test: ``python benchmarks/data_speed_weather.py [--root ../shared/data]``.
Prints the median of --repeat builds of the training split, each as a new process would make it (the process's
memory of looks and groups emptied first): decoding every image (``cache=False``), and reading the looks from a
cache written before (in a temporary folder, not the user's cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bpsrm.data import image_looks
from bpsrm.data.weather import Weather

REPO = Path(__file__).resolve().parents[1]


def build_time(root: Path, cache: bool) -> float:
    image_looks._LOOKS.clear()
    image_looks._GROUPS.clear()
    start = time.perf_counter()
    Weather("train", root=root, cache=cache)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bpsrm-bench-looks-") as cache:
        os.environ["BPSRM_CACHE"] = cache
        decoding = [build_time(args.root, cache=False) for _ in range(args.repeat)]
        build_time(args.root, cache=True)  # writes the cache
        cached = [build_time(args.root, cache=True) for _ in range(args.repeat)]
    print(f"weather train split, every image decoded: median {statistics.median(decoding):.2f} s over {args.repeat}")
    print(f"weather train split, looks from the cache: median {statistics.median(cached):.2f} s over {args.repeat}")


if __name__ == "__main__":
    main()
