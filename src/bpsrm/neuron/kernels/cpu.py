r"""The fused CPU kernel: its ctypes binding, and the one save / backward of both modes.

The C library (``srm_cpu.c``, built at install time) runs the forward of the
iterative SRM and the BP-SRM backward of BP-SRM.md sections 2-3 in compiled
loops: time outside, blocks of contiguous neurons inside (SIMD), blocks shared
among threads. It saves only u for the backward (the spikes are recomputed as
``u >= theta``, the forward's own test on the same floats), and x only when a
synaptic or membrane time constant needs a gradient; the tau gradients are
reduced inside the kernel.

Every kernel takes a reset mode, ``reset`` (:data:`RESET_IDS`): 0, the subtractive reset of sections 2-3,
or 1, the hard reset of sections 2.1 and 3.2,

$$
I[t] = a_s I[t-1] + x[t],\quad V[t] = a_m (1 - o[t-1]) V[t-1] + I[t],\quad u[t] = V[t],\quad
o[t] = H(u[t] - \theta),
$$

where a_r and theta_r are unused (their gradients are None) and, since V = u, x is saved only when a_s
needs a gradient.

Each C function takes a pointer to one ``bpsrm_args`` struct, mirrored here by
:class:`KernelArgs` (checked against the library's own size when it loads).
:func:`setup_context` (what a call keeps for its backward) and :func:`backward`
are shared by eager mode (:class:`SRMFusedCPU`, an autograd.Function) and by
the ``torch.library`` custom op used under ``torch.compile``
(:mod:`bpsrm.neuron.kernels.compiled`), which passes its own op as the backward's kernel.

``available()`` tells whether the library was built; when it was not (no C
compiler at install time), :func:`bpsrm.neuron.functional.srm` uses the portable path.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..finite import nonfinite_error
from ..surrogate import BUILT_IN, Surrogate
from . import FORCED_KERNEL

__all__ = [
    "RESET_IDS",
    "param_layout",
    "reduce_to_param",
    "available",
    "unavailable_reason",
    "supports",
    "library_path",
    "extension_path",
    "KernelArgs",
    "fused_forward",
    "fused_backward",
    "setup_context",
    "backward",
    "srm_fused",
    "SRMFusedCPU",
]

_HERE = Path(__file__).resolve().parent
_lib: ctypes.CDLL | None = None
_load_error: str | None = None
# dtype -> (forward, backward) C functions, and kernel id -> surrogate name as the library knows them.
_KERNELS: dict[torch.dtype, tuple[Any, Any]] = {}
_LIBRARY_SURROGATES: dict[int, str] = {}

Params = tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]
_PARAM_NAMES = ("a_s", "a_m", "a_r", "theta", "theta_r")
_STRIDE_NAMES = tuple(f"s_{name}" for name in _PARAM_NAMES)
_GRAD_NAMES = tuple(f"grad_{name}" for name in _PARAM_NAMES)

#: The reset modes as the kernels know them (srm_cpu.c's BPSRM_RESET_*): ``reset`` of every kernel call.
RESET_IDS: dict[str, int] = {"subtract": 0, "zero": 1}


class KernelArgs(ctypes.Structure):
    """The arguments of one kernel call: srm_cpu.c's ``bpsrm_args``, field by field.

    Pointers are ``data_ptr()`` of contiguous tensors in the kernel's dtype (0 for an absent one);
    ``T, M, P``: steps, neurons, the period of the parameters along the neurons; each parameter
    stride is 0 (one value) or 1 (P values); ``surrogate`` is the surrogate's ``kernel_id``; ``reset`` one of
    :data:`RESET_IDS` (the hard reset reads neither a_r nor theta_r and writes no gradient of them).
    """

    _fields_ = [
        ("x", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("spikes", ctypes.c_void_p),
        ("grad_spikes", ctypes.c_void_p),
        ("grad_u", ctypes.c_void_p),
        ("grad_x", ctypes.c_void_p),
        *((name, ctypes.c_void_p) for name in _PARAM_NAMES),
        *((name, ctypes.c_void_p) for name in _GRAD_NAMES),
        ("T", ctypes.c_long),
        ("M", ctypes.c_long),
        ("P", ctypes.c_long),
        *((name, ctypes.c_long) for name in _STRIDE_NAMES),
        ("width", ctypes.c_double),
        ("surrogate", ctypes.c_int),
        ("detach_reset", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("check_finite", ctypes.c_int),
        ("reset", ctypes.c_int),
    ]


def extension_path(directory: Path, stem: str) -> Path | None:
    """Where the C library ``stem`` (e.g. ``_srm_cpu``), built beside the module in ``directory``, lies, or None."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def library_path() -> Path | None:
    """Where the built library lies, or None."""
    return extension_path(_HERE, "_srm_cpu")


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
        lib.bpsrm_args_size.argtypes, lib.bpsrm_args_size.restype = [], ctypes.c_size_t
        lib.bpsrm_surrogate_name.argtypes, lib.bpsrm_surrogate_name.restype = [ctypes.c_int], ctypes.c_char_p
        for suffix in ("f32", "f64"):
            for kind in ("forward", "backward"):
                fn = getattr(lib, f"bpsrm_{kind}_{suffix}")
                fn.argtypes, fn.restype = [ctypes.POINTER(KernelArgs)], ctypes.c_int
    except (OSError, AttributeError) as exc:
        _load_error = f"{path}: cannot be loaded ({exc}); rebuild with pip install -e ."
        return None
    if lib.bpsrm_args_size() != ctypes.sizeof(KernelArgs):
        _load_error = f"{path}: its argument struct does not match bpsrm.neuron.kernels.cpu.KernelArgs (a stale build?)"
        return None
    _KERNELS[torch.float32] = (lib.bpsrm_forward_f32, lib.bpsrm_backward_f32)
    _KERNELS[torch.float64] = (lib.bpsrm_forward_f64, lib.bpsrm_backward_f64)
    kernel_id = 0
    while (name := lib.bpsrm_surrogate_name(kernel_id)) is not None:
        _LIBRARY_SURROGATES[kernel_id] = name.decode()
        kernel_id += 1
    _lib = lib
    return lib


