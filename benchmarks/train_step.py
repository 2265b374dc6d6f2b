"""Training step of the Fashion-MNIST network: bpsrm beside the same architecture with SpikingJelly and
snnTorch neurons, samples/s and peak memory, in one run; with ``--inference``, the evaluation forward instead.

    python benchmarks/train_step.py [--allocator tuned|default] [--steps 20] [--quick] [--device cpu|cuda]
                                    [--inference] [--out FILE]

Network: 32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-FC128-SRM-FC10 at T = 4, batch 64,
direct encoding, AdamW, cross-entropy; random Fashion-MNIST-sized inputs.
How each build maps the architecture:
- "bpsrm": bpsrm.build_model (TCN, SRM neurons with the fused kernel, a
  membrane readout); "bpsrm (BN)": the same with folded BatchNorm;
- "SpikingJelly": the same time-folded Conv/BatchNorm/pool/Linear layers with
  SpikingJelly's LIFNode (multi-step, soft reset, sigmoid surrogate) as the neuron;
- "snnTorch": the same layers with snnTorch's Synaptic neuron (subtract reset) looped over T.
The peers' neurons and how each maps onto the SRM: benchmarks/peers.py. Peer readouts average the last
Linear layer's output over T (bpsrm's readout is its membrane), and their norm is PyTorch's BatchNorm, so the
like-for-like row is "bpsrm (BN)"; "bpsrm" has TCN and bpsrm's C pooling and norm kernels.
With --inference every build is in eval mode and runs its forward alone under torch.no_grad() (running
statistics, no argmax kept) on a batch of 256, what `bpsrm eval` and `bpsrm predict` do; no memory figures.
Time: every build runs interleaved, medians of --steps steps. Peak memory:
each build runs alone in a child process; "peak RSS" is its peak resident
memory minus that before the model was built, under the same allocator set-up
as the timing (glibc keeps freed memory, so this includes what the heap holds
on to); "peak live" is the same figure with glibc made to return every block
above 64 KiB at once (mallopt M_MMAP_THRESHOLD), so that it follows the
tensors alive at the worst moment of a step. On CUDA (--device cuda) every step is bracketed by
torch.cuda.synchronize(), SpikingJelly uses its CuPy backend where it has one, and the peak memory is
torch.cuda.max_memory_allocated over each build's steps (the GPU's name goes into the report).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F
from peers import snntorch_synaptic, spikingjelly_lif, versions
from report import emit
from torch import nn

from bpsrm import build_model
from bpsrm.environment import describe_environment
from bpsrm.network.encoding import direct
from bpsrm.network.layers import TimeFolded
from bpsrm.runtime import allocator_state, tune_allocator

SPEC = "32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-FC128-SRM-FC10"
T, BATCH, INFERENCE_BATCH = 4, 64, 256
BUILDS = ["bpsrm", "bpsrm (BN)", "SpikingJelly", "snnTorch"]
DEVICE = torch.device("cpu")  # --device
INFERENCE = False  # --inference


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


class PeerNet(nn.Module):
    """Time-folded layers with a peer's neuron: neuron_factory() -> module [T, B, ...] -> spikes."""

    def __init__(self, neuron_factory) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            TimeFolded(nn.Conv2d(1, 32, 3, padding=1, bias=False)),
            TimeFolded(nn.BatchNorm2d(32)),
            neuron_factory(),
            TimeFolded(nn.MaxPool2d(2)),
            TimeFolded(nn.Conv2d(32, 64, 3, padding=1, bias=False)),
            TimeFolded(nn.BatchNorm2d(64)),
            neuron_factory(),
            TimeFolded(nn.MaxPool2d(2)),
            TimeFolded(nn.Flatten()),
            TimeFolded(nn.Linear(64 * 7 * 7, 128)),
            neuron_factory(),
            TimeFolded(nn.Linear(128, 10)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).mean(0)


def make(name: str) -> nn.Module:
    if name == "bpsrm":
        return build_model(SPEC, (1, 28, 28), time_steps=T)
    if name == "bpsrm (BN)":
        return build_model(SPEC.replace("TCN", "BN"), (1, 28, 28), time_steps=T)
    if name == "SpikingJelly":
        return PeerNet(lambda: spikingjelly_lif(DEVICE))
    if name == "snnTorch":
        return PeerNet(lambda: snntorch_synaptic(DEVICE))
    raise ValueError(name)


