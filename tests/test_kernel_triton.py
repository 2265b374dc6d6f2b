"""The Triton kernel (bpsrm.neuron.kernels.gpu) against the plain reference, through Triton's interpreter.

conftest.py sets TRITON_INTERPRET=1 before triton is imported, so the kernels run on CPU tensors here, with
the same code that runs on a GPU (the interpreter executes each program instance with numpy). The oracle is
always :func:`bpsrm.neuron.functional.srm_reference` in float64 (plain autograd through the surrogates'
primitives), fed the very values the kernel got (decays as leaves, taus a = exp(-1/tau) recovered from them).
Shapes are small (T <= 8, <= ~100 neurons) and ``block`` is small, so that every call still spans several
programs with a masked tail, and parameter periods that do not line up with the blocks.

On a machine with a GPU, ``TRITON_INTERPRET=0 pytest tests/test_kernel_triton.py`` runs the same cases on CUDA
tensors through Triton's compiler (scripts/gpu_check.sh does); the reference stays on the CPU in float64.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("triton", reason="the Triton kernel's tests need triton (pip install triton)")

import torch

from bpsrm.errors import NonFiniteError
from bpsrm.neuron import surrogate as surrogates
from bpsrm.neuron.functional import srm_reference
from bpsrm.neuron.kernels import gpu
from bpsrm.neuron.params import KERNELS
from conftest import narrowed_surrogate

# Every registered surrogate: one added to the registry is covered without a change here.
SURROGATES = list(surrogates.SURROGATES)
PARAMS = ("a_s", "a_m", "a_r", "theta", "theta_r")
ROOT = Path(__file__).resolve().parents[1]
# Where the kernels run: CPU tensors through the interpreter (conftest.py's default), or CUDA tensors when the
# suite is started with TRITON_INTERPRET=0.
ON_GPU = os.environ.get("TRITON_INTERPRET") == "0"
if ON_GPU and not torch.cuda.is_available():
    pytest.skip(
        "TRITON_INTERPRET=0 asks for the kernels on a GPU, but torch sees no CUDA device", allow_module_level=True
    )
DEVICE = torch.device("cuda" if ON_GPU else "cpu")


def _on(*tensors):
    """The tensors on DEVICE (None stays None)."""
    return tuple(None if t is None else t.to(DEVICE) for t in tensors)


class _TritonSRM(torch.autograd.Function):
    """triton_forward / triton_backward bound as an autograd.Function, the way a dispatcher binds the C kernel
    (bpsrm.neuron.kernels.cpu.setup_context / backward): saves u, and x only when a_s or a_m needs a gradient."""

    @staticmethod
    def forward(ctx: Any, x, a_s, a_m, a_r, theta, theta_r, surrogate, detach_reset, check_finite, block):  # type: ignore[override]
        spikes, u = gpu.triton_forward(x, a_s, a_m, a_r, theta, theta_r, check_finite, block=block)
        needs = ctx.needs_input_grad
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u, x if (needs[1] or needs[2]) else None, a_s, a_m, a_r, theta, theta_r)
        ctx.surrogate, ctx.detach_reset, ctx.block = surrogate, detach_reset, block
        return spikes, u

    @staticmethod
    def backward(ctx: Any, grad_spikes, grad_u):  # type: ignore[override]
        u, x, *params = ctx.saved_tensors
        needs = ctx.needs_input_grad
        sg = ctx.surrogate
        grad_x, grads = gpu.triton_backward(
            x,
            u,
            grad_spikes,
            grad_u,
            tuple(params),
            sg.kernel_id,
            sg.width,
            ctx.detach_reset,
            needs[1:6],
            block=ctx.block,
        )
        return (grad_x if needs[0] else None, *grads, None, None, None, None)


def _draw(seed: int, shape: tuple[int, ...], param_shape: tuple[int, ...], dtype: torch.dtype):
    """x, the parameters (decays a = exp(-1/tau) from taus in [1.2, 6.5]) and the loss weights, rounded to dtype."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 0.9 + 0.25
    tau = {
        "a_s": torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.2,
        "a_m": torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.5,
        "a_r": torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.2,
    }
    params = {name: torch.exp(-1.0 / t) for name, t in tau.items()}
    params["theta"] = torch.rand(param_shape, generator=g, dtype=torch.float64) * 0.4 + 0.8
    params["theta_r"] = torch.rand(param_shape, generator=g, dtype=torch.float64) * 0.8 + 0.2
    w_o = torch.randn(shape, generator=g, dtype=torch.float64)
    w_u = torch.randn(shape, generator=g, dtype=torch.float64)
    return x.to(dtype), {k: v.to(dtype) for k, v in params.items()}, w_o.to(dtype), w_u.to(dtype)


