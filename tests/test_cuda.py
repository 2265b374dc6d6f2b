"""Training on a GPU end to end (issue 21): these run only where torch sees a CUDA device, and skip with that
reason elsewhere (CI has none; the kernel itself is tested on CPU tensors through Triton's interpreter in
test_kernel_triton.py and test_gpu_path.py). scripts/gpu_check.sh runs them on a lent GPU.

Each check runs in a subprocess with TRITON_INTERPRET=0, so the Triton kernel goes through Triton's compiler
to the GPU whatever this test process was started with (conftest.py sets the interpreter for the CPU tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False here)"
)

REPO = Path(__file__).resolve().parents[1]
BPSRM = Path(sys.executable).with_name("bpsrm")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BPSRM_KERNEL", "TRITON_INTERPRET")}
    return {**env, "TRITON_INTERPRET": "0", "OMP_NUM_THREADS": "2", **extra}


def _python(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=_env(), timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_srm_on_a_cuda_tensor_runs_the_triton_kernel_and_equals_the_reference() -> None:
    """Every kernel, reset and surrogate with a kernel id, learnt per-channel taus and thresholds: u and every
    gradient against srm_reference in float64 on the CPU, to 1e-5 of the largest value, and the spikes equal (draws
    keep every u 1e-4 away from its threshold, so no spike is decided by rounding; none such is an error)."""
    out = _python(
        """
        import json, torch
        from bpsrm.neuron.functional import srm, srm_reference
        from bpsrm.neuron.surrogate import SURROGATES
        from bpsrm.neuron.params import KERNELS
        worst, kinds, case = 0.0, set(), 0
        for kernel, reset in [(k, r) for k in KERNELS for r in ("subtract", "zero")]:
            for name, cls in SURROGATES.items():
                if cls.kernel_id is None:
                    continue
                for detach in (False, True):
                    for attempt in range(50):  # a draw whose every spike is decided with a margin, not by rounding
                        case += 1
                        g = torch.Generator().manual_seed(case)
                        x = torch.randn(12, 8, 3, 5, 5, generator=g) * 0.8 + 0.3
                        taus = [torch.rand(3, 1, 1, generator=g) * 4 + 1.5 for _ in range(3)]
                        theta = torch.rand(3, 1, 1, generator=g) * 0.4 + 0.8
                        _, u64 = srm_reference(x.double(), tau_s=taus[0].double(), tau_m=taus[1].double(),
                                               tau_r=taus[2].double(), theta=theta.double(), kernel=kernel,
                                               reset=reset)
                        if (u64 - theta.double()).abs().min() > 1e-4:
                            break
                    else:
                        raise AssertionError(f"no draw in 50 keeps u 1e-4 from theta: {kernel}, {reset}, {name}")
                    w = torch.randn(x.shape, generator=g)
                    results = []
                    for device, dtype in (("cuda", torch.float32), ("cpu", torch.float64)):
                        leaves = [t.to(device, dtype).requires_grad_() for t in [x, *taus, theta]]
                        fn = srm if device == "cuda" else srm_reference
                        spikes, u = fn(leaves[0], tau_s=leaves[1], tau_m=leaves[2], tau_r=leaves[3], theta=leaves[4],
                                       kernel=kernel, surrogate=name, detach_reset=detach, reset=reset)
                        if device == "cuda":
                            kinds.add(type(u.grad_fn).__name__)
                        loss = (spikes * w.to(device, dtype)).sum() + 0.1 * (u * w.to(device, dtype)).square().sum()
                        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
                        results.append([spikes.detach().cpu().double(), u.detach().cpu().double()] + [
                            torch.zeros_like(t).cpu().double() if gr is None else gr.cpu().double()
                            for gr, t in zip(grads, leaves)])
                    for got, ref in zip(*results):
                        scale = float(ref.abs().max()) or 1.0
                        worst = max(worst, float((got - ref).abs().max()) / scale)
        print(json.dumps({"worst": worst, "functions": sorted(kinds)}))
        """
    )
    assert out["functions"] == ["SRMFusedGPUBackward"]
    assert out["worst"] <= 1e-5, out


def test_rate_coding_and_event_drops_on_the_gpu_follow_the_cpu_generator_that_checkpoints_keep() -> None:
    """A resumed run restores the CPU generator only: rate-coded spikes and dropped events on the GPU must depend on
    it alone (they came from the GPU's own generator before, so a resumed GPU run drew other ones)."""
    out = _python(
        """
        import json, torch
        from bpsrm.network.augment import drop_events
        from bpsrm.network.encoding import rate
        x = torch.rand(4, 300, device="cuda")
        counts = torch.randint(0, 6, (4, 300), device="cuda").float()
        result = {}
        for name, draw in (("rate", lambda: rate(x, 5)), ("drop", lambda: drop_events(counts, 0.3))):
            saved = torch.get_rng_state()  # what a checkpoint keeps (torch.manual_seed would reseed the GPU too)
            first = draw()
            torch.cuda.manual_seed_all(99)  # the GPU's own generator moved, as in a new process: no effect
            torch.set_rng_state(saved)
            again = draw()
            other = draw()
            result[name] = [bool(torch.equal(first, again)), not torch.equal(first, other)]
        print(json.dumps(result))
        """
    )
    assert out == {"rate": [True, True], "drop": [True, True]}


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_bpsrm_train_on_cuda_in_each_precision(precision: str, tmp_path: Path) -> None:
    """`bpsrm train` with train.device: cuda on the bundled demo data learns (chance is 10%), writes its run
    folder, and resumes from last.pt on the GPU (a larger train.epochs extends the run)."""
    config = tmp_path / "cuda.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            experiment: cuda-{precision}
            seed: 0
            data: {{name: fashion-mnist-demo, limit_train: 640, limit_test: 200}}
            model: {{spec: 16C3-TCN-SRM-MP2-32C3-TCN-SRM-MP2-FC10, time_steps: 4}}
            optim: {{lr: 0.005}}
            train: {{epochs: 2, batch_size: 64, device: cuda, precision: {precision}}}
            log: {{progress: false}}
            """
        )
    )
    run = tmp_path / "run"
    first = subprocess.run(
        [str(BPSRM), "train", "--out", str(run), str(config)], capture_output=True, text=True, env=_env(), timeout=600
    )
    assert first.returncode == 0, first.stderr[-4000:]
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.4
    more = subprocess.run(
        [str(BPSRM), "train", "--out", str(run), "--resume", str(config), "train.epochs=3"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert more.returncode == 0, more.stderr[-4000:]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP with nccl needs two CUDA devices (one rank each)")
def test_two_ranks_with_nccl_equal_one_process(tmp_path: Path) -> None:
    """torchrun with two GPUs (nccl) ends with the weights of one process on the same global batch."""
    torchrun = Path(sys.executable).with_name("torchrun")
    config = tmp_path / "ddp.yaml"
    config.write_text(
        "experiment: ddp\nseed: 1\ndata: {name: fashion-mnist-demo, limit_train: 256, limit_test: 64}\n"
        "model: {spec: 8C3-TCN-SRM-MP4-FC10, time_steps: 2}\noptim: {name: sgd, lr: 0.05}\n"
        "train: {epochs: 1, batch_size: 64, device: cuda}\nlog: {progress: false}\n"
    )
    one = subprocess.run(
        [str(BPSRM), "train", "--out", str(tmp_path / "one"), str(config)], capture_output=True, text=True, env=_env()
    )
    assert one.returncode == 0, one.stderr[-4000:]
    launcher = [str(torchrun)] if torchrun.exists() else [shutil.which("torchrun") or "torchrun"]
    two = subprocess.run(
        [
            *launcher,
            "--standalone",
            "--nproc_per_node=2",
            str(BPSRM),
            "train",
            "--out",
            str(tmp_path / "two"),
            str(config),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-4000:]
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=True, map_location="cpu")["model"]
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=True, map_location="cpu")["model"]
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
