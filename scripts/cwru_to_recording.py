"""Write a CWRU record as the kind of file an acquisition system makes: another rate, another format.

    python scripts/cwru_to_recording.py ../shared/data/cwru/2HP/107.mat runs/pump.csv --rate 25600 [--seconds 3 --last]

The drive-end signal is resampled (bpsrm.data.recordings.resample, anti-aliased) to ``--rate`` and written as ``.csv``
(header ``time_s,accel_g``), ``.npy`` (no rate inside: give --sample-rate to bpsrm predict), ``.wav``
(16-bit, rate in its header) or ``.mat`` (variables ``accel`` and ``fs``), chosen by the suffix.

``--seconds N`` keeps the first N seconds: on a load a model trained on, that is its training part (bpsrm trains
on the first 70% of every record); ``--last`` keeps the last N seconds instead, from the test part. ``--snr DB``
adds white Gaussian noise at that signal-to-noise ratio (noise power = signal power / 10^(DB/10), after the
resampling; seed 0): a noisier sensor or mounting.
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np
import scipy.io

from bpsrm.data.cwru import read_cwru_record
from bpsrm.data.recordings import resample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("record", type=Path, help="a CWRU .mat record")
    parser.add_argument("out", type=Path, help="the file to write: .csv, .npy, .wav or .mat")
    parser.add_argument("--rate", type=float, default=25_600.0, help="sample rate in Hz (default 25600)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="keep only the first N seconds (training data of a trained load)"
    )
    parser.add_argument("--last", action="store_true", help="with --seconds: the last N seconds (the test part)")
    parser.add_argument("--snr", type=float, default=None, help="add white noise at this signal-to-noise ratio (dB)")
    args = parser.parse_args()
    signal, rate = read_cwru_record(args.record)
    y = resample(signal, rate, args.rate)
    if args.seconds is not None:
        keep = int(args.seconds * args.rate)
        y = y[y.size - keep :] if args.last else y[:keep]
    if args.snr is not None:
        noise_power = np.mean(np.square(y)) / 10 ** (args.snr / 10)
        y = y + np.random.default_rng(0).normal(scale=np.sqrt(noise_power), size=y.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    suffix = args.out.suffix.lower()
    if suffix == ".csv":
        t = np.arange(y.size) / args.rate
        np.savetxt(args.out, np.column_stack([t, y]), delimiter=",", header="time_s,accel_g", comments="", fmt="%.8g")
    elif suffix == ".npy":
        np.save(args.out, y)
    elif suffix == ".wav":
        with wave.open(str(args.out), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(round(args.rate))
            handle.writeframes(np.round(y * (0.9 * 32767 / np.max(np.abs(y)))).astype("<i2").tobytes())
    elif suffix == ".mat":
        scipy.io.savemat(args.out, {"accel": y.reshape(-1, 1), "fs": float(args.rate)})
    else:
        parser.error(f"unknown suffix {suffix!r}: .csv, .npy, .wav or .mat")
    print(f"wrote {args.out}: {y.size} samples at {args.rate:g} Hz ({y.size / args.rate:.2f} s)")


if __name__ == "__main__":
    main()
