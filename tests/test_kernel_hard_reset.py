"""The hard reset (reset="zero", BP-SRM.md sections 2.1 and 3.2) in the fused kernels: the C kernel and the Triton
kernel (through Triton's interpreter on CPU tensors, see tests/test_kernel_triton.py) against
:func:`bpsrm.neuron.functional.srm_reference` with ``reset="zero"`` in float64 (plain autograd through the
surrogates' primitives), fed the very values the kernel got: decays as leaves, taus a = exp(-1/tau) recovered
from them.

    I[t] = a_s I[t-1] + x[t],  V[t] = a_m (1 - o[t-1]) V[t-1] + I[t],  u[t] = V[t],  o[t] = H(u[t] - theta)

Every kernel, every surrogate with a kernel_id, detach_reset False and True, per-channel and scalar learnt
parameters: spikes equal, u and the gradients of x, a_s, a_m and theta to 1e-5 of the largest value in float32
and 1e-10 in float64; a_r and theta_r, unused, get exactly no gradient. Each draw keeps every u away from the
threshold (and from the rectangle's edges) so that no spike is decided by rounding. Then the dispatcher, the
finite check and torch.compile with reset="zero".
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from bpsrm import srm
from bpsrm.errors import NonFiniteError
from bpsrm.neuron import surrogate as surrogates
from bpsrm.neuron.functional import srm_decays, srm_reference
from bpsrm.neuron.kernels import cpu, gpu  # gpu imports without triton (gpu.available() is then False)
from bpsrm.neuron.params import KERNELS
from conftest import narrowed_surrogate

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ("a_s", "a_m", "a_r", "theta", "theta_r")
# Every registered surrogate that a kernel implements: one added to the registry is covered without a change here.
KERNEL_SURROGATES = [name for name, cls in surrogates.SURROGATES.items() if cls.kernel_id is not None]
CASES = list(itertools.product(KERNELS, KERNEL_SURROGATES, [False, True]))
HARD = cpu.RESET_IDS["zero"]

# The Triton kernels run on CPU tensors through the interpreter (conftest.py), or on a GPU when the suite is started
# with TRITON_INTERPRET=0 there (scripts/gpu_check.sh): _on_device then moves their tensors to CUDA and back, so
# every Triton case below runs unchanged on either.
ON_GPU = os.environ.get("TRITON_INTERPRET") == "0" and torch.cuda.is_available()
DEVICE = torch.device("cuda" if ON_GPU else "cpu")


def _move(value, device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_move(v, device) for v in value)
    return value


def _on_device(fn):
    """``fn`` with its tensor arguments on DEVICE and its tensor results back on the CPU (``fn`` itself without a
    GPU)."""
    if not ON_GPU:
        return fn

    def on_gpu(*args, **kwargs):
        result = fn(*_move(args, DEVICE), **{k: _move(v, DEVICE) for k, v in kwargs.items()})
        return _move(result, torch.device("cpu"))

    return on_gpu


HAVE_TRITON = gpu.available() and gpu.supports(torch.zeros(2, 3, device=DEVICE), surrogates.get_surrogate("sigmoid"))
needs_triton = pytest.mark.skipif(not HAVE_TRITON, reason="the Triton kernel's tests need triton (interpreter)")


def test_the_c_kernel_is_built_here() -> None:
    assert cpu.available(), cpu.unavailable_reason()


def test_the_triton_kernel_runs_here() -> None:
    """The dev extra installs triton and conftest sets TRITON_INTERPRET=1, so the Triton tests of this file and of
    test_kernel_triton.py run on CPU tensors: a broken install shows as this failure, not as skips."""
    assert HAVE_TRITON, "triton is missing or gpu.supports() refuses CPU tensors under TRITON_INTERPRET=1"


# --- draws and the reference ---------------------------------------------------------------------------------


def _draw(seed: int, shape: tuple[int, ...], param_shape: tuple[int, ...], dtype: torch.dtype):
    """x, the parameters (decays a = exp(-1/tau), taus in [1.2, 6.5]) and the loss weights, rounded to dtype."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 0.9 + 0.3
    params = {
        "a_s": torch.exp(-1.0 / (torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.2)),
        "a_m": torch.exp(-1.0 / (torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.5)),
        "a_r": torch.exp(-1.0 / (torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.2)),
        "theta": torch.rand(param_shape, generator=g, dtype=torch.float64) * 0.4 + 0.8,
        "theta_r": torch.rand(param_shape, generator=g, dtype=torch.float64) * 0.8 + 0.2,
    }
    w_o = torch.randn(shape, generator=g, dtype=torch.float64)
    w_u = torch.randn(shape, generator=g, dtype=torch.float64)
    return x.to(dtype), {k: v.to(dtype) for k, v in params.items()}, w_o.to(dtype), w_u.to(dtype)