# Loaded on import (about a millisecond), not at the first call: that call may be traced by torch.compile,
# which cannot trace the loading (file system calls) in a full graph. BPSRM_KERNEL is read here too, once:
# a look-up in os.environ at every call cost about 3.5 us of the call's fixed cost.
_load()
_FORCED_PORTABLE = FORCED_KERNEL == "portable"


def available() -> bool:
    """True when the fused CPU kernel is built, loads, and is not turned off (``BPSRM_KERNEL=portable``
    in the environment when bpsrm.neuron.kernels.cpu was imported)."""
    return _lib is not None and not _FORCED_PORTABLE


def unavailable_reason() -> str | None:
    """Why the fused kernel is not used, or None."""
    if _FORCED_PORTABLE:
        return "BPSRM_KERNEL=portable"
    return _load_error


def supports(x: Tensor, surrogate: Surrogate) -> bool:
    """Whether the fused kernel handles this call: CPU, float32/float64, a surrogate with a kernel.

    The surrogate's class must be one of :data:`bpsrm.neuron.surrogate.BUILT_IN` (the formulas the library
    implements), with a ``kernel_id`` that the library knows by that name: False for a surrogate whose
    ``kernel_id`` is None, for a subclass, or for a class registered in a built-in's place (its derivative may
    differ), which the portable path then runs.
    """
    cls = type(surrogate)
    return (
        x.is_cpu
        and x.dtype in _DTYPES
        and x.dim() >= 1
        and _lib is not None
        and not _FORCED_PORTABLE
        and _LIBRARY_SURROGATES.get(cls.kernel_id) == cls.name  # type: ignore[arg-type]
        and cls in BUILT_IN  # not a subclass, nor a class registered in a built-in's place: its derivative may differ
    )


# Surrogate.width per surrogate object (by identity; the objects are frozen and kept here, so an id is
# not reused while cached): reading it from the dataclass fields cost 1-3 us of every call.
_WIDTHS: dict[int, tuple[Surrogate, float]] = {}


def _width(surrogate: Surrogate) -> float:
    cached = _WIDTHS.get(id(surrogate))
    if cached is not None and cached[0] is surrogate:
        return cached[1]
    if len(_WIDTHS) >= 256:
        _WIDTHS.clear()
    width = surrogate.width
    _WIDTHS[id(surrogate)] = (surrogate, width)
    return width