def step_fn(model: nn.Module):
    """One training step of ``model`` on fixed random inputs (with --inference: one evaluation forward)."""
    model = model.to(DEVICE)
    g = torch.Generator().manual_seed(0)
    batch = INFERENCE_BATCH if INFERENCE else BATCH
    images = torch.rand(batch, 1, 28, 28, generator=g).to(DEVICE)
    labels = torch.randint(0, 10, (batch,), generator=g).to(DEVICE)
    if INFERENCE:
        model.eval()

        def forward() -> None:
            with torch.no_grad():
                model(direct(images, T))

        return forward
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = F.cross_entropy(model(direct(images, T)), labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmHWM: peak RSS; VmRSS: current), in MiB.

    (getrusage's ru_maxrss is no good here: a child started by a large parent inherits its figure.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _return_freed_blocks() -> None:
    """glibc: serve every block above 64 KiB with mmap, so that freeing it returns it at once."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD; a fixed value also stops glibc from raising it


def child(name: str, steps: int, allocator: str) -> None:
    """Peak memory of one build, alone in this process."""
    if allocator == "tuned":
        tune_allocator()
    elif allocator == "live":
        _return_freed_blocks()
    torch.rand(1)
    base = _status_mb("VmRSS")
    step = step_fn(make(name))
    for _ in range(steps):
        step()
    print(json.dumps({"peak_mb": _status_mb("VmHWM") - base}))


def _gpu_peaks(step, steps: int) -> dict[str, float]:
    """The peak of allocated GPU memory (MiB) over up to 5 more steps of one build, above what it held before
    them (its weights and optimiser state): one figure for every column."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(DEVICE)
    base = torch.cuda.memory_allocated(DEVICE)
    for _ in range(min(steps, 5)):
        step()
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated(DEVICE) - base) / 2**20
    return {"tuned": peak, "default": peak, "live": peak}


def _cpu_peaks(names: list[str], modes: tuple[str, ...], steps: int) -> dict[str, dict[str, float]]:
    """Peak memory of every build under every allocator mode, each alone in a child process; the children run
    side by side (each measures its own process only), after the timing."""

    def measure(name: str, mode: str) -> float:
        command = [sys.executable, __file__, "--child", name, "--child-allocator", mode, "--steps", str(steps)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]

    jobs = [(name, mode) for name in names for mode in modes]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        figures = list(pool.map(lambda job: measure(*job), jobs))
    peaks: dict[str, dict[str, float]] = {name: {} for name in names}
    for (name, mode), peak in zip(jobs, figures, strict=True):
        peaks[name][mode] = peak
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--quick", action="store_true", help="two steps each, the memory of bpsrm alone: proves the script runs (CI)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-allocator", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--inference", action="store_true", help="time the evaluation forward, not a training step")
    args = parser.parse_args()
    global DEVICE, INFERENCE, INFERENCE_BATCH
    DEVICE = torch.device(args.device)
    INFERENCE = args.inference
    if args.quick:
        INFERENCE_BATCH = BATCH  # the quick run proves the script runs; its figures are not reported
    steps = 2 if args.quick else args.steps
    if args.child:
        child(args.child, min(steps, 5), args.child_allocator or args.allocator)
        return
    if args.allocator == "tuned":
        tune_allocator()
    builds = {}
    for name in BUILDS:
        try:
            builds[name] = step_fn(make(name))
        except ImportError as exc:
            print(f"{name} left out: {exc}")
    for step in builds.values():  # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in builds}
    for _ in range(steps):
        for name, step in builds.items():
            _sync()
            start = time.perf_counter()
            step()
            _sync()
            times[name].append(time.perf_counter() - start)
    rows = {}
    batch = INFERENCE_BATCH if INFERENCE else BATCH
    measure_memory = not INFERENCE
    # --quick proves that the memory children run with bpsrm's build alone (2 children, not 8: each imports torch
    # and the peers, a minute of the test suite); its figures are not reported
    memory_builds = [name for name in builds if name == "bpsrm" or not args.quick]
    cpu_peaks = (
        _cpu_peaks(memory_builds, (args.allocator, "live"), steps) if measure_memory and DEVICE.type == "cpu" else {}
    )
    for name in builds:
        ms = statistics.median(times[name]) * 1e3
        rows[name] = {"ms_per_step": ms, "samples_per_second": batch / ms * 1e3}
        if measure_memory and name in memory_builds:
            peaks = _gpu_peaks(builds[name], steps) if DEVICE.type == "cuda" else cpu_peaks[name]
            rows[name].update(peak_rss_mb=peaks[args.allocator], peak_live_mb=peaks["live"])
    best_peer = min((rows[n]["ms_per_step"] for n in ("SpikingJelly", "snnTorch") if n in rows), default=None)
    if best_peer:
        for row in rows.values():
            row["speed_vs_faster_peer"] = best_peer / row["ms_per_step"]
    for key in ("peak_rss_mb", "peak_live_mb") if measure_memory else ():
        least_peer = min((rows[n][key] for n in ("SpikingJelly", "snnTorch") if key in rows.get(n, {})), default=None)
        if least_peer:
            for row in rows.values():
                row[key.replace("_mb", "_vs_leaner_peer")] = row[key] / least_peer
    report = {
        "mode": "inference" if INFERENCE else "training",
        "spec": SPEC,
        "T": T,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "environment": describe_environment(DEVICE),
        "peers": versions(),
        "allocator": allocator_state(),
        "results": rows,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