def _taus(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        "tau_s": -1.0 / torch.log(p["a_s"]),
        "tau_m": -1.0 / torch.log(p["a_m"]),
        "tau_r": -1.0 / torch.log(p["a_r"]),
    }


def _margin_ok(ref_u, params, surrogate, margin) -> bool:
    """No reference u within ``margin`` of the threshold nor, for the rectangle, of its edges |u - theta| = w/2."""
    v = ref_u - params["theta"].double()
    if (v.abs() < margin).any():
        return False
    sg = surrogates.get_surrogate(surrogate)
    if sg.name == "rectangle":
        half = sg.width / 2
        return not bool(((v.abs() - half).abs() < margin).any())
    return True


def _case(seed, shape, param_shape, dtype, surrogate, kernel, margin):
    """The first draw from ``seed`` whose reference decides every spike with a margin, and fires (deterministic)."""
    for attempt in range(60):
        x, params, w_o, w_u = _draw(seed + 1000 * attempt, shape, param_shape, dtype)
        p = {k: v.double() for k, v in params.items()}
        spikes, u = srm_reference(x.double(), **_taus(p), theta=p["theta"], kernel=kernel, reset="zero")
        if _margin_ok(u, params, surrogate, margin) and 0.05 < spikes.mean().item() < 0.7:
            return x, params, w_o, w_u
    raise AssertionError("no draw keeps the spikes away from rounding; widen the search")


def _losses(w_o, w_u):
    return {
        "spikes": lambda s, u: (s * w_o).sum(),
        "u": lambda s, u: (u * w_u).sum(),
        "both": lambda s, u: (s * w_o).sum() + 0.3 * (u * w_u).sum(),
    }


def _names(kernel: str) -> list[str]:
    """The leaves whose gradients are compared: a_s only for dexp (alpha ties a_s to a_m, exp has none)."""
    return ["x"] + [k for k in PARAMS if k != "a_s" or kernel == "dexp"]


def _reference(x, params, kernel, surrogate, detach_reset, loss):
    """srm_reference(reset="zero") in float64 on the same values: (spikes, u, {name: gradient})."""
    xr = x.double().requires_grad_()
    leaves = {k: v.double().requires_grad_() for k, v in params.items()}
    spikes, u = srm_reference(
        xr,
        **_taus(leaves),
        theta=leaves["theta"],
        theta_r=leaves["theta_r"],
        kernel=kernel,
        surrogate=surrogate,
        detach_reset=detach_reset,
        reset="zero",
    )
    names = _names(kernel)
    tensors = [xr] + [leaves[k] for k in names[1:]]
    grads = torch.autograd.grad(loss(spikes, u), tensors, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors, strict=True)]
    return spikes.detach(), u.detach(), dict(zip(names, grads, strict=True))


def _fused(run, x, params, kernel, surrogate, detach_reset, loss):
    """A fused kernel through ``run(x, a_s, a_m, a_r, theta, theta_r, surrogate, detach_reset)``: like _reference."""
    xk = x.clone().requires_grad_()
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    a_s = None if kernel == "exp" else (leaves["a_m"] if kernel == "alpha" else leaves["a_s"])
    sg = surrogates.get_surrogate(surrogate)
    spikes, u = run(xk, a_s, leaves["a_m"], leaves["a_r"], leaves["theta"], leaves["theta_r"], sg, detach_reset)
    names = _names(kernel)
    tensors = [xk] + [leaves[k] for k in names[1:]]
    grads = torch.autograd.grad(loss(spikes, u), tensors, allow_unused=True)
    for name, g in zip(names, grads, strict=True):
        if name in ("a_r", "theta_r"):
            assert g is None or not g.any(), f"{name} is unused by the hard reset: no gradient"
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors, strict=True)]
    return spikes.detach(), u.detach(), dict(zip(names, grads, strict=True)), type(u.grad_fn).__name__


def _relative_error(value: torch.Tensor, ref: torch.Tensor) -> float:
    scale = ref.abs().max().item()
    err = (value.double() - ref).abs().max().item()
    return err / scale if scale > 0 else err