_DTYPES = (torch.float32, torch.float64)
_NONFINITE = -3  # srm_cpu.c's BPSRM_NONFINITE


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


Layout = list[tuple[Tensor | None, int]]


def param_layout(like: Tensor, params: Sequence[Tensor | None]) -> tuple[Layout, int]:
    """Each parameter as (values over one period, period) and the common period of the neurons: the layout both the
    C kernel and the Triton kernel (:mod:`bpsrm.neuron.kernels.gpu`) read the parameters in."""
    neurons = like[0].numel() if like.shape[0] else 0
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


def _set_parameters(args: KernelArgs, like: Tensor, params: Params) -> list[Tensor | None]:
    """Fill the parameters' pointers, strides and period P of ``args`` for neurons shaped like ``like[0]``,
    where some parameter has more than one value; returns the period arrays made for the call, which
    must outlive it. (The common case, one value each, is inline in the callers: pointers, strides 0, P = M.)
    """
    layout, args.P = param_layout(like, params)
    for name, stride, (values, period) in zip(_PARAM_NAMES, _STRIDE_NAMES, layout, strict=True):
        setattr(args, name, None if values is None else values.data_ptr())
        setattr(args, stride, 1 if period else 0)
    return [values for values, _ in layout]


def _raise(status: int) -> None:
    if status == -1:
        raise MemoryError("bpsrm fused CPU kernel: out of memory for the backward's recomputed state")
    raise RuntimeError(f"bpsrm fused CPU kernel: inconsistent arguments (status {status}); this is a bug")


def _parameter_args(like: Tensor, params: Params) -> tuple[KernelArgs, list[Tensor | None] | None]:
    """A fresh :class:`KernelArgs` with the parameters' pointers, strides and period for neurons shaped like
    ``like[0]``, and the period arrays made for it (None in the common case), which must outlive the call.

    The common case, one value per parameter, is inline (strides 0; P = 0, which the callers set to M).
    """
    a_s, a_m, a_r, theta, theta_r = params
    if a_m.numel() == a_r.numel() == theta.numel() == theta_r.numel() == 1 and (a_s is None or a_s.numel() == 1):
        args = KernelArgs()
        args.a_s = None if a_s is None else a_s.data_ptr()
        args.a_m, args.a_r = a_m.data_ptr(), a_r.data_ptr()
        args.theta, args.theta_r = theta.data_ptr(), theta_r.data_ptr()
        return args, None
    args = KernelArgs()
    return args, _set_parameters(args, like, params)


def fused_forward(
    x: Tensor,
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    check_finite: bool = True,
    reset: int = 0,
) -> tuple[Tensor, Tensor]:
    r"""(spikes, u) of the iterative SRM (BP-SRM.md section 2) from the C kernel; x [T, ...].

    $I[t] = a_s I[t-1] + x[t]$, $V[t] = a_m V[t-1] + I[t]$, $R[t] = a_r R[t-1] + \theta_r o[t-1]$,
    $u[t] = V[t] - R[t]$, $o[t] = H(u[t] - \theta)$; with ``reset`` 1 (:data:`RESET_IDS`, the hard reset of
    section 2.1) $V[t] = a_m (1 - o[t-1]) V[t-1] + I[t]$, $u[t] = V[t]$ (a_r, theta_r unread).
    The parameters broadcast against x[0] and have x's dtype (a_s None: the ``exp`` kernel). With
    ``check_finite``, a membrane that ends NaN or Inf raises :class:`~bpsrm.errors.NonFiniteError`.
    """
    args, keep = _parameter_args(x, (a_s, a_m, a_r, theta, theta_r))
    args.check_finite = check_finite
    if reset:  # the struct starts zeroed: 0 is the subtractive reset
        args.reset = reset
    result = _forward(x, args)
    del keep  # the period arrays lived through the call
    return result


