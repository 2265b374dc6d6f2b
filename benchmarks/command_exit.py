"""Wall time of a whole `bpsrm` command, ended by the console script (which freezes the command's objects out of the
garbage collector before the process ends, bpsrm.cli.console) and by bpsrm.cli.main alone (the interpreter's last
collections walk every object of torch, torch._dynamo and SciPy).

A plain script, not a test: ``python benchmarks/command_exit.py [--root ../shared/data] [--repeat 5]``.
Two commands, each run --repeat times both ways, alternating: ``bpsrm predict`` of one CWRU record (a committed
field model) and a ``bpsrm train`` of two batches of the CWRU config. Prints the median of each way, and the
median of the differences of the runs made back to back. Run it with nothing else on the machine (pause
trainings: kill -STOP).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "results" / "cwru-crossload" / "seed0" / "best.pt"

#: How each way starts the command: the console script's own code, and main alone.
WAYS = {
    "console (gc.freeze at the end)": "import sys; from bpsrm.cli import console; sys.argv[1:] = {argv!r}; console()",
    "main alone": "import sys; from bpsrm.cli import main; sys.exit(main({argv!r}))",
}


def wall(code: str, argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code.format(argv=argv)], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    record = args.root / "cwru" / "0HP" / "118.mat"
    with tempfile.TemporaryDirectory(prefix="bpsrm-bench-exit-") as folder:
        commands = {
            "predict": ["--threads", "1", "predict", str(CHECKPOINT), str(record), "--summary"],
            "train": [
                "--threads", "1", "train", "configs/cwru.yaml", f"data.root={args.root}", "train.epochs=1",
                "train.max_batches=2", "log.progress=false", "--out", str(Path(folder) / "run"), "--overwrite",
            ],
        }  # fmt: skip
        for name, argv in commands.items():
            times: dict[str, list[float]] = {way: [] for way in WAYS}
            for _ in range(args.repeat):
                for way, code in WAYS.items():
                    times[way].append(wall(code, argv))
            medians = {way: statistics.median(values) for way, values in times.items()}
            for way, median in medians.items():
                print(f"bpsrm {name}, {way}: median {median:.2f} s over {args.repeat}")
            pairs = zip(times["main alone"], times["console (gc.freeze at the end)"], strict=True)
            saved = statistics.median(alone - console for alone, console in pairs)
            print(f"bpsrm {name}: {saved:.2f} s less with the console's end (median of the paired differences)")


if __name__ == "__main__":
    main()