def _assert_matches(out, ref, tolerance):
    spikes, u, grads = out[:3]
    ref_spikes, ref_u, ref_grads = ref
    assert torch.equal(spikes.double(), ref_spikes), "spikes differ"
    assert _relative_error(u, ref_u) <= tolerance, ("u", _relative_error(u, ref_u))
    for name, ref_grad in ref_grads.items():
        g = grads[name]
        assert g.shape == ref_grad.shape, name
        if ref_grad.abs().max() == 0:  # a_r and theta_r always; theta with detach_reset and a loss on u only
            assert not g.any(), (name, g.abs().max())
        else:
            assert _relative_error(g, ref_grad) <= tolerance, (name, _relative_error(g, ref_grad))


def _c_kernel(x, a_s, a_m, a_r, theta, theta_r, sg, detach_reset):
    """The C kernel through the dispatcher (backend="fused" on a CPU tensor: srm_decays picks "c")."""
    return srm_decays(x, a_s, a_m, a_r, theta, theta_r, sg, detach_reset, "fused", True, "zero")


if HAVE_TRITON:
    # The library's own context and backward (cpu.fused_function) over the Triton kernels with blocks of 16
    # neurons, so that every call spans several programs with a masked tail.
    _TritonSmallBlocks = cpu.fused_function(
        "TritonSmallBlocks",
        _on_device(functools.partial(gpu.triton_forward, block=16)),
        _on_device(functools.partial(gpu.triton_backward, block=16)),
        __name__,
        "gpu.SRMFusedGPU with block=16.",
    )


def _triton_kernel(x, a_s, a_m, a_r, theta, theta_r, sg, detach_reset):
    return _TritonSmallBlocks.apply(x, a_s, a_m, a_r, theta, theta_r, sg.kernel_id, sg.width, detach_reset, True, HARD)


BACKENDS = {
    "c": pytest.param(_c_kernel, id="c"),
    "triton": pytest.param(_triton_kernel, id="triton", marks=needs_triton),
}
GRAD_FN = {_c_kernel: "SRMFusedCPUBackward", _triton_kernel: "TritonSmallBlocksBackward"}


# --- every kernel, surrogate and mode against the reference -------------------------------------------------


@pytest.mark.parametrize("run", BACKENDS.values())
@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
def test_every_kernel_surrogate_and_mode_equals_the_reference(run, kernel, surrogate, detach_reset) -> None:
    """float32 with per-channel parameters (period 24 over 48 neurons), then float64 with scalar ones; a loss on
    spikes and u; every gradient to 1e-5 (float32) and 1e-10 (float64) of the largest value."""
    seed = CASES.index((kernel, surrogate, detach_reset))
    surrogate = narrowed_surrogate(surrogate)  # a width other than the default: the kernel must read it
    for dtype, param_shape, margin, tolerance in (
        (torch.float32, (24,), 1e-4, 1e-5),
        (torch.float64, (), 1e-9, 1e-10),
    ):
        x, params, w_o, w_u = _case(seed, (6, 2, 24), param_shape, dtype, surrogate, kernel, margin)
        loss = _losses(w_o, w_u)["both"]
        out = _fused(run, x, params, kernel, surrogate, detach_reset, loss)
        assert out[3] == GRAD_FN[run]
        ref = _reference(x, params, kernel, surrogate, detach_reset, _losses(w_o.double(), w_u.double())["both"])
        _assert_matches(out, ref, tolerance)


