"""Make small vibration recordings for docs/howto/own-data.md: three bearing states as CSV files at 25.6 kHz.

    python docs/examples/make_vibration.py FOLDER [NEW_FOLDER]

writes FOLDER/healthy, FOLDER/outer-race and FOLDER/inner-race, 6 recordings of 2 seconds each (and NEW_FOLDER/
healthy.csv, outer-race.csv and inner-race.csv, one recording of each state that training never sees), as an
acquisition system would: a header ``time_s,acc``, the time in seconds, the acceleration in m/s^2 (seeded: the same
files on every machine). A fault is a train of decaying 3 kHz rings, one per ball pass: 89 a second on the outer
race; 132 a second on the inner race, stronger as the fault turns through the load zone once a revolution (29 Hz).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

RATE = 25_600
SECONDS = 2.0
SHAFT_HZ = 29.0


def rings(times: np.ndarray, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Decaying 3 kHz rings at ``rate_hz`` impacts a second (with a little jitter)."""
    signal = np.zeros_like(times)
    for start in np.arange(rng.uniform(0, 1 / rate_hz), times[-1], 1 / rate_hz):
        start += rng.normal(0, 0.02 / rate_hz)
        after = times - start
        ring = after >= 0
        signal[ring] += np.exp(-after[ring] * 800.0) * np.sin(2 * np.pi * 3000.0 * after[ring])
    return signal


def recording(state: str, rng: np.random.Generator) -> np.ndarray:
    times = np.arange(int(RATE * SECONDS)) / RATE
    shaft = 0.3 * np.sin(2 * np.pi * SHAFT_HZ * times + rng.uniform(0, 2 * np.pi))  # imbalance, every state
    signal = shaft + rng.normal(0, 0.25, times.size)
    if state == "outer-race":
        signal += 0.8 * rings(times, 89.0, rng)
    elif state == "inner-race":
        load_zone = 0.5 + 0.5 * np.cos(2 * np.pi * SHAFT_HZ * times)
        signal += 1.2 * load_zone * rings(times, 132.0, rng)
    return np.column_stack([times, 9.81 * signal])


STATES = ("healthy", "outer-race", "inner-race")


def write(path: Path, state: str, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, recording(state, rng), delimiter=",", header="time_s,acc", comments="", fmt="%.7g")


def main(folder: Path, new: Path | None) -> None:
    rng = np.random.default_rng(7)
    for state in STATES:
        for i in range(6):
            write(folder / state / f"{i:02d}.csv", state, rng)
    print(f"wrote 18 recordings under {folder}")
    if new is not None:
        for state in STATES:
            write(new / f"{state}.csv", state, rng)
        print(f"wrote 3 new recordings under {new}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python docs/examples/make_vibration.py FOLDER [NEW_FOLDER]")
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None)