def _forward(x: Tensor, args: KernelArgs) -> tuple[Tensor, Tensor]:
    """The forward kernel with ``args``'s parameters (P = 0: one value each) on x [T, ...]."""
    x = x.contiguous()  # the kernel reads x in [T, M] order
    spikes = torch.empty_like(x)
    u = torch.empty_like(x)
    steps = x.shape[0]
    neurons = x.numel() // steps if steps else 0
    if neurons:
        args.x, args.u, args.spikes = x.data_ptr(), u.data_ptr(), spikes.data_ptr()
        args.T, args.M, args.threads = steps, neurons, torch.get_num_threads()
        if not args.P:
            args.P = neurons
        status = _KERNELS[x.dtype][0](args)
        if status == _NONFINITE:
            raise nonfinite_error(x)
        if status:
            _raise(status)
    return spikes, u


def fused_backward(
    x: Tensor | None,
    u: Tensor,
    grad_spikes: Tensor | None,
    grad_u: Tensor | None,
    params: Params,
    surrogate: int,
    width: float,
    detach_reset: bool,
    needs: Sequence[bool],
    reset: int = 0,
) -> tuple[Tensor, list[Tensor | None]]:
    r"""BP-SRM backward (section 3) from the C kernel: grad_x and the gradients of (a_s, a_m, a_r, theta, theta_r).

    For t = T-1 .. 0 with dR[T] = dV[T] = dI[T] = 0: $do[t] = g_o[t] + \theta_r dR[t+1]$ (second term dropped
    if ``detach_reset``), $du[t] = g_u[t] + sg'(u[t] - \theta) do[t]$, $dR[t] = a_r dR[t+1] - du[t]$,
    $dV[t] = a_m dV[t+1] + du[t]$, $dI[t] = a_s dI[t+1] + dV[t]$, $\partial L/\partial x[t] = dI[t]$, and the
    sums of section 3. With ``reset`` 1 (the hard reset, section 3.2): $do[t] = g_o[t] - a_m V[t] dV[t+1]$
    (second term dropped if ``detach_reset``), $dV[t] = du[t] + a_m (1 - o[t]) dV[t+1]$, no dR,
    $\sum_t dI[t] I[t-1]$ (a_s), $\sum_t dV[t] (1 - o[t-1]) V[t-1]$ (a_m), $-\sum_t sg'\,do[t]$ (theta),
    and None for a_r and theta_r.

    ``surrogate`` is the surrogate's ``kernel_id`` and ``width`` its :attr:`~bpsrm.neuron.surrogate.Surrogate.width`;
    ``needs`` says which parameter gradients to compute (x is needed for a_s and a_m, for a_s alone with the
    hard reset); the others are None.
    """
    if reset:  # the hard reset has no a_r nor theta_r
        needs = (needs[0], needs[1], False, needs[3], False)
    if True not in needs:  # training's common case: only grad_x
        args, keep = _parameter_args(u, params)
        args.surrogate, args.width, args.detach_reset = surrogate, width, detach_reset
        if reset:
            args.reset = reset
        grad_x = _backward_input(u, grad_spikes, grad_u, args)
        del keep
        return grad_x, [None] * 5
    grad_x = torch.empty_like(u)
    steps = u.shape[0]
    neurons = u.numel() // steps if steps else 0
    if not neurons:
        return grad_x, [
            torch.zeros_like(p) if n and p is not None else None for n, p in zip(needs, params, strict=True)
        ]
    args, keep = _parameter_args(u, params)
    args.u, args.T, args.M = u.data_ptr(), steps, neurons
    args.P = args.P or neurons
    args.surrogate, args.width, args.detach_reset = surrogate, width, detach_reset
    if reset:
        args.reset = reset
    args.threads = torch.get_num_threads()
    args.grad_x = grad_x.data_ptr()
    if grad_spikes is not None:
        grad_spikes = grad_spikes.contiguous()
        args.grad_spikes = grad_spikes.data_ptr()
    if grad_u is not None:
        grad_u = grad_u.contiguous()
        args.grad_u = grad_u.data_ptr()
    buffers: list[Tensor | None] = [None] * 5
    threads = args.threads
    for k, (need, param) in enumerate(zip(needs, params, strict=True)):
        if need and param is not None:
            buffers[k] = buffer = torch.zeros(threads, args.P, dtype=u.dtype)
            setattr(args, _GRAD_NAMES[k], buffer.data_ptr())
    if needs[0] or (needs[1] and not reset):
        x = x.contiguous()  # type: ignore[union-attr]  # saved whenever a_s (or a_m, subtractive) needs a gradient
        args.x = x.data_ptr()
    status = _KERNELS[u.dtype][1](args)
    if status:
        _raise(status)
    del keep
    grads = [None if b is None else reduce_to_param(b.sum(0), p, u) for b, p in zip(buffers, params, strict=True)]  # type: ignore[arg-type]
    return grad_x, grads