@pytest.mark.parametrize("run", BACKENDS.values())
@pytest.mark.parametrize("loss_on", ["spikes", "u"])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_gradient_on_spikes_only_or_u_only(run, detach_reset, loss_on) -> None:
    """grad_u or grad_spikes None; float32 scalar parameters, per-neuron ones (period 13 over 39 neurons)."""
    for index, (kernel, param_shape) in enumerate(itertools.product(KERNELS, [(), (13,)])):
        surrogate = narrowed_surrogate(KERNEL_SURROGATES[index % len(KERNEL_SURROGATES)])
        x, params, w_o, w_u = _case(300 + index, (7, 3, 13), param_shape, torch.float32, surrogate, kernel, 1e-4)
        loss = _losses(w_o, w_u)[loss_on]
        out = _fused(run, x, params, kernel, surrogate, detach_reset, loss)
        ref = _reference(x, params, kernel, surrogate, detach_reset, _losses(w_o.double(), w_u.double())[loss_on])
        _assert_matches(out, ref, 1e-5)


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
def test_c_lean_backward_equals_the_reference(kernel, surrogate, detach_reset) -> None:
    """Training's case, the C kernel's lean loop: Python-number parameters (the plan's SRMFusedConstants), only x
    learnt, a loss on the spikes only; float32 to 1e-5 and float64 to 1e-10, two blocks of neurons and a tail."""
    seed = 500 + CASES.index((kernel, surrogate, detach_reset))
    sg = narrowed_surrogate(surrogate)  # a width other than the default: the kernel must read it
    options = {"tau_s": 1.7, "tau_m": 3.6, "theta": 0.95, "kernel": kernel, "surrogate": sg}
    options |= {"detach_reset": detach_reset, "reset": "zero"}
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.float64, 1e-10)):
        g = torch.Generator().manual_seed(seed)
        x = (torch.randn(8, 2, 1100, generator=g, dtype=torch.float64) * 0.9 + 0.3).to(dtype)
        w = torch.randn(8, 2, 1100, generator=g, dtype=torch.float64).to(dtype)
        with torch.no_grad():
            _, ref_u = srm_reference(x.double(), **options)
        keep = (ref_u - 0.95).abs() >= 1e-6 * (1 if dtype == torch.float64 else 100)
        if surrogate == "rectangle":
            keep &= ((ref_u - 0.95).abs() - sg.width / 2).abs() >= 1e-4
        columns = keep.all(0).all(0)  # neurons whose every spike is decided with a margin
        assert columns.sum() > 1000
        x, w = x[..., columns], w[..., columns]
        xf = x.clone().requires_grad_()
        spikes, u = srm(xf, **options)
        assert type(u.grad_fn).__name__ == "SRMFusedConstantsBackward"
        (grad,) = torch.autograd.grad((spikes * w).sum(), [xf])
        xr = x.double().requires_grad_()
        ref_spikes, ref_u = srm_reference(xr, **options)
        (ref,) = torch.autograd.grad((ref_spikes * w.double()).sum(), [xr])
        assert torch.equal(spikes.double(), ref_spikes)
        assert _relative_error(u, ref_u) <= tolerance
        assert _relative_error(grad, ref) <= tolerance


@pytest.mark.parametrize("backend", ["c", pytest.param("triton", marks=needs_triton)])
def test_grad_x_only_and_a_m_without_x(backend) -> None:
    """Only x learnt: no parameter gradient is computed. V = u: the gradients of a_m and theta need no x (a_s's
    does); a_r and theta_r get none even when asked."""
    x, params, w_o, _ = _case(41, (8, 3, 11), (), torch.float32, "sigmoid", "dexp", 1e-4)
    ref = _reference(x, params, "dexp", "sigmoid", False, lambda s, u: (s * w_o.double()).sum())
    xk = x.clone().requires_grad_()
    run = _c_kernel if backend == "c" else _triton_kernel
    spikes, u = run(xk, *params.values(), surrogates.get_surrogate("sigmoid"), False)
    (grad,) = torch.autograd.grad((spikes * w_o).sum(), [xk])
    assert torch.equal(spikes.double(), ref[0])
    assert _relative_error(grad, ref[2]["x"]) <= 1e-5
    if backend == "c":
        kernel = cpu.fused_backward
    else:
        kernel = _on_device(functools.partial(gpu.triton_backward, block=16))
    params_t = tuple(params.values())
    grad_x, grads = kernel(None, u.detach(), w_o, None, params_t, 0, 4.0, False, [False, True, True, True, True], HARD)
    assert grads[0] is None and grads[2] is None and grads[4] is None
    torch.testing.assert_close(grad_x, grad, rtol=0, atol=0)
    assert _relative_error(grads[1], ref[2]["a_m"]) <= 1e-5
    assert _relative_error(grads[3], ref[2]["theta"]) <= 1e-5
    _, none = kernel(None, u.detach(), w_o, None, params_t, 0, 4.0, False, [False] * 5, HARD)
    assert none == [None] * 5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_kernel_on_several_threads_and_blocks_equals_the_reference(dtype) -> None:
    """8 x 8 x 1100 neuron-steps with per-neuron parameters: several blocks per row, two threads, each
    reducing its own tau gradients."""
    x, params, w_o, w_u = _draw(99, (8, 8, 1100), (1100,), dtype)
    loss = _losses(w_o, w_u)["both"]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        out = _fused(_c_kernel, x, params, "dexp", "atan", False, loss)
    finally:
        torch.set_num_threads(before)
    ref = _reference(x, params, "dexp", "atan", False, _losses(w_o.double(), w_u.double())["both"])
    near = ((ref[1] - params["theta"].double()).abs() < 1e-4).any(0).any(0)  # neurons with a spike on the edge
    assert near.float().mean() < 0.1
    assert torch.equal(out[0].double()[..., ~near], ref[0][..., ~near])
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    assert _relative_error(out[1], ref[1]) <= tolerance
    assert _relative_error(out[2]["x"][..., ~near], ref[2]["x"][..., ~near]) <= tolerance
    for name, grad in ref[2].items():  # the per-neuron tau and theta gradients, each thread's reduction
        if name != "x" and grad.abs().max() > 0:
            assert _relative_error(out[2][name][~near], grad[~near]) <= tolerance, name
    assert ref[2]["a_s"].abs().max() > 0 and ref[2]["theta"].abs().max() > 0  # the reductions were checked


