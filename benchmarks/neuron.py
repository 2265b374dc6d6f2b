"""Neuron forward + backward: bpsrm beside SpikingJelly, snnTorch and Norse, in one process.

    python benchmarks/neuron.py [--allocator tuned|default] [--quick] [--fixed-calls N]
                                [--out results/bench/neuron-tuned.json]

Loss = sum(spikes * w) for x of shape [T, B, N], float32, on the CPU with
torch's thread count. Every implementation runs interleaved with the others,
--repeats times; the table gives medians and ratios. The memory-traffic floor
is measured in the same run: a fused neuron must read x and write spikes and u
(forward), read the spike gradient and u and write grad_x (backward): 6 float32
passes over [T, B, N], at the bandwidth that a large torch.add(a, b, out=c) reaches.
"Saved" is what each implementation keeps for its backward (saved-tensor hooks).

The fixed cost of a call ("fixed_cost" in the report) is the forward + backward of each neuron on
a tiny x [4, 1, 8] in the same harness, minus the harness with x * 1.0 in the neuron's place (one
native element-wise op): per round, --fixed-calls calls of each, interleaved, the median over rounds
of the paired difference. The T sweep's least-squares line ms = intercept + slope * T ("t_sweep_fit")
gives a second figure; its intercept holds the harness's own per-call cost too, and the spread of the
large-T points moves it by hundreds of us.

Peers: benchmarks/peers.py maps each neuron onto the SRM as closely as it allows (the same decays and
threshold) and says what still differs (SpikingJelly's LIF has no synaptic current; Norse resets to zero);
benchmarks/peer_agreement.py measures how far each peer's spikes and gradients are from bpsrm's on the same
dynamics. Also timed: the plain autograd loop of the iterative SRM (bpsrm.neuron.functional.srm_reference),
bpsrm portable (the explicit autograd.Function) and bpsrm fused (the C kernel), kernel dexp.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from peers import peer_neurons, versions
from report import emit

from bpsrm.environment import describe_environment
from bpsrm.neuron.functional import srm, srm_reference
from bpsrm.runtime import allocator_state, tune_allocator

REPO = Path(__file__).resolve().parents[1]
DEVICE = torch.device("cpu")  # --device; on CUDA every timing is bracketed by torch.cuda.synchronize()


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def peers() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> function x [T, B, N] -> spikes [T, B, N]; peers that do not import are left out (and said so)."""
    impls: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "bpsrm fused": lambda x: srm(x, backend="fused")[0],
        "bpsrm portable": lambda x: srm(x, backend="portable")[0],
        "plain autograd SRM loop": lambda x: srm_reference(x)[0],
    }
    impls.update(peer_neurons(DEVICE))
    return impls


def floor_ms(
    shape: tuple[int, ...], repeats: int, tensors: tuple[torch.Tensor, ...] | None = None
) -> tuple[float, float]:
    """(bandwidth GB/s, floor ms) from torch.add on tensors of the benchmark's size.

    ``tensors``: (a, b, c) made once by the caller and reused, so that measuring the floor in every
    round does not hand the measured implementations freshly mapped memory to fault in.
    """
    a, b, c = tensors if tensors is not None else tuple(torch.rand(shape, device=DEVICE) for _ in range(3))
    times = []
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        torch.add(a, b, out=c)
        _sync()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    bandwidth = 3 * a.numel() * 4 / seconds
    return bandwidth / 1e9, 6 * a.numel() * 4 / bandwidth * 1e3


def saved_bytes(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(storages.values())


def measure(shape: tuple[int, int, int], repeats: int, names: list[str] | None) -> dict:
    impls = peers()
    if names:
        impls = {k: v for k, v in impls.items() if k in names}
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g) * 0.6 + 0.35).to(DEVICE).requires_grad_()
    w = torch.randn(shape, generator=g).to(DEVICE)
    times: dict[str, list[float]] = {name: [] for name in impls}
    floors = []
    for fn in impls.values():  # warm-up
        (fn(x) * w).sum().backward()
    floor_tensors = tuple(torch.rand(shape, generator=g).to(DEVICE) for _ in range(3))
    for _ in range(repeats):
        floors.append(floor_ms(shape, 3, floor_tensors)[1])
        for name, fn in impls.items():
            x.grad = None
            _sync()
            start = time.perf_counter()
            (fn(x) * w).sum().backward()
            _sync()
            times[name].append((time.perf_counter() - start) * 1e3)
    floor = statistics.median(floors)
    rows = {}
    for name, fn in impls.items():
        ms = statistics.median(times[name])
        rows[name] = {"ms": ms, "x_floor": ms / floor, "saved_bytes_per_neuron_step": saved_bytes(fn, x) / x.numel()}
    fused = rows.get("bpsrm fused", {}).get("ms")
    if fused:
        for row in rows.values():
            row["x_bpsrm_fused"] = row["ms"] / fused
    return {"shape": list(shape), "floor_ms": floor, "results": rows}


