"""Make small event-camera recordings for docs/howto/own-data.md: a bright dot crossing a 16 x 16 sensor.

    python docs/examples/make_events.py FOLDER [NEW_FOLDER]

writes FOLDER/left, FOLDER/right and FOLDER/down, 20 recordings of each direction the dot moves in (and NEW_FOLDER/
left.npy, right.npy and down.npy, one recording of each that training never sees), as ``.npy`` files in the layout
Tonic uses: a structured array with fields t (microseconds), x, y (int16) and p (bool: True = ON). A dot moving
over the pixels makes ON events where it arrives and OFF events where it leaves; each recording starts at its own
time, lasts 80 to 120 ms, and has 5% noise events (seeded: the same files on every machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIZE = 16
DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "down": (0, 1)}


def recording(direction: str, rng: np.random.Generator) -> np.ndarray:
    """The events of a dot of radius 2 moving across the sensor in ``direction``, by one pixel a step."""
    dx, dy = DIRECTIONS[direction]
    start = rng.integers(0, 10**6)
    duration = rng.uniform(80e3, 120e3)
    cx, cy = rng.uniform(4, SIZE - 4, size=2)
    cx, cy = (SIZE - 1 if dx < 0 else 0 if dx > 0 else cx), (0 if dy > 0 else cy)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    steps = SIZE
    records = []
    previous = np.zeros((SIZE, SIZE), bool)
    for k in range(steps):
        now = (xx - (cx + dx * k)) ** 2 + (yy - (cy + dy * k)) ** 2 <= 4
        for mask, polarity in ((now & ~previous, True), (previous & ~now, False)):
            ys, xs = np.nonzero(mask)
            times = start + (k + rng.uniform(0, 1, size=xs.size)) * duration / steps
            records += [(t, x, y, polarity) for t, x, y in zip(times.astype(np.int64), xs, ys, strict=True)]
        previous = now
    noise = max(1, len(records) // 20)
    for _ in range(noise):
        records.append(
            (start + int(rng.uniform(0, duration)), rng.integers(SIZE), rng.integers(SIZE), rng.random() < 0.5)
        )
    events = np.array(records, dtype=DTYPE)
    return events[np.argsort(events["t"], kind="stable")]


def main(folder: Path, new_folder: Path | None = None) -> None:
    rng = np.random.default_rng(7)
    for direction in DIRECTIONS:
        (folder / direction).mkdir(parents=True, exist_ok=True)
        for i in range(20):
            np.save(folder / direction / f"{i:03d}.npy", recording(direction, rng))
    if new_folder is not None:
        new_folder.mkdir(parents=True, exist_ok=True)
        for direction in DIRECTIONS:
            np.save(new_folder / f"{direction}.npy", recording(direction, rng))
    print(f"wrote 60 recordings under {folder}" + (f" and 3 new ones under {new_folder}" if new_folder else ""))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None)