# --- the dispatcher -------------------------------------------------------------------------------------------


def test_the_dispatcher_sends_reset_zero_to_the_c_kernel() -> None:
    x = torch.rand(6, 2, 5) * 1.5
    tau_m = torch.tensor(3.0, requires_grad=True)
    grad_fn = {
        "numbers": srm(x.clone().requires_grad_(), reset="zero")[1].grad_fn,
        "tensor": srm(x, tau_m=tau_m, reset="zero")[1].grad_fn,
        "fused": srm(x, tau_m=tau_m, reset="zero", backend="fused")[1].grad_fn,
        "portable": srm(x, tau_m=tau_m, reset="zero", backend="portable")[1].grad_fn,
    }
    names = {k: type(v).__name__ for k, v in grad_fn.items()}
    assert names == {
        "numbers": "SRMFusedConstantsBackward",
        "tensor": "SRMFusedCPUBackward",
        "fused": "SRMFusedCPUBackward",
        "portable": "SRMHardResetFunctionBackward",
    }
    # the plan of a Python-number call is keyed by its reset: the subtractive call of the same numbers differs
    soft, hard = srm(x, tau_m=2.0), srm(x, tau_m=2.0, reset="zero")
    assert not torch.equal(soft[1], hard[1])
    torch.testing.assert_close(hard[1], srm_reference(x.double(), tau_m=2.0, reset="zero")[1].float())


TRITON_STEP = """
import json, torch
from bpsrm import srm
from bpsrm.neuron.functional import srm_reference
torch.manual_seed(0)
out = {}
x = (torch.randn(5, 2, 6) * 0.8 + 0.5).requires_grad_()
tau_m = torch.tensor(3.0, requires_grad=True)
w = torch.randn(5, 2, 6)
spikes, u = srm(x, tau_m=tau_m, surrogate="atan", reset="zero")
out["grad_fn"] = type(u.grad_fn).__name__
g = torch.autograd.grad((spikes * w).sum() + u.square().sum(), [x, tau_m])
xr, tr = x.detach().double().requires_grad_(), tau_m.detach().double().requires_grad_()
rs, ru = srm_reference(xr, tau_m=tr, surrogate="atan", reset="zero")
gr = torch.autograd.grad((rs * w.double()).sum() + ru.square().sum(), [xr, tr])
out["spikes_equal"] = bool(torch.equal(spikes.double(), rs)) and bool(spikes.any())
out["u_error"] = float((u.detach() - ru.detach()).abs().max() / ru.detach().abs().max())
out["grad_errors"] = [float((a - b).abs().max() / b.abs().max()) for a, b in zip(g, gr)]
plan_u = srm(x.detach().clone().requires_grad_(), tau_m=3.0, surrogate="atan", reset="zero")[1]
out["plan_grad_fn"] = type(plan_u.grad_fn).__name__
compiled = torch.compile(lambda t, tau: srm(t, tau_m=tau, surrogate="atan", reset="zero")[1], fullgraph=True)
xc, tc = x.detach().clone().requires_grad_(), tau_m.detach().clone().requires_grad_()
gc = torch.autograd.grad((compiled(xc, tc) * w).sum(), [xc, tc])
xe, te = x.detach().clone().requires_grad_(), tau_m.detach().clone().requires_grad_()
ge = torch.autograd.grad((srm(xe, tau_m=te, surrogate="atan", reset="zero")[1] * w).sum(), [xe, te])
out["compiled_grad_error"] = max(float((a - b).abs().max()) for a, b in zip(gc, ge))
print(json.dumps(out))
"""


