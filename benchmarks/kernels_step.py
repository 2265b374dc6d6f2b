"""What bpsrm's compiled CPU kernels buy in a training step: the same network with them and on the portable path.

    python benchmarks/kernels_step.py [--spec SPEC] [--time-steps 8] [--batch 64] [--steps 6] [--rounds 3]
                                      [--threads 2] [--quick] [--out FILE]

The portable path is what an install without a C compiler runs (and ``BPSRM_KERNEL=portable`` forces): the neuron
through PyTorch operations and autograd Functions, TCN and pooling through PyTorch's own; the same equations,
other roundings. ``BPSRM_KERNEL`` is read when bpsrm is imported, so each build runs in a child process of its
own; the two alternate, ``--rounds`` times each, and each child times ``--steps`` training steps (AdamW,
cross-entropy, direct encoding of random Fashion-MNIST-sized images) after two unmeasured ones. Reported: the
median step of each build over all its rounds and the ratio portable / compiled. The default network is the
PLIF-sized Fashion-MNIST one of the README's main row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from report import emit

from bpsrm import build_model
from bpsrm.environment import describe_environment
from bpsrm.network.encoding import direct

PLIF_SIZED = "128C3-TCN-SRM-MP2-128C3-TCN-SRM-MP2-FC256-SRM-FC10"
BUILDS = {"compiled": {}, "portable": {"BPSRM_KERNEL": "portable"}}


def child(spec: str, time_steps: int, batch: int, steps: int) -> dict:
    """Step times (s) of one build in this process, with the kernels it ran on."""
    torch.manual_seed(0)
    model = build_model(spec, (1, 28, 28), time_steps=time_steps)
    optimiser = torch.optim.AdamW(model.parameters(), 1e-3)
    images, labels = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def step() -> None:
        optimiser.zero_grad()
        F.cross_entropy(model(direct(images, time_steps)), labels).backward()
        optimiser.step()

    for _ in range(2):
        step()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "environment": describe_environment()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=PLIF_SIZED)
    parser.add_argument("--time-steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a small network, one round of two steps (CI)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.spec, args.time_steps, args.batch, args.steps, args.rounds = "8C3-TCN-SRM-MP2-FC10", 2, 8, 2, 1
    if args.child:
        print(json.dumps(child(args.spec, args.time_steps, args.batch, args.steps)))
        return
    options = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in ("spec", "time_steps", "batch", "steps")]
    command = [sys.executable, __file__, "--child", f"--threads={args.threads}", *options]
    seconds: dict[str, list[float]] = {name: [] for name in BUILDS}
    kernels: dict[str, dict] = {}
    inherited = {key: value for key, value in os.environ.items() if key != "BPSRM_KERNEL"}
    for _ in range(args.rounds):
        for name, env in BUILDS.items():
            done = subprocess.run(command, env={**inherited, **env}, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                sys.exit(f"kernels_step.py: the {name} build failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            seconds[name] += result["seconds"]
            kernels[name] = result["environment"]["kernels"]
    if kernels["compiled"] != {"neuron": "C", "tcn_pooling": "C"}:
        sys.exit(f"kernels_step.py: bpsrm's compiled kernels are not built here ({kernels['compiled']}): no comparison")
    results = {
        name: {"median_s_per_step": statistics.median(seconds[name]), "steps": seconds[name], "kernels": kernels[name]}
        for name in BUILDS
    }
    report = {
        "spec": args.spec,
        "T": args.time_steps,
        "batch": args.batch,
        "threads": args.threads,
        "environment": describe_environment(),
        "results": results,
        "portable_over_compiled": results["portable"]["median_s_per_step"] / results["compiled"]["median_s_per_step"],
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