def _backward_input(u: Tensor, grad_spikes: Tensor | None, grad_u: Tensor | None, args: KernelArgs) -> Tensor:
    """grad_x alone (no parameter gradients) from the backward kernel with ``args``'s parameters and surrogate."""
    grad_x = torch.empty_like(u)
    steps = u.shape[0]
    neurons = u.numel() // steps if steps else 0
    if not neurons:
        return grad_x
    args.u, args.grad_x, args.T, args.M = u.data_ptr(), grad_x.data_ptr(), steps, neurons
    args.threads = torch.get_num_threads()
    if not args.P:
        args.P = neurons
    if grad_spikes is not None:
        grad_spikes = grad_spikes.contiguous()
        args.grad_spikes = grad_spikes.data_ptr()
    if grad_u is not None:
        grad_u = grad_u.contiguous()
        args.grad_u = grad_u.data_ptr()
    status = _KERNELS[u.dtype][1](args)
    if status:
        _raise(status)
    return grad_x


def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    """What a call keeps for its backward (eager and compiled alike): u, the parameters, and x only when
    a_s or a_m needs a gradient (with the hard reset, where V = u, only when a_s does; 4 bytes per
    neuron-step otherwise).

    ``inputs``: (x, a_s, a_m, a_r, theta, theta_r, surrogate kernel id, width, detach_reset, check_finite,
    reset), ``reset`` (:data:`RESET_IDS`) optional, 0 when absent; ``output``: (spikes, u).
    """
    x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset = inputs[:9]
    reset = inputs[10] if len(inputs) > 10 else 0
    needs = ctx.needs_input_grad
    ctx.set_materialize_grads(False)  # an unused output's gradient stays None: the kernel skips it
    keep_x = needs[1] or (needs[2] and not reset)
    ctx.save_for_backward(output[1], x if keep_x else None, a_s, a_m, a_r, theta, theta_r)
    ctx.surrogate, ctx.width, ctx.detach_reset, ctx.reset = surrogate, width, detach_reset, reset


Kernel = Callable[..., tuple[Tensor, list[Tensor | None]]]


def backward(
    ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None, kernel: Kernel = fused_backward
) -> tuple[Tensor | None, ...]:
    """The BP-SRM backward (BP-SRM.md section 3, or 3.2 for the hard reset) of a call set up by
    :func:`setup_context`.

    Returns the gradients of its inputs (ten, or eleven with ``reset``; None for the last four or five).
    ``kernel`` has the signature of :func:`fused_backward`: that function in eager mode, the custom op
    under compile.
    """
    needs = ctx.needs_input_grad
    if grad_spikes is None and grad_u is None:
        return (None,) * len(needs)
    u, x, a_s, a_m, a_r, theta, theta_r = ctx.saved_tensors
    params = (a_s, a_m, a_r, theta, theta_r)
    grad_x, grads = kernel(
        x, u, grad_spikes, grad_u, params, ctx.surrogate, ctx.width, ctx.detach_reset, needs[1:6], ctx.reset
    )
    return (grad_x if needs[0] else None, *grads, None, None, None, None, None)[: len(needs)]