@needs_triton
def test_with_bpsrm_kernel_triton_srm_sends_reset_zero_to_the_triton_kernel() -> None:
    """BPSRM_KERNEL=triton (read at import: a fresh process): srm with tensor and with Python-number parameters
    runs SRMFusedGPU with reset="zero", equals the reference, and torch.compile (the custom ops running the
    Triton kernel) gives the eager gradients."""
    env = {**os.environ, "BPSRM_KERNEL": "triton", "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", TRITON_STEP], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["grad_fn"] == out["plan_grad_fn"] == "SRMFusedGPUBackward"
    assert out["spikes_equal"]
    assert out["u_error"] <= 1e-5 and max(out["grad_errors"]) <= 1e-5
    assert out["compiled_grad_error"] == 0.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_fused_and_portable_agree_through_srm(kernel) -> None:
    """srm(..., reset="zero") with learnt tensor taus and theta: backend="fused" equals backend="portable"."""
    g = torch.Generator().manual_seed(KERNELS.index(kernel))
    x = torch.randn(9, 3, 4, generator=g, dtype=torch.float64) * 0.9 + 0.45
    taus = [torch.rand(4, generator=g, dtype=torch.float64) * 4 + 1.5 for _ in range(3)]
    theta = torch.rand(4, generator=g, dtype=torch.float64) * 0.4 + 0.8
    w = torch.randn(x.shape, generator=g, dtype=torch.float64)
    results = []
    for backend in ("fused", "portable"):
        leaves = [t.clone().requires_grad_() for t in (x, *taus, theta)]
        xs, tau_s, tau_m, tau_r, th = leaves
        spikes, u = srm(
            xs, tau_s=tau_s, tau_m=tau_m, tau_r=tau_r, theta=th, kernel=kernel, reset="zero", backend=backend
        )
        grads = torch.autograd.grad((spikes * w).sum() + (u * w).sum(), leaves, allow_unused=True)
        results.append(
            [spikes, u, *(torch.zeros_like(t) if gr is None else gr for gr, t in zip(grads, leaves, strict=True))]
        )
    assert results[0][0].any()
    assert not results[0][5].any()  # tau_r: unused
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_the_c_kernel_checks_its_reset_mode_and_needs_x_only_for_a_s() -> None:
    x = torch.randn(3, 6, dtype=torch.float64)
    u, out, grad = torch.empty_like(x), torch.empty_like(x), torch.ones_like(x)
    one = torch.tensor(0.5, dtype=torch.float64)
    buffer = torch.zeros(1, 6, dtype=torch.float64)
    forward, backward = cpu._KERNELS[torch.float64]

    def args(**changes):
        a = cpu.KernelArgs(x=x.data_ptr(), u=u.data_ptr(), spikes=out.data_ptr(), grad_spikes=grad.data_ptr())
        a.grad_x, a.T, a.M, a.P, a.threads, a.width, a.reset = grad.data_ptr(), 3, 6, 6, 1, 4.0, HARD
        for name in PARAMS:
            setattr(a, name, one.data_ptr())
        for name, value in changes.items():
            setattr(a, name, value)
        return a

    assert forward(args()) == 0 and backward(args()) == 0
    assert forward(args(reset=2)) == -2 and backward(args(reset=-1)) == -2
    assert backward(args(x=None, grad_a_m=buffer.data_ptr())) == 0  # V = u: a_m's gradient needs no x
    assert backward(args(x=None, grad_a_s=buffer.data_ptr())) == -2
    assert backward(args(x=None, grad_a_m=buffer.data_ptr(), reset=0)) == -2  # the subtractive one does