def _reference(x, params, kernel, surrogate, detach_reset, loss):
    """srm_reference in float64 on the same values: (spikes, u, {name: gradient}) of x and each learnt parameter
    (a_s only for dexp; for alpha the one decay a_m gets both lines, as the reference ties a_s = a_m)."""
    xr = x.double().requires_grad_()
    leaves = {k: v.double().requires_grad_() for k, v in params.items()}
    spikes, u = srm_reference(
        xr,
        tau_s=-1.0 / torch.log(leaves["a_s"]),
        tau_m=-1.0 / torch.log(leaves["a_m"]),
        tau_r=-1.0 / torch.log(leaves["a_r"]),
        theta=leaves["theta"],
        theta_r=leaves["theta_r"],
        kernel=kernel,
        surrogate=surrogate,
        detach_reset=detach_reset,
    )
    names = ["x"] + [k for k in PARAMS if k != "a_s" or kernel == "dexp"]
    tensors = [xr] + [leaves[k] for k in names[1:]]
    grads = torch.autograd.grad(loss(spikes, u), tensors, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors, strict=True)]
    return spikes.detach(), u.detach(), dict(zip(names, grads, strict=True))


def _triton(x, params, kernel, surrogate, detach_reset, loss, block, check_finite=True):
    """The kernel through _TritonSRM: (spikes, u, {name: gradient}) like :func:`_reference`."""
    xk = x.to(DEVICE, copy=True).requires_grad_()
    leaves = {k: v.to(DEVICE, copy=True).requires_grad_() for k, v in params.items()}
    a_s = None if kernel == "exp" else (leaves["a_m"] if kernel == "alpha" else leaves["a_s"])
    sg = surrogates.get_surrogate(surrogate)
    spikes, u = _TritonSRM.apply(
        xk, a_s, leaves["a_m"], leaves["a_r"], leaves["theta"], leaves["theta_r"], sg, detach_reset, check_finite, block
    )
    spikes, u = spikes.cpu(), u.cpu()  # the loss weights live on the CPU; autograd carries the gradient back
    names = ["x"] + [k for k in PARAMS if k != "a_s" or kernel == "dexp"]
    tensors = [xk] + [leaves[k] for k in names[1:]]
    grads = torch.autograd.grad(loss(spikes, u), tensors, allow_unused=True)
    grads = [torch.zeros_like(t).cpu() if g is None else g.cpu() for g, t in zip(grads, tensors, strict=True)]
    return spikes.detach(), u.detach(), dict(zip(names, grads, strict=True))


def _margin_ok(ref_u, params, surrogate, margin):
    """No reference u within ``margin`` of the threshold (a spike decided by rounding) nor, for the rectangle,
    of its edges |u - theta| = w/2 (where sg' jumps)."""
    v = ref_u - params["theta"].double()
    if (v.abs() < margin).any():
        return False
    sg = surrogates.get_surrogate(surrogate)
    if sg.name == "rectangle":
        half = sg.width / 2
        return not bool(((v.abs() - half).abs() < margin).any())
    return True


def _case(seed, shape, param_shape, dtype, surrogate, kernel, margin):
    """The first draw from ``seed`` on whose reference every spike is decided with a margin (deterministic)."""
    for attempt in range(60):
        x, params, w_o, w_u = _draw(seed + 1000 * attempt, shape, param_shape, dtype)
        with torch.no_grad():
            _, ref_u = _reference_forward(x, params, kernel, surrogate)
        if _margin_ok(ref_u, params, surrogate, margin):
            return x, params, w_o, w_u
    raise AssertionError("no draw keeps the spikes away from rounding; widen the search")


