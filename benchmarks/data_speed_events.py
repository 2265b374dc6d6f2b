"""N-MNIST decode + binning time per sample, and the per-sample time once the frames are cached.

A plain script, not a test: ``python benchmarks/data_speed_events.py [--root ../shared/data/nmnist]``.
It reads every ``*.bin`` under the root (1,100 files in the shared subset), times
``read_nmnist`` + ``events_to_frames`` (T=10, mode "time") per file, and prints the
median and other percentiles. Then it builds the frame cache in a temporary
folder and times ``dataset[i]`` served from it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bpsrm.data.events import events_to_frames
from bpsrm.data.nmnist import NMNIST, SENSOR_SIZE, read_nmnist

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "nmnist")
    parser.add_argument("--time-steps", type=int, default=10)
    parser.add_argument("--mode", default="time", choices=["time", "count"])
    parser.add_argument("--repeats", type=int, default=3, help="passes over all files; the best pass per file counts")
    args = parser.parse_args()

    files = sorted(args.root.glob("*/*/*.bin"))
    if not files:
        raise SystemExit(f"no N-MNIST .bin files under {args.root}")
    for path in files[:20]:  # warm up: imports, page cache
        events_to_frames(read_nmnist(path), SENSOR_SIZE, args.time_steps, args.mode)
    best = np.full(len(files), np.inf)
    events = np.zeros(len(files), dtype=np.int64)
    for _ in range(args.repeats):
        for i, path in enumerate(files):
            start = time.perf_counter()
            frames = events_to_frames(read_nmnist(path), SENSOR_SIZE, args.time_steps, args.mode)
            best[i] = min(best[i], time.perf_counter() - start)
            events[i] = int(frames.sum())
    us = best * 1e6
    print(f"{len(files)} files, {events.min()}-{events.max()} events (median {int(np.median(events))})")
    print(
        f"decode + binning (T={args.time_steps}, mode {args.mode}): median {statistics.median(us):.0f} us/sample, "
        f"p10 {np.percentile(us, 10):.0f}, p90 {np.percentile(us, 90):.0f}, max {us.max():.0f} "
        f"(best of {args.repeats} passes)"
    )

    with tempfile.TemporaryDirectory() as cache:
        os.environ["BPSRM_CACHE"] = cache
        start = time.perf_counter()
        data = NMNIST("train", root=args.root, time_steps=args.time_steps, mode=args.mode)
        build = time.perf_counter() - start
        start = time.perf_counter()
        data = NMNIST("train", root=args.root, time_steps=args.time_steps, mode=args.mode)
        reopen = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(len(data)):
            data[i]
        per_item = (time.perf_counter() - start) / len(data) * 1e6
    print(f"train cache: built in {build:.2f} s for {len(data)} samples, reopened in {reopen * 1e3:.0f} ms")
    print(f"dataset[i] from the cache: {per_item:.0f} us/sample (dense [T, 2, 34, 34] float32 tensor)")


if __name__ == "__main__":
    main()