# --- the finite check -----------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")  # numpy, interpreter
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("backend", ["c", pytest.param("triton", marks=needs_triton)])
def test_a_non_finite_input_raises(backend, bad) -> None:
    """NaN never fires and stays in V; +Inf fires, and (a_m 0) Inf is NaN the step after: the last u tells."""
    x = torch.rand(6, 3, 21) + 0.2
    x[2, 1, 3] = bad
    params = (None, *(torch.tensor(v) for v in (0.8, 0.7, 1.0, 1.0)))
    if backend == "c":
        run = functools.partial(cpu.fused_forward, reset=HARD)
    else:
        run = _on_device(functools.partial(gpu.triton_forward, reset=HARD, block=16))
    with pytest.raises(NonFiniteError, match=r"holds 1 NaN or Inf value\(s\), the first x\[2, 1, 3\]"):
        run(x, *params)
    _, u = run(x, *params, check_finite=False)
    assert not torch.isfinite(u[-1, 1, 3]) and torch.isfinite(u[:, 0]).all()
    if backend == "c":
        with pytest.raises(NonFiniteError):
            srm(x, reset="zero", backend="fused")
        with pytest.raises(NonFiniteError):
            srm(x.double().requires_grad_(), tau_m=torch.tensor(2.0, dtype=torch.float64), reset="zero")


# --- torch.compile --------------------------------------------------------------------------------------------


def test_compiled_srm_with_reset_zero_equals_eager() -> None:
    """Under torch.compile the C kernel runs as the custom ops with reset="zero": values and every gradient
    (x, per-channel taus and theta) equal eager mode's."""
    g = torch.Generator().manual_seed(8)
    x = torch.randn(7, 3, 9, generator=g) * 0.9 + 0.4
    leaves = {
        "tau_s": torch.rand(9, generator=g) * 4 + 1.5,
        "tau_m": torch.rand(9, generator=g) * 4 + 2.0,
        "theta": torch.rand(9, generator=g) * 0.3 + 0.8,
    }
    w_o, w_u = torch.randn(2, 7, 3, 9, generator=g)

    def loss(xr, tau_s, tau_m, theta):
        spikes, u = srm(xr, tau_s=tau_s, tau_m=tau_m, theta=theta, surrogate="triangle", reset="zero")
        return (spikes * w_o).sum() + 0.3 * (u * w_u).sum()

    results = []
    for fn in (loss, torch.compile(loss, fullgraph=True)):
        inputs = [x.clone().requires_grad_(), *(v.clone().requires_grad_() for v in leaves.values())]
        value = fn(*inputs)
        results.append((value.detach(), *torch.autograd.grad(value, inputs)))
    for eager, compiled in zip(*results, strict=True):
        assert eager.abs().max() > 0
        torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)


# --- the Triton kernels compile for a GPU ---------------------------------------------------------------------


@needs_triton
def test_the_hard_reset_triton_kernels_compile_for_a_gpu_without_fma() -> None:
    """Outside the interpreter: the HARD variants compile for sm_90 (no GPU needed), without fused multiply-add."""
    pytest.importorskip("triton.backends.nvidia", reason="triton without its CUDA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    code = """
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource, compile
        from bpsrm.neuron.kernels import gpu

        assert gpu.available(), gpu.unavailable_reason()
        tl = gpu.tl

        def source(fn, acc, constants):
            signature = {}
            for name in fn.arg_names:
                if name in constants:
                    signature[name] = "constexpr"
                elif name == "flag_ptr":
                    signature[name] = "*i32"
                elif name in ("gas_ptr", "gam_ptr", "gar_ptr", "gth_ptr", "gthr_ptr"):
                    signature[name] = "*fp32"
                elif name.endswith("_ptr"):
                    signature[name] = "*fp32"
                else:
                    signature[name] = "i64" if name == "LAST" else "i32"
            return ASTSource(fn, signature, constants)

        layout = dict(HAS_AS=True, S_AS=1, S_AM=0, S_AR=0, S_TH=1, S_THR=0, MOD=True, BLOCK=128, HARD=True)
        needs = dict(NEED_AS=True, NEED_AM=True, NEED_AR=False, NEED_TH=True, NEED_THR=False)
        variants = [(gpu._srm_forward_kernel, dict(layout, CHECK=True))]
        for detach in (False, True):
            grads = dict(HAS_GO=True, HAS_GU=True, DETACH=detach, KIND=1, W=2.0)
            variants.append((gpu._srm_backward_kernel, dict(layout, **needs, **grads)))
        for fn, constants in variants:
            kernel = compile(source(fn, tl.float32, dict(constants, ACC=tl.float32)), target=GPUTarget("cuda", 90, 32),
                             options={"num_warps": 4, "enable_fp_fusion": False})
            assert kernel.asm["cubin"], fn.__name__
            assert "fma.rn.f32" not in kernel.asm["ptx"], (fn.__name__, constants)
        print("ok", len(variants))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-3000:]