def _reference_forward(x, params, kernel, surrogate):
    """(spikes, u) of srm_reference in float64 on the same values, without gradients."""
    p = {k: v.double() for k, v in params.items()}
    spikes, u = srm_reference(
        x.double(),
        tau_s=-1.0 / torch.log(p["a_s"]),
        tau_m=-1.0 / torch.log(p["a_m"]),
        tau_r=-1.0 / torch.log(p["a_r"]),
        theta=p["theta"],
        theta_r=p["theta_r"],
        kernel=kernel,
        surrogate=surrogate,
    )
    return spikes, u


def _losses(w_o, w_u):
    """The three upstream-gradient cases: on the spikes only, on u only (grad_spikes None), on both."""
    return {
        "spikes": lambda s, u: (s * w_o).sum(),
        "u": lambda s, u: (u * w_u).sum(),
        "both": lambda s, u: (s * w_o).sum() + 0.3 * (u * w_u).sum(),
    }


def _relative_error(value: torch.Tensor, ref: torch.Tensor) -> float:
    """max |value - ref| / max |ref| (the reference is float64)."""
    scale = ref.abs().max().item()
    err = (value.double() - ref).abs().max().item()
    return err / scale if scale > 0 else err


def _assert_matches(kernel_out, ref_out, tolerance, grad_tolerance):
    spikes, u, grads = kernel_out
    ref_spikes, ref_u, ref_grads = ref_out
    assert torch.equal(spikes.double(), ref_spikes), "spikes differ"
    assert _relative_error(u, ref_u) <= tolerance, ("u", _relative_error(u, ref_u))
    for name, ref in ref_grads.items():
        g = grads[name]
        assert g.shape == ref.shape, name
        if ref.abs().max() == 0:  # e.g. theta with detach_reset and a loss on u only: exactly no gradient
            assert not g.any(), (name, g.abs().max())
        else:
            assert _relative_error(g, ref) <= grad_tolerance, (name, _relative_error(g, ref))


# --- float32 and float64 against the reference -------------------------------------------------------------

CASES = list(itertools.product(KERNELS, SURROGATES, [False, True]))


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
def test_every_kernel_surrogate_and_mode_equals_the_reference(kernel, surrogate, detach_reset) -> None:
    """float32, per-channel learnt parameters (period 24 over 48 neurons, blocks of 16: a block spans two rows),
    gradients of x and all five parameters, loss on spikes and u, to 1e-5 relative to the largest value."""
    if surrogates.SURROGATES[surrogate].kernel_id is None:
        assert not gpu.supports(torch.zeros(2, 3, device=DEVICE), surrogates.get_surrogate(surrogate))
        pytest.skip(f"{surrogate} has no kernel: the dispatcher uses the portable path")
    seed = CASES.index((kernel, surrogate, detach_reset))
    surrogate = narrowed_surrogate(surrogate)  # a width other than the default: the kernel must read it
    x, params, w_o, w_u = _case(seed, (6, 2, 24), (24,), torch.float32, surrogate, kernel, 1e-4)
    loss = _losses(w_o, w_u)["both"]
    loss64 = _losses(w_o.double(), w_u.double())["both"]
    out = _triton(x, params, kernel, surrogate, detach_reset, loss, block=16)
    ref = _reference(x, params, kernel, surrogate, detach_reset, loss64)
    _assert_matches(out, ref, 1e-5, 1e-5)


