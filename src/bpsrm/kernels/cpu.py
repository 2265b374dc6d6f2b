"""The fused CPU kernel: ctypes bindings and its autograd.Function.

The C library (``srm_cpu.c``, built at install time) runs the forward of the
iterative SRM and the BP-SRM backward of BP-SRM.md sections 2-3 in compiled
loops: time outside, blocks of contiguous neurons inside (SIMD), blocks shared
among threads. It saves only u for the backward (the spikes are recomputed as
``u >= theta``, the forward's own test on the same floats), and x only when a
synaptic or membrane time constant needs a gradient; the tau gradients are
reduced inside the kernel.

``available()`` tells whether the library was built; when it was not (no C
compiler at install time), :func:`bpsrm.functional.srm` uses the portable path.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..surrogate import SURROGATES, Surrogate

__all__ = ["available", "SRMFusedCPU", "library_path"]

_SURROGATE_IDS = {"sigmoid": 0, "atan": 1, "triangle": 2, "rectangle": 3, "exponential": 4, "fast_sigmoid": 5}
_HERE = Path(__file__).resolve().parent
_lib: ctypes.CDLL | None = None
_load_error: str | None = None


def library_path() -> Path | None:
    """Where the built library lies, or None."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = _HERE / f"_srm_cpu{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _load() -> ctypes.CDLL | None:
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    path = library_path()
    if path is None:
        _load_error = "the fused CPU kernel was not built (no C compiler at install time?)"
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        _load_error = f"{path}: cannot be loaded ({exc})"
        return None
    p, i64, i32 = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        forward = getattr(lib, f"bpsrm_forward_{suffix}")
        forward.argtypes = [p, p, p, i64, i64, i64, p, i64, p, i64, p, i64, p, i64, p, i64, i32, i32]
        forward.restype = None
        backward = getattr(lib, f"bpsrm_backward_{suffix}")
        backward.argtypes = [
            p,
            p,
            p,
            p,
            p,
            i64,
            i64,
            i64,
            p,
            i64,
            p,
            i64,
            p,
            i64,
            p,
            i64,
            p,
            i64,
            i32,
            i32,
            real,
            i32,
            p,
            p,
            p,
            p,
            p,
            i32,
        ]
        backward.restype = i32
    _lib = lib
    return lib


def available() -> bool:
    """True when the fused CPU kernel is built and loads."""
    return _load() is not None and os.environ.get("BPSRM_KERNEL", "") != "portable"


def unavailable_reason() -> str | None:
    """Why the fused kernel is not used, or None."""
    if os.environ.get("BPSRM_KERNEL", "") == "portable":
        return "BPSRM_KERNEL=portable"
    _load()
    return _load_error


def supports(x: Tensor, surrogate: Surrogate) -> bool:
    """Whether the fused kernel handles this call (CPU, float32/float64, a built-in surrogate)."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and type(surrogate) is SURROGATES.get(surrogate.name)
        and x.dim() >= 1
        and available()
    )


def _period(param: Tensor, x: Tensor) -> tuple[Tensor, int]:
    """(contiguous values over one period, period length) of a parameter broadcast against x[0]."""
    if param.numel() == 1:
        return param, 0  # data_ptr() addresses the one value whatever the shape
    full = param.expand(x.shape[1:])
    lead = 0
    while lead < full.dim() and full.stride(lead) == 0:
        lead += 1
    values = full[(0,) * lead].contiguous().reshape(-1)
    return values, values.numel()


def surrogate_width(surrogate: Surrogate) -> float:
    """The one width parameter of a built-in surrogate (a, w or k)."""
    return float(next(getattr(surrogate, f) for f in ("a", "w", "k") if hasattr(surrogate, f)))


def _param_args(params: list[tuple[Tensor | None, int]]) -> list[int | None]:
    """(pointer, stride) for a_s, a_m, a_r, theta, theta_r: stride 0 for a scalar, 1 for a period array."""
    args: list[int | None] = []
    for values, period in params:
        args += [_ptr(values), 1 if period else 0]
    return args


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


Layout = list[tuple[Tensor | None, int]]


def _layout(like: Tensor, params: tuple[Tensor | None, ...]) -> tuple[Layout, int]:
    """Each parameter as (values over one period, period) and the common period of the neurons."""
    neurons = like[0].numel() if like.shape[0] else 0
    if all(p is None or p.numel() == 1 for p in params):  # the common case: one value each, stride 0
        return [(p, 0) for p in params], max(neurons, 1)
    layout: Layout = [_period(p, like) if p is not None else (None, 0) for p in params]
    periods = {n for _, n in layout if n}
    # Scalars (stride 0) fit any period: then the whole of x[0] is one row of blocks.
    period = max(periods) if periods else max(neurons, 1)
    if len(periods) > 1 or (neurons and neurons % period):
        # Parameters that vary over different dimensions: materialise them over all of x[0].
        layout = [
            (p.expand(like.shape[1:]).contiguous().reshape(-1), neurons) if p is not None else (None, 0) for p in params
        ]
        period = neurons
    return layout, max(period, 1)


def fused_forward(
    x: Tensor, a_s: Tensor | None, a_m: Tensor, a_r: Tensor, theta: Tensor, theta_r: Tensor
) -> tuple[Tensor, Tensor]:
    """(spikes, u) of the iterative SRM (BP-SRM.md section 2) from the C kernel; x [T, ...] contiguous."""
    lib = _load()
    assert lib is not None
    steps = x.shape[0]
    neurons = x[0].numel() if steps else 0
    layout, period = _layout(x, (a_s, a_m, a_r, theta, theta_r))
    u = torch.empty_like(x)
    out = torch.empty_like(x)
    fn = lib.bpsrm_forward_f32 if x.dtype == torch.float32 else lib.bpsrm_forward_f64
    if neurons:
        fn(
            x.data_ptr(),
            u.data_ptr(),
            out.data_ptr(),
            steps,
            neurons,
            period,
            *_param_args(layout),
            int(a_s is not None),
            torch.get_num_threads(),
        )
    return out, u


def fused_backward(
    x: Tensor | None,
    u: Tensor,
    grad_spikes: Tensor | None,
    grad_u: Tensor | None,
    params: tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor],
    surrogate: Surrogate,
    detach_reset: bool,
    needs: tuple[bool, bool, bool, bool, bool],
) -> tuple[Tensor, list[Tensor | None]]:
    """BP-SRM backward (section 3) from the C kernel: grad_x and the gradients of (a_s, a_m, a_r, theta, theta_r).

    ``needs`` says which parameter gradients to compute (x is needed for a_s and a_m).
    """
    lib = _load()
    assert lib is not None
    x = x.contiguous() if x is not None else None  # the kernel reads x in [T, M] order
    steps, neurons = u.shape[0], u[0].numel() if u.shape[0] else 0
    threads = torch.get_num_threads()
    layout, period = _layout(u, params)
    g_o = grad_spikes.contiguous() if grad_spikes is not None else None
    g_u = grad_u.contiguous() if grad_u is not None else None
    grad_x = torch.empty_like(u)
    buffers = [
        torch.zeros(threads, period, dtype=u.dtype) if need and p is not None else None
        for need, p in zip(needs, params, strict=True)
    ]
    fn = lib.bpsrm_backward_f32 if u.dtype == torch.float32 else lib.bpsrm_backward_f64
    status = 0
    if neurons:
        status = fn(
            _ptr(x),
            u.data_ptr(),
            _ptr(g_o),
            _ptr(g_u),
            grad_x.data_ptr(),
            steps,
            neurons,
            period,
            *_param_args(layout),
            int(params[0] is not None),
            _SURROGATE_IDS[surrogate.name],
            surrogate_width(surrogate),
            int(detach_reset),
            *[_ptr(b) for b in buffers],
            threads,
        )
    if status != 0:
        raise MemoryError("bpsrm fused CPU kernel: out of memory for the backward's recomputed state")
    grads: list[Tensor | None] = []
    for buffer, param in zip(buffers, params, strict=True):
        grads.append(None if buffer is None or param is None else _reduce_to(buffer.sum(0), param, u))
    return grad_x, grads


class SRMFusedCPU(torch.autograd.Function):
    """The fused kernel as an autograd.Function; same inputs and outputs as :class:`bpsrm.autograd.SRMFunction`.

    Saves u (4 bytes per neuron-step), and x only when a_s or a_m needs a gradient.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        a_s: Tensor | None,
        a_m: Tensor,
        a_r: Tensor,
        theta: Tensor,
        theta_r: Tensor,
        surrogate: Surrogate,
        detach_reset: bool,
    ) -> tuple[Tensor, Tensor]:
        xc = x.contiguous()
        out, u = fused_forward(xc, a_s, a_m, a_r, theta, theta_r)
        needs = ctx.needs_input_grad
        ctx.set_materialize_grads(False)
        ctx.surrogate = surrogate
        ctx.detach_reset = bool(detach_reset)
        ctx.save_for_backward(u, xc if (needs[1] or needs[2]) else None, a_s, a_m, a_r, theta, theta_r)
        return out, u

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        u, x, a_s, a_m, a_r, theta, theta_r = ctx.saved_tensors
        if grad_spikes is None and grad_u is None:
            return (None,) * 8
        needs = ctx.needs_input_grad
        grad_x, grads = fused_backward(
            x,
            u,
            grad_spikes,
            grad_u,
            (a_s, a_m, a_r, theta, theta_r),
            ctx.surrogate,
            ctx.detach_reset,
            tuple(bool(n) for n in needs[1:6]),  # type: ignore[arg-type]
        )
        return (grad_x if needs[0] else None, *grads, None, None)


def _reduce_to(per_period: Tensor, param: Tensor, u: Tensor) -> Tensor:
    """Sum a per-period gradient down to the parameter's shape."""
    if param.numel() == 1:
        return per_period.sum().reshape(param.shape)
    shape = u.shape[1:]
    if per_period.numel() == u[0].numel():
        full = per_period.reshape(shape)
    else:
        full = per_period.reshape(shape[len(shape) - _trailing_dims(per_period.numel(), shape) :])
    return full.sum_to_size(param.shape) if full.dim() >= param.dim() else full.reshape(param.shape)


def _trailing_dims(count: int, shape: torch.Size) -> int:
    size = 1
    for n in range(len(shape) - 1, -1, -1):
        size *= shape[n]
        if size == count:
            return len(shape) - n
    raise AssertionError(f"period {count} does not match the trailing dims of {tuple(shape)}")