def fused_function(
    name: str, forward_kernel: Callable[..., tuple[Tensor, Tensor]], backward_kernel: Kernel, module: str, doc: str
) -> type[torch.autograd.Function]:
    """An autograd.Function (eager mode) over one fused kernel pair, the same for every backend.

    Inputs (x, a_s, a_m, a_r, theta, theta_r, surrogate kernel id, width, detach_reset, check_finite, reset),
    ``reset`` (:data:`RESET_IDS`) optional, 0 (subtractive) when not passed; outputs (spikes, u).
    ``forward_kernel`` has the signature of :func:`fused_forward` and
    ``backward_kernel`` that of :func:`fused_backward`; the context is :func:`setup_context` and the
    backward :func:`backward` with ``backward_kernel``, so what a call saves and how its gradients are
    routed is written once. ``name`` (and its autograd node, ``name`` + "Backward") and ``module`` name the
    class as if it were written in ``module``.
    """

    def forward(
        ctx: Any,
        x: Tensor,
        a_s: Tensor | None,
        a_m: Tensor,
        a_r: Tensor,
        theta: Tensor,
        theta_r: Tensor,
        surrogate: int,
        width: float,
        detach_reset: bool,
        check_finite: bool,
        reset: int = 0,
    ) -> tuple[Tensor, Tensor]:
        # The context is set up here rather than in a setup_context staticmethod: with one, every
        # Function.apply binds its arguments with inspect.signature (measured: about 50 us a call).
        output = forward_kernel(x, a_s, a_m, a_r, theta, theta_r, check_finite, reset)
        inputs = (x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset, check_finite, reset)
        setup_context(ctx, inputs, output)
        return output

    def plain(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, ...]:
        return backward(ctx, grad_spikes, grad_u, kernel=backward_kernel)

    once = once_differentiable(plain)

    def backward_method(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph=True: the kernel's backward is not differentiable
            return once(ctx, grad_spikes, grad_u)  # type: ignore[no-any-return]
        return plain(ctx, grad_spikes, grad_u)

    namespace = {
        "__doc__": doc,
        "__module__": module,
        "forward": staticmethod(forward),
        "backward": staticmethod(backward_method),
    }
    return type(name, (torch.autograd.Function,), namespace)


SRMFusedCPU = fused_function(
    "SRMFusedCPU",
    fused_forward,
    fused_backward,
    __name__,
    """The C kernel as an autograd.Function (eager mode); see :func:`fused_function`.""",
)


# Function.apply is a Python wrapper around the C apply, super(Function, cls).apply: outside functorch
# transforms it only unwraps dead functorch wrappers (tensors leaked from a finished transform) before
# calling it. Calling the C apply directly saves about 4 us a call; the wrapper still runs under a
# transform (which refuses this Function: it has no setup_context) and for a leaked tensor, whose
# missing storage makes the direct call fail.
_APPLY = super(torch.autograd.Function, SRMFusedCPU).apply  # type: ignore[misc]
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", None)


def srm_fused(
    x: Tensor,
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    surrogate: Surrogate,
    detach_reset: bool,
    check_finite: bool = True,
    reset: int = 0,
) -> tuple[Tensor, Tensor]:
    """(spikes, u) of the iterative SRM with the BP-SRM backward (BP-SRM.md sections 2-3; with ``reset`` 1,
    :data:`RESET_IDS`, the hard reset of sections 2.1 and 3.2) from the fused kernel, for a call
    :func:`supports` (the dispatcher, :func:`bpsrm.neuron.functional._fused_kernel`, has checked it).

    Under ``torch.compile`` the custom op :func:`bpsrm.neuron.kernels.compiled.srm_forward`; in eager mode
    :class:`SRMFusedCPU` when a gradient may be wanted, the kernel alone otherwise (no graph to record).
    """
    if torch.compiler.is_compiling():  # one opaque op in the compiled graph, same C kernel
        from .compiled import srm_forward

        kernel_id, width = surrogate.kernel_id, surrogate.width
        return srm_forward(x, a_s, a_m, a_r, theta, theta_r, kernel_id, width, detach_reset, check_finite, reset)  # type: ignore[no-any-return]
    kernel_id, width = surrogate.kernel_id, _width(surrogate)
    # kernel_id is an int: the dispatcher sends here only surrogates the kernel has (supports())
    return fused_call(a_s, a_m, a_r, theta, theta_r, kernel_id, width, detach_reset, check_finite, x, reset)  # type: ignore[arg-type]


def fused_call(
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    kernel_id: int,
    width: float,
    detach_reset: bool,
    check_finite: bool,
    x: Tensor,
    reset: int = 0,
) -> tuple[Tensor, Tensor]:
    """:func:`srm_fused` in eager mode on arguments it supports (x after the constants, so that they can be
    bound first; ``reset`` as for :func:`srm_fused`): :class:`SRMFusedCPU` when a gradient may be wanted, the
    kernel alone otherwise."""
    if _functorch_active is not None and not _functorch_active():
        try:
            if torch.is_grad_enabled() and (
                x.requires_grad
                or a_m.requires_grad
                or a_r.requires_grad
                or theta.requires_grad
                or theta_r.requires_grad
                or (a_s is not None and a_s.requires_grad)
            ):
                return _APPLY(x, a_s, a_m, a_r, theta, theta_r, kernel_id, width, detach_reset, check_finite, reset)  # type: ignore[no-any-return]
            return fused_forward(x, a_s, a_m, a_r, theta, theta_r, check_finite, reset)  # no gradient: no graph
        except RuntimeError:  # a dead functorch wrapper (no storage), say: Function.apply unwraps it
            pass  # (any other error comes again from there)
    args = (kernel_id, width, detach_reset, check_finite, reset)
    return SRMFusedCPU.apply(x, a_s, a_m, a_r, theta, theta_r, *args)  # type: ignore[no-any-return]


def reduce_to_param(per_period: Tensor, param: Tensor, u: Tensor) -> Tensor:
    """Sum a per-period gradient down to the parameter's shape (both kernels' backward)."""
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


class ConstantPlan:
    """A call's parameters that are constants (0-d tensors never written to, none requiring grad) and its
    surrogate and reset mode (:data:`RESET_IDS`), as :func:`bpsrm.srm` binds them once per distinct call: the
    kernel arguments they fill are made here once and copied at each call."""

    __slots__ = ("check_finite", "detach_reset", "kernel_id", "params", "reset", "template", "width")

    def __init__(
        self, params: Params, kernel_id: int, width: float, detach_reset: bool, check_finite: bool, reset: int = 0
    ) -> None:
        self.params, self.kernel_id, self.width, self.detach_reset = params, kernel_id, width, detach_reset
        self.check_finite, self.reset = check_finite, reset
        template, keep = _parameter_args(params[1], params)
        assert keep is None, "constant parameters are single values"
        template.surrogate, template.width, template.detach_reset = kernel_id, width, detach_reset
        template.check_finite, template.reset = check_finite, reset
        self.template = template

    def args(self) -> KernelArgs:
        """A fresh copy of the arguments the parameters and surrogate fill (the rest is set per call)."""
        return KernelArgs.from_buffer_copy(self.template)


class SRMFusedConstants(torch.autograd.Function):
    """The fused kernel for calls whose parameters are constants (eager mode): x is the only tensor input and
    u the only saved tensor, which halves the autograd bookkeeping of :class:`SRMFusedCPU` at small sizes.

    Inputs (x, a :class:`ConstantPlan`), outputs (spikes, u); the kernels are the same as
    :func:`fused_forward` and :func:`fused_backward` run, in the plan's reset mode.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, plan: ConstantPlan) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        spikes, u = _forward(x, plan.args())
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u)
        ctx.plan = plan
        return spikes, u

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, None]:  # type: ignore[override]
        if torch.is_grad_enabled():  # create_graph=True: the kernel's backward is not differentiable
            return _constants_backward_once(ctx, grad_spikes, grad_u)
        return _constants_backward(ctx, grad_spikes, grad_u)


def _constants_backward(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, None]:
    if grad_spikes is None and grad_u is None:
        return None, None
    (u,) = ctx.saved_tensors
    return _backward_input(u, grad_spikes, grad_u, ctx.plan.args()), None


_constants_backward_once = once_differentiable(_constants_backward)
_APPLY_CONSTANTS = super(torch.autograd.Function, SRMFusedConstants).apply  # see _APPLY


def fused_call_constants(plan: ConstantPlan, x: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`fused_call` for a call whose parameters are constants (plan first, so that it can be bound)."""
    if _functorch_active is not None and not _functorch_active():
        try:
            if torch.is_grad_enabled() and x.requires_grad:
                return _APPLY_CONSTANTS(x, plan)  # type: ignore[no-any-return]
            return _forward(x, plan.args())
        except RuntimeError:  # a dead functorch wrapper: SRMFusedCPU.apply unwraps it
            pass
    args = (plan.kernel_id, plan.width, plan.detach_reset, plan.check_finite, plan.reset)
    return SRMFusedCPU.apply(x, *plan.params, *args)  # type: ignore[no-any-return]