@pytest.mark.parametrize("loss_on", ["spikes", "u", "both"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("kernel", KERNELS)
def test_gradient_on_spikes_only_u_only_or_both_with_scalar_parameters(kernel, detach_reset, loss_on) -> None:
    """0-d learnt parameters (reduced per program in the kernel, then on the host); grad_spikes or grad_u None."""
    index = KERNELS.index(kernel) * 6 + detach_reset * 3 + ["spikes", "u", "both"].index(loss_on)
    surrogate = SURROGATES[index % len(SURROGATES)]
    x, params, w_o, w_u = _case(100 + index, (7, 3, 13), (), torch.float32, surrogate, kernel, 1e-4)
    loss = _losses(w_o, w_u)[loss_on]
    loss64 = _losses(w_o.double(), w_u.double())[loss_on]
    out = _triton(x, params, kernel, surrogate, detach_reset, loss, block=16)
    ref = _reference(x, params, kernel, surrogate, detach_reset, loss64)
    _assert_matches(out, ref, 1e-5, 1e-5)


@pytest.mark.parametrize(
    ("shape", "param_shape"),
    [
        ((5, 2, 3, 4, 4), (3, 1, 1)),  # per channel of a conv map: period C*H*W = 48 over 96 neurons
        ((5, 4, 7), (4, 1)),  # varies over the first dimension of x[0]: materialised over all neurons
        ((4, 2, 3, 5), (2, 3, 1)),  # two dimensions
        ((1, 2, 40), (40,)),  # T = 1
        ((8, 1, 1), ()),  # one neuron
    ],
)
def test_parameter_layouts_equal_the_reference(shape, param_shape) -> None:
    """Parameters broadcast against x[0] as cpu._layout lays them out; gradients summed back to their shapes."""
    x, params, w_o, w_u = _case(7, shape, param_shape, torch.float32, "atan", "dexp", 1e-4)
    loss = _losses(w_o, w_u)["both"]
    out = _triton(x, params, "dexp", "atan", False, loss, block=32)
    ref = _reference(x, params, "dexp", "atan", False, _losses(w_o.double(), w_u.double())["both"])
    _assert_matches(out, ref, 1e-5, 1e-5)
    for name, g in out[2].items():
        assert g.shape == (x.shape if name == "x" else params[name].shape), name


@pytest.mark.parametrize("kernel", KERNELS)
def test_float64_equals_the_reference_to_1e_10(kernel) -> None:
    """float64 x: the state is float64 too."""
    x, params, w_o, w_u = _case(31, (6, 2, 20), (20,), torch.float64, "exponential", kernel, 1e-9)
    loss = _losses(w_o, w_u)["both"]
    out = _triton(x, params, kernel, "exponential", False, loss, block=16)
    ref = _reference(x, params, kernel, "exponential", False, loss)
    _assert_matches(out, ref, 1e-10, 1e-10)


def test_only_x_learnt_runs_the_lean_backward() -> None:
    """No parameter gradient (needs all False): the gradients not asked for are None, grad_x equals the reference."""
    x, params, w_o, _ = _case(41, (8, 3, 11), (), torch.float32, "sigmoid", "dexp", 1e-4)
    xk = x.to(DEVICE, copy=True).requires_grad_()
    on_device = _on(*params.values())
    spikes, u = _TritonSRM.apply(xk, *on_device, surrogates.get_surrogate("sigmoid"), False, True, 16)
    (grad,) = torch.autograd.grad((spikes.cpu() * w_o).sum(), [xk])
    ref = _reference(x, params, "dexp", "sigmoid", False, lambda s, u: (s * w_o.double()).sum())
    assert torch.equal(spikes.cpu().double(), ref[0])
    assert _relative_error(grad.cpu(), ref[2]["x"]) <= 1e-5
    (w_dev,) = _on(w_o)
    _, grads = gpu.triton_backward(None, u.detach(), w_dev, None, on_device, 0, 4.0, False, [False] * 5)
    assert grads == [None] * 5


def test_a_strided_input_and_the_default_block() -> None:
    """x as a transposed view is read in time-major order; the default block (one program here) works too."""
    base, params, w_o, w_u = _case(51, (3, 6, 10), (10,), torch.float32, "triangle", "alpha", 1e-4)
    x = base.transpose(0, 1)  # [6, 3, 10], not contiguous
    loss = _losses(w_o.transpose(0, 1), w_u.transpose(0, 1))["both"]
    loss64 = _losses(w_o.transpose(0, 1).double(), w_u.transpose(0, 1).double())["both"]
    assert not x.is_contiguous()
    with torch.no_grad():
        _, ref_u = _reference_forward(x, params, "alpha", "triangle")
    assert _margin_ok(ref_u, params, "triangle", 1e-4)
    out = _triton(x, params, "alpha", "triangle", True, loss, block=None)
    ref = _reference(x, params, "alpha", "triangle", True, loss64)
    _assert_matches(out, ref, 1e-5, 1e-5)


def test_empty_inputs() -> None:
    """No neuron or no step: nothing to run; empty outputs, zero parameter gradients of the parameters' shapes."""
    params = _on(torch.full((3,), 0.6), torch.tensor(0.8), torch.tensor(0.7), torch.tensor(1.0), torch.tensor(1.0))
    for shape in ((4, 0, 3), (0, 2, 3)):
        x = torch.zeros(shape, device=DEVICE)
        spikes, u = gpu.triton_forward(x, *params)
        assert spikes.shape == u.shape == x.shape
        grad_x, grads = gpu.triton_backward(x, u, torch.ones_like(u), None, params, 0, 4.0, False, [True] * 5)
        assert grad_x.shape == x.shape
        assert [g.shape for g in grads] == [p.shape for p in params]  # type: ignore[union-attr]
        assert all(not g.any() for g in grads)  # type: ignore[union-attr]


# --- float16 and bfloat16 ------------------------------------------------------------------------------------

# Unit roundoff r of the storage type (half an ulp at 1): x, u, the gradients and the parameters are rounded to it.
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
# The rounding of one float32 -> storage cast, in units of r: to nearest (r) on a GPU and for float16 here;
# Triton's interpreter (these tests) truncates float32 -> bfloat16 (its cast_impl), up to one ulp (2 r).
CAST_ERROR = {torch.float16: 1.0, torch.bfloat16: 2.0}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_against_the_reference_of_the_same_rounded_values(dtype, kernel) -> None:
    """x, the parameters and the upstream gradients are rounded to the half type; the reference runs in float64
    on exactly those values. The kernel's state is float32, so it departs from the reference only by

    * u, stored rounded once (c r, c = CAST_ERROR): |u - ref| <= c r |ref| + ~1e-6 (float32), so u is checked
      to 1.01 c r relative to max |u|;
    * the gradients: the backward reads that rounded u, so each sg'(u - theta) moves by up to
      Lip(sg') c r |u| (atan, a = 2: Lip ~ 2.1, |u| <= ~6 here), carried through <= 6 steps of the linear
      recursion, and each gradient, summed in float32, is rounded once more at the end (c r). Over the sums
      these errors partly cancel; measured worst over these cases (Triton's interpreter): 2.4 r (float16,
      alpha), 4.3 r (bfloat16, truncating). Checked to 3 r and 6 r relative to the largest gradient: above
      every measured case, and far below an error of the method (a wrong sign or a missing term moves a
      gradient by O(1)). A backward whose state were float16 instead of float32 reaches 3.7 r (alpha) here,
      so the float16 bound also tells that apart, if narrowly.

    Spikes are equal: the draws keep every u at least 3 r |theta| away from the threshold (beyond the cast).
    """
    r = UNIT_ROUNDOFF[dtype]
    seed = 60 + KERNELS.index(kernel) + 10 * (dtype == torch.bfloat16)
    x, params, w_o, w_u = _case(seed, (6, 2, 9), (9,), dtype, "atan", kernel, 3 * r * 1.2)
    loss = _losses(w_o, w_u)["both"]
    out = _triton(x, params, kernel, "atan", False, loss, block=16)
    ref = _reference(x, params, kernel, "atan", False, _losses(w_o.double(), w_u.double())["both"])
    spikes, u, grads = out
    assert spikes.dtype == u.dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())
    _assert_matches(out, ref, 1.01 * CAST_ERROR[dtype] * r, (3 if dtype == torch.float16 else 6) * r)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_spikes_fire_on_the_stored_u(dtype) -> None:
    """spikes == (u >= theta) holds on the outputs (u as stored), so the backward's recomputed spikes are the
    forward's own, whatever the rounding."""
    x, params, _, _ = _draw(70, (8, 4, 16), (16,), dtype)
    spikes, u = gpu.triton_forward(*_on(x, *(params[k] for k in PARAMS)))
    spikes, u = spikes.cpu(), u.cpu()
    assert torch.equal(spikes, (u >= params["theta"]).to(dtype))
    assert spikes.any() and not spikes.all()


def test_float16_spikes_fire_when_the_stored_u_rounds_up_to_the_threshold() -> None:
    """Membranes just below theta = 1 whose float16 rounding is 1.0 fire: the spike is decided on u as stored
    (the float64 reference of the same inputs, below 1, would not fire there); spikes == (u >= theta) holds."""
    a_m = torch.tensor(0.6, dtype=torch.float16)
    ulp = 2.0**-11  # float16's spacing in [0.5, 1)
    x0 = torch.tensor([0.7, 0.71, 0.72, 0.73], dtype=torch.float64).to(torch.float16)
    steps = torch.arange(-8, 8, dtype=torch.float64) * ulp
    x1 = (1.0 - a_m.double() * x0.double())[:, None] + steps  # u[1] = a_m x[0] + x[1] sweeps across 1
    x = torch.stack([x0[:, None].double().expand(4, 16), x1]).to(torch.float16)  # [2, 4, 16]
    params = (None, a_m, *(torch.tensor(v, dtype=torch.float16) for v in (0.5, 1.0, 1.0)))
    spikes, u = (t.cpu() for t in gpu.triton_forward(*_on(x, *params), block=16))
    ref_spikes, ref_u = srm_reference(x.double(), tau_m=-1.0 / torch.log(a_m.double()), kernel="exp", theta=1.0)
    assert torch.equal(spikes, (u >= 1.0).to(torch.float16))
    rounded_up = (ref_u < 1.0) & (u == 1.0)
    assert rounded_up.any(), "the sweep must hit a membrane that rounds up to the threshold"
    assert (spikes[rounded_up] == 1).all() and (ref_spikes[rounded_up] == 0).all()
    assert torch.equal(spikes[~rounded_up].double(), ref_spikes[~rounded_up])


# --- the finite check ----------------------------------------------------------------------------------------


def _scalars(dtype=torch.float32):
    return tuple(torch.tensor(v, dtype=dtype, device=DEVICE) for v in (0.6, 0.8, 0.7, 1.0, 1.0))


def test_check_finite_raises_for_a_nan_or_inf_input() -> None:
    x = torch.rand(5, 3, 7, device=DEVICE) * 0.5
    x[2, 1, 3] = float("nan")
    x[4, 0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"holds 2 NaN or Inf value\(s\), the first x\[2, 1, 3\]"):
        gpu.triton_forward(x, *_scalars(), block=16)
    _, u = gpu.triton_forward(x, *_scalars(), check_finite=False, block=16)  # let through
    assert torch.isnan(u[-1, 1, 3]) and not torch.isfinite(u[-1, 0, 0])
    clean = torch.rand(5, 3, 7, device=DEVICE) * 0.5  # 21 neurons in blocks of 16: the masked tail lanes raise nothing
    gpu.triton_forward(clean, *_scalars(), block=16)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # numpy, in the interpreter
def test_check_finite_raises_when_a_float16_membrane_overflows() -> None:
    """x finite, but u beyond float16's range (65504) is stored as Inf: the check sees the stored u."""
    x = torch.full((6, 5), 3.0e4, dtype=torch.float16, device=DEVICE)
    with pytest.raises(NonFiniteError, match="x is finite, but a membrane potential ended NaN or Inf"):
        gpu.triton_forward(x, *_scalars(torch.float16))


# --- what the module accepts, and without triton ------------------------------------------------------------


def test_supports() -> None:
    sg = surrogates.get_surrogate("sigmoid")
    assert os.environ.get("TRITON_INTERPRET") == ("0" if ON_GPU else "1")  # conftest.py, or the GPU check
    assert gpu.available(), gpu.unavailable_reason()
    assert gpu.unavailable_reason() is None
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        assert gpu.supports(torch.zeros(2, 3, dtype=dtype, device=DEVICE), sg)
    assert not gpu.supports(torch.zeros(2, 3, dtype=torch.int32, device=DEVICE), sg)
    assert not gpu.supports(torch.zeros((), dtype=torch.float32, device=DEVICE), sg)
    assert gpu.supports(torch.zeros(2, 3), sg) == (not ON_GPU)  # CPU tensors only through the interpreter
    for name, cls in surrogates.SURROGATES.items():
        assert gpu.supports(torch.zeros(2, 3, device=DEVICE), cls()) == (cls.kernel_id is not None), name
        assert gpu.KERNEL_SURROGATES.get(cls.kernel_id) == name  # type: ignore[arg-type]

    @dataclass(frozen=True)
    class SteeperSigmoid(surrogates.Sigmoid):  # inherits kernel_id 0 but is not the registered class
        name: ClassVar[str] = "sigmoid"

        def derivative(self, v: torch.Tensor) -> torch.Tensor:
            return 2.0 * super().derivative(2.0 * v)

    assert not gpu.supports(torch.zeros(2, 3, device=DEVICE), SteeperSigmoid())


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_the_module_imports_and_refuses_cleanly_without_triton() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = _run_python(
        """
        import sys
        sys.modules["triton"] = None  # import triton now raises ImportError
        import torch
        from bpsrm.neuron.kernels import gpu
        from bpsrm.neuron.surrogate import Sigmoid
        assert not gpu.available()
        assert "triton cannot be imported" in gpu.unavailable_reason()
        assert not gpu.supports(torch.zeros(3, 2), Sigmoid())
        try:
            gpu.triton_forward(torch.zeros(3, 2), None, *[torch.tensor(0.5)] * 4)
        except RuntimeError as exc:
            assert "triton cannot be imported" in str(exc)
        else:
            raise AssertionError("no error")
        print("ok")
        """,
        env,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_the_backward_reaches_a_last_step_past_2_31_elements_with_64_bit_addresses() -> None:
    """Triton passes an int argument below 2**31 as an i32. The backward starts at the last step, offset
    LAST = (T-1) M: with M = 32 * 64 * 224 * 224 neurons and T = 21, LAST is 2,055,208,960 (an i32) while LAST + M
    passes 2**31, so LAST + offs in i32 wrapped to negative offsets (-2,136,997,891 for the last neuron) and read
    and wrote 2**32 elements too low. Compiled for sm_90 as Triton specialises these sizes at run time (no GPU
    needed), the i32 LAST may only be a scalar pointer's offset (tt.addptr, 64-bit addresses), never an operand of
    i32 arithmetic on the neurons' offsets."""
    pytest.importorskip("triton.backends.nvidia", reason="triton without its CUDA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = _run_python(
        r"""
        import re
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource, compile
        from triton.runtime.jit import mangle_type
        from bpsrm.neuron.kernels import gpu

        assert gpu.available(), gpu.unavailable_reason()
        tl = gpu.tl
        neurons, steps = 32 * 64 * 224 * 224, 21
        sizes = {"T": steps, "M": neurons, "P": neurons, "LAST": (steps - 1) * neurons}
        assert sizes["LAST"] < 2**31 < sizes["LAST"] + neurons and mangle_type(sizes["LAST"]) == "i32"
        for hard in (False, True):
            constants = dict(HAS_AS=True, S_AS=0, S_AM=0, S_AR=0, S_TH=0, S_THR=0, MOD=False, BLOCK=128,
                             HAS_GO=True, HAS_GU=True, DETACH=False, KIND=0, W=4.0, NEED_AS=True, NEED_AM=True,
                             NEED_AR=not hard, NEED_TH=True, NEED_THR=not hard, ACC=tl.float32, HARD=hard)
            signature = {}
            for name in gpu._srm_backward_kernel.arg_names:
                if name in constants:
                    signature[name] = "constexpr"
                elif name.endswith("_ptr"):
                    signature[name] = "*fp32"
                else:
                    signature[name] = mangle_type(sizes[name])
            kernel = compile(ASTSource(gpu._srm_backward_kernel, signature, constants),
                             target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
            uses = [line.strip() for line in kernel.asm["ttir"].splitlines()
                    if re.search(r"%LAST\b", line) and "tt.func" not in line]
            assert uses, "LAST unused?"
            scalar = r"%\w+ = tt\.addptr %\w+_ptr, %LAST : !tt\.ptr<f32>, i32"
            wrong = [line for line in uses if not re.match(scalar, line)]
            assert not wrong, wrong
        print("ok")
        """,
        env,
    )
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout[-2000:] + result.stderr[-3000:]


def test_a_step_of_more_neurons_than_int32_offsets_reach_is_refused() -> None:
    """The neurons' offsets pid * BLOCK + arange(BLOCK) are i32: the last program's reach M rounded up to a whole
    block, so M may be at most 2**31 - BLOCK (2**31 - 1 let the last block's offsets pass 2**31)."""
    from bpsrm.neuron.kernels import gpu

    gpu._check_neurons(2**31 - 128, 128)
    gpu._check_neurons(2**31 - 1024, 1024)
    for neurons, block in ((2**31 - 127, 128), (2**31 - 1, 16), (2**31 - 1023, 1024)):
        with pytest.raises(ValueError, match=f"{neurons} neurons per step; at most 2\\*\\*31 - {block}"):
            gpu._check_neurons(neurons, block)


def test_a_first_call_inside_torch_compile_traces_in_one_graph() -> None:
    """Triton was imported by the first call's gpu.supports(); when that call was inside torch.compile, Dynamo
    could not trace triton's import (getenv_bool): a graph break, and fullgraph=True raised. The import now comes
    with bpsrm's where the kernel will be used (here BPSRM_KERNEL=triton); the compiled call's spikes must be the
    plain reference's."""
    pytest.importorskip("triton")
    env = {**os.environ, "BPSRM_KERNEL": "triton", "TRITON_INTERPRET": "1"}
    result = _run_python(
        """
        import torch
        import bpsrm
        from bpsrm.neuron.functional import srm_reference

        x = torch.rand(6, 5, generator=torch.Generator().manual_seed(0)) * 2
        compiled = torch.compile(lambda t: bpsrm.srm(t, tau_m=2.5)[0], fullgraph=True, backend="aot_eager")
        spikes = compiled(x)
        reference = srm_reference(x.double(), tau_m=2.5)[0].float()
        assert torch.equal(spikes, reference) and spikes.sum() > 0, (spikes, reference)
        print("ok")
        """,
        env,
    )
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-3000:]


def test_the_kernels_compile_for_a_gpu_without_fma() -> None:
    """Outside the interpreter the kernels go through Triton's compiler: compile representative variants for
    sm_90 (no GPU needed) and check that the float32 code has no fused multiply-add (enable_fp_fusion=False:
    the products and sums round as in srm_cpu.c and the reference)."""
    pytest.importorskip("triton.backends.nvidia", reason="triton without its CUDA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = _run_python(
        """
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource, compile
        from bpsrm.neuron.kernels import gpu

        assert gpu.available(), gpu.unavailable_reason()
        tl = gpu.tl

        def source(fn, storage, acc, constants):
            signature = {}
            for name in fn.arg_names:
                if name in constants:
                    signature[name] = "constexpr"
                elif name == "flag_ptr":
                    signature[name] = "*i32"
                elif name in ("gas_ptr", "gam_ptr", "gar_ptr", "gth_ptr", "gthr_ptr"):
                    signature[name] = "*fp64" if acc == tl.float64 else "*fp32"
                elif name.endswith("_ptr"):
                    signature[name] = "*" + storage
                else:
                    signature[name] = "i64" if name == "LAST" else "i32"
            return ASTSource(fn, signature, constants)

        layout = dict(HAS_AS=True, S_AS=1, S_AM=0, S_AR=1, S_TH=0, S_THR=1, MOD=True, BLOCK=128)
        variants = [
            (gpu._srm_forward_kernel, "fp32", tl.float32, dict(layout, CHECK=True)),
            (gpu._srm_forward_kernel, "fp16", tl.float32, dict(layout, HAS_AS=False, CHECK=True)),
            (gpu._srm_forward_kernel, "fp64", tl.float64, dict(layout, CHECK=False)),
        ]
        for kind in range(6):
            needs = dict(NEED_AS=True, NEED_AM=True, NEED_AR=True, NEED_TH=True, NEED_THR=True)
            grads = dict(HAS_GO=True, HAS_GU=kind % 2 == 0, DETACH=kind == 3, KIND=kind, W=2.0)
            variants.append((gpu._srm_backward_kernel, "fp32", tl.float32, dict(layout, **needs, **grads)))
        lean = dict(NEED_AS=False, NEED_AM=False, NEED_AR=False, NEED_TH=False, NEED_THR=False)
        variants.append((gpu._srm_backward_kernel, "bf16", tl.float32, dict(layout, **lean, HAS_GO=True,
                         HAS_GU=False, DETACH=False, KIND=0, W=4.0)))
        ones = dict(layout, MOD=False, S_AS=0, S_AR=0, S_THR=0, T=1, M=1, P=1)  # triton makes an int of 1 a constant
        variants.append((gpu._srm_forward_kernel, "fp32", tl.float32, dict(ones, CHECK=True)))
        variants.append((gpu._srm_backward_kernel, "fp32", tl.float32, dict(ones, **needs, **grads, LAST=0)))
        for fn, storage, acc, constants in variants:
            kernel = compile(source(fn, storage, acc, dict(constants, ACC=acc)), target=GPUTarget("cuda", 90, 32),
                             options={"num_warps": 4, "enable_fp_fusion": False})
            ptx = kernel.asm["ptx"]
            assert kernel.asm["cubin"], fn.__name__
            if acc == tl.float32:
                assert "fma.rn.f32" not in ptx, (fn.__name__, constants)
        print("ok", len(variants))
        """,
        env,
    )
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-3000:]
