"""What the check for NaN and Inf costs the neuron: bpsrm.srm forward + backward with check_finite on and off.

    python benchmarks/finite_check.py [--repeats N] [--quick] [--out results/bench/finite_check.json]

Per round, each setting runs once on the same x (alternating which goes first), timed around
forward + backward of sum(spikes * w); the figure is the median over rounds of the paired ratio
(checked / unchecked) at each size, with the medians of each. The fused kernel makes the check inside
its forward (the final state of each block); the portable path reads u[-1] once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from report import emit

from bpsrm import srm
from bpsrm.environment import describe_environment

SIZES = ((16, 64, 4096), (16, 16, 1024), (4, 1, 8))


def time_call(x: torch.Tensor, w: torch.Tensor, backend: str, check: bool) -> float:
    x.grad = None
    start = time.perf_counter()
    (srm(x, backend=backend, check_finite=check)[0] * w).sum().backward()
    return (time.perf_counter() - start) * 1e3


def measure(shape: tuple[int, ...], backend: str, repeats: int, calls: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g) * 0.6 + 0.35).requires_grad_()
    w = torch.randn(shape, generator=g)
    for check in (True, False):  # warm-up
        time_call(x, w, backend, check)
    on, off, ratios = [], [], []
    for round_ in range(repeats):
        order = (True, False) if round_ % 2 == 0 else (False, True)
        got = {check: sum(time_call(x, w, backend, check) for _ in range(calls)) / calls for check in order}
        on.append(got[True])
        off.append(got[False])
        ratios.append(got[True] / got[False])
    return {
        "shape": list(shape),
        "backend": backend,
        "ms_checked": statistics.median(on),
        "ms_unchecked": statistics.median(off),
        "cost_percent": (statistics.median(ratios) - 1.0) * 100.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to prove the script runs (CI)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = ((4, 2, 64),) if args.quick else SIZES
    repeats = 3 if args.quick else args.repeats
    rows = []
    for shape in sizes:
        calls = 1 if shape[1] * shape[2] >= 16384 else 50
        for backend in ("fused", "portable"):
            rows.append(measure(shape, backend, repeats, calls))
            print(json.dumps(rows[-1]))
    report = {
        "threads": torch.get_num_threads(),
        "environment": describe_environment(),
        "results": rows,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