FIXED_SHAPE = (4, 1, 8)


def fixed_cost(repeats: int, calls: int, names: list[str] | None = None) -> dict:
    """Per-call fixed cost (us) of each implementation: its tiny-shape forward + backward minus the harness's.

    Each round times ``calls`` calls of the harness (x * 1.0 in the neuron's place) and of every
    implementation, interleaved; the figure is the median over rounds of (implementation - harness)
    in the same round.
    """
    impls = peers()
    if names:
        impls = {k: v for k, v in impls.items() if k in names}
    # The harness with one native element-wise op in place of the neuron: what any op there costs.
    runs: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"harness": lambda x: x * 1.0, **impls}
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(FIXED_SHAPE, generator=g) * 0.6 + 0.35).to(DEVICE).requires_grad_()
    w = torch.randn(FIXED_SHAPE, generator=g).to(DEVICE)

    def per_call_us(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
        _sync()
        start = time.perf_counter()
        for _ in range(calls):
            x.grad = None
            (fn(x) * w).sum().backward()
        _sync()
        return (time.perf_counter() - start) / calls * 1e6

    for fn in runs.values():  # warm-up
        per_call_us(fn)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(per_call_us(fn))
    harness = times.pop("harness")
    rows = {
        name: {
            "us": statistics.median(t),
            "fixed_us": statistics.median(a - b for a, b in zip(t, harness, strict=True)),
            "rounds_us": t,
        }
        for name, t in times.items()
    }
    return {
        "shape": list(FIXED_SHAPE),
        "calls_per_round": calls,
        "harness_us": statistics.median(harness),
        "harness_rounds_us": harness,
        "results": rows,
    }


def sweep_fit(sweep: list[dict]) -> dict:
    """Least-squares line ms = intercept + slope * T through the T sweep, per implementation (in us)."""
    fits = {}
    names = set.intersection(*(set(entry["results"]) for entry in sweep)) if sweep else set()
    for name in sorted(names):
        steps = [entry["shape"][0] for entry in sweep]
        us = [entry["results"][name]["ms"] * 1e3 for entry in sweep]
        mean_t, mean_us = statistics.fmean(steps), statistics.fmean(us)
        slope = sum((t - mean_t) * (y - mean_us) for t, y in zip(steps, us, strict=True)) / sum(
            (t - mean_t) ** 2 for t in steps
        )
        fits[name] = {"intercept_us": mean_us - slope * mean_t, "slope_us_per_step": slope}
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to prove the script runs (CI)")
    parser.add_argument("--fixed-calls", type=int, default=300, help="calls per round of the fixed-cost measurement")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the GPU's name goes into the report)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.allocator == "tuned":
        tune_allocator()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    report = {
        "peers": versions(),
        "threads": torch.get_num_threads(),
        "environment": describe_environment(DEVICE),
        "allocator": allocator_state(),
        "main": None,
        "t_sweep": [],
        "t_sweep_fit": {},
        "fixed_cost": None,
    }
    fast = ["bpsrm fused", "bpsrm portable", "SpikingJelly LIFNode (m)", "snnTorch Synaptic"]
    if args.quick:  # every part of the report, at sizes that only prove the script runs
        report["main"] = measure((4, 2, 64), 2, None)
        sweep, sweep_shape, sweep_repeats = (2, 4, 8), (2, 64), 2
        fixed_rounds, fixed_calls = 3, 20
    else:
        report["main"] = measure((16, 64, 4096), args.repeats, None)
        sweep, sweep_shape, sweep_repeats = (4, 16, 64, 256, 1024), (16, 1024), max(3, args.repeats // 3)
        fixed_rounds, fixed_calls = args.repeats * 2 + 1, args.fixed_calls
    for steps in sweep:
        entry = measure((steps, *sweep_shape), sweep_repeats, fast)
        for row in entry["results"].values():
            row["us_per_step"] = row["ms"] * 1e3 / steps
        report["t_sweep"].append(entry)
    report["t_sweep_fit"] = sweep_fit(report["t_sweep"])
    report["fixed_cost"] = fixed_cost(fixed_rounds, fixed_calls)
    emit(report, args.out)


if __name__ == "__main__":
    main()
