r"""The fused GPU kernel: the iterative SRM and its BP-SRM backward in Triton.

The same computation as the C kernel (``srm_cpu.c``, bound by :mod:`bpsrm.neuron.kernels.cpu`), for CUDA
tensors: the forward of BP-SRM.md section 2,

$$
I[t] = a_s I[t-1] + x[t],\quad V[t] = a_m V[t-1] + I[t],\quad
R[t] = a_r R[t-1] + \theta_r o[t-1],\quad u[t] = V[t] - R[t],\quad o[t] = H(u[t] - \theta),
$$

and the exact backward of section 3 with the surrogate derivatives of section 3.1; with the reset mode
``reset`` 1 (:data:`bpsrm.neuron.kernels.cpu.RESET_IDS`), the hard reset of sections 2.1 and 3.2,

$$
V[t] = a_m (1 - o[t-1]) V[t-1] + I[t],\quad u[t] = V[t]
$$

(no R: a_r and theta_r are unused and get no gradient). Each kernel keeps the
time loop inside: one program instance owns BLOCK contiguous neurons and carries their state (I, V, R,
o[t-1] forwards; dI, dV, dR backwards) in float32 registers (float64 for float64 inputs) whatever x's
dtype, so that x, u and the gradients cross memory once. The forward and the backward's recursion use the
operations of ``srm_cpu.c`` in its order (contraction into FMA is turned off, as in the PyTorch reference).

Parameters are 0-d values or repeat with a period P along the flattened neurons, exactly as
:func:`bpsrm.neuron.kernels.cpu.param_layout` lays them out for the C kernel.

The backward saves nothing but u (and x when a_s or a_m needs a gradient). The spikes are recomputed as
``u >= theta``. The tau gradients need the forward's state of the previous step,
$\sum_t dI[t] I[t-1]$, $\sum_t dV[t] V[t-1]$, $\sum_t dR[t] R[t-1]$; on a GPU, a per-neuron history of
I, V, R (what the C kernel keeps in its cache) would cost three more passes over [T, M] in memory, so the
kernel moves the sums onto x and the spikes instead. Since I, V and R are causal linear filters of x and
$\theta_r o$, each sum equals one over x[t] or $\theta_r o[t-1]$ of an anti-causal filter of the adjoint
(see :func:`triton_backward`): recomputed in the same reverse loop, from x and u only, with the same
values up to rounding. With the hard reset the a_s gradient is the same filter of x, and the a_m gradient,
$\sum_t dV[t] (1 - o[t-1]) V[t-1]$, reads V = u directly.

Triton is imported when this module is imported where it will be used (CUDA is available, or
``BPSRM_KERNEL=triton``), else on first use (:func:`available`): never inside a ``torch.compile`` trace, which
cannot follow triton's import (``fullgraph=True`` failed on it). Under ``TRITON_INTERPRET=1`` (set before
triton is first imported) the kernels also run on CPU tensors through Triton's interpreter, which is how the
tests check them on machines without a GPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..finite import nonfinite_error
from ..surrogate import BUILT_IN, Surrogate
from . import FORCED_KERNEL, cpu
from .cpu import Params, param_layout, reduce_to_param

__all__ = [
    "KERNEL_SURROGATES",
    "available",
    "unavailable_reason",
    "supports",
    "triton_forward",
    "triton_backward",
    "SRMFusedGPU",
    "srm_triton",
]

#: The surrogates the backward kernel implements: kernel_id -> name (``_surrogate_derivative``'s switch).
KERNEL_SURROGATES: dict[int, str] = {
    0: "sigmoid",
    1: "atan",
    2: "triangle",
    3: "rectangle",
    4: "exponential",
    5: "fast_sigmoid",
}

_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

# Filled by _load(): the triton modules (globals, because jit functions resolve names in their module's
# globals, and the interpreter patches the ``tl`` it finds there) and the kernels.
triton: Any = None
tl: Any = None
_surrogate_derivative: Any = None
_load_parameter: Any = None
_store_gradient: Any = None
_program_parameters: Any = None
_srm_forward_kernel: Any = None
_srm_backward_kernel: Any = None
_loaded = False
_load_error: str | None = None
_interpreted = False


def _load() -> bool:
    """Import triton and define the kernels, once; False (and the reason kept) when triton is missing."""
    global triton, tl, _loaded, _load_error, _interpreted
    if _loaded or _load_error is not None:
        return _loaded
    try:
        import triton as triton_module
        import triton.language as tl_module
    except Exception as exc:  # ImportError, or a broken install (missing libraries, wrong CUDA)
        _load_error = f"triton cannot be imported ({type(exc).__name__}: {exc}); pip install triton"
        return False
    triton, tl = triton_module, tl_module
    try:
        _define_kernels()
    except Exception as exc:  # an incompatible triton version
        _load_error = f"the Triton kernels cannot be defined with triton {triton.__version__} ({exc})"
        return False
    _interpreted = _interpreter_on()
    _loaded = True
    return True


def _interpreter_on() -> bool:
    """Whether triton runs jit functions through its interpreter (TRITON_INTERPRET=1 when it was imported)."""
    knobs = getattr(triton, "knobs", None)
    runtime = getattr(knobs, "runtime", None)
    if runtime is not None and hasattr(runtime, "interpret"):
        return bool(runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def available() -> bool:
    """True when triton imports and the kernels are defined (the first call imports triton, about 0.2 s)."""
    return _load()


def unavailable_reason() -> str | None:
    """Why the Triton kernel cannot be used (triton not installed, ...), or None."""
    _load()
    return _load_error


def supports(x: Tensor, surrogate: Surrogate) -> bool:
    """Whether the Triton kernel handles this call.

    x [T, ...] (T >= 1 dims) on CUDA, or on the CPU when ``TRITON_INTERPRET=1`` (Triton's interpreter, for
    tests); dtype float32, float16, bfloat16 or float64; the surrogate's class is one of
    :data:`bpsrm.neuron.surrogate.BUILT_IN` (not a subclass), with a ``kernel_id`` that this kernel knows by
    that name (:data:`KERNEL_SURROGATES`). Imports triton on the first call.
    """
    cls = type(surrogate)
    if x.dtype not in _DTYPES or x.dim() < 1:
        return False
    if KERNEL_SURROGATES.get(cls.kernel_id) != cls.name or cls not in BUILT_IN:  # type: ignore[arg-type]
        return False
    if not (x.is_cuda or (x.is_cpu and os.environ.get("TRITON_INTERPRET", "0") == "1")):
        return False
    return _load() and (x.is_cuda or _interpreted)


def runs_cpu_tensors() -> bool:
    """Whether CPU tensors go to the Triton kernel: ``BPSRM_KERNEL=triton`` with Triton's interpreter on
    (``TRITON_INTERPRET=1``); otherwise the C kernel takes them."""
    return FORCED_KERNEL == "triton" and _load() and _interpreted


def _require(x: Tensor) -> None:
    """Raise when the kernels cannot run on x's device."""
    if not _load():
        raise RuntimeError(f"bpsrm Triton kernel: {_load_error}")
    if not x.is_cuda and not _interpreted:
        raise RuntimeError(
            f"bpsrm Triton kernel: x is on {x.device}; the kernel runs on CUDA tensors, or on the CPU only "
            "through Triton's interpreter (TRITON_INTERPRET=1 before triton is first imported)"
        )


def _define_kernels() -> None:
    """Define the jit functions (module globals) with the triton just imported."""
    global \
        _surrogate_derivative, \
        _load_parameter, \
        _program_parameters, \
        _store_gradient, \
        _srm_forward_kernel, \
        _srm_backward_kernel

    @triton.jit
    def _surrogate_derivative(z, W: tl.constexpr, KIND: tl.constexpr):
        """sg'(z), z = u - theta (BP-SRM.md section 3.1), of surrogate KIND (its kernel_id) with width W;
        the formulas and their order of operations are srm_cpu.c's sgd_* functions. z: [BLOCK]."""
        if KIND == 0:  # sigmoid: a s(az)(1 - s(az))
            s = 1.0 / (1.0 + tl.exp(-W * z))
            d = W * s * (1.0 - s)
        elif KIND == 1:  # atan: (a/2) / (1 + (pi a z / 2)^2)
            a = 3.141592653589793 * W * 0.5 * z
            d = W * 0.5 / (1.0 + a * a)
        elif KIND == 2:  # triangle: max(0, 1 - |z|/w) / w
            a = 1.0 - tl.abs(z) / W
            d = tl.where(a > 0, a, tl.zeros_like(z)) / W
        elif KIND == 3:  # rectangle: 1/w if |z| < w/2 else 0
            d = tl.where(tl.abs(z) < W * 0.5, tl.full(z.shape, 1.0 / W, z.dtype), tl.zeros_like(z))
        elif KIND == 4:  # exponential: exp(-|z|/w) / (2w)
            d = tl.exp(-tl.abs(z) / W) / (2.0 * W)
        else:  # fast_sigmoid: 1 / (1 + k|z|)^2
            a = 1.0 + W * tl.abs(z)
            d = 1.0 / (a * a)
        return d

    @triton.jit
    def _load_parameter(ptr, k, mask, PER_NEURON: tl.constexpr, ACC: tl.constexpr):
        """A parameter for the program's neurons: [BLOCK] values at period index k, or one value (0-d)."""
        if PER_NEURON:
            value = tl.load(ptr + k, mask=mask, other=0.0)
        else:
            value = tl.load(ptr)
        return value.to(ACC)

    @triton.jit
    def _program_parameters(
        pid,
        M,
        P,
        as_ptr,
        am_ptr,
        ar_ptr,
        th_ptr,
        thr_ptr,
        HAS_AS: tl.constexpr,
        S_AS: tl.constexpr,
        S_AM: tl.constexpr,
        S_AR: tl.constexpr,
        S_TH: tl.constexpr,
        S_THR: tl.constexpr,
        MOD: tl.constexpr,
        ACC: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        """Program pid's neurons (offsets into [M], their mask) and the five parameters a_s, a_m, a_r, theta,
        theta_r for them, read once at period index k = offset mod P (MOD) or k = offset; the exp kernel
        (no a_s) has a_s = 0, I[t] = 0 * I[t-1] + x[t], as in srm_cpu.c. Shared by the forward and backward."""
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        if MOD:
            k = offs % P
        else:
            k = offs
        if HAS_AS:
            a_s = _load_parameter(as_ptr, k, mask, S_AS, ACC)
        else:
            a_s = tl.zeros([BLOCK], dtype=ACC)
        a_m = _load_parameter(am_ptr, k, mask, S_AM, ACC)
        a_r = _load_parameter(ar_ptr, k, mask, S_AR, ACC)
        th = _load_parameter(th_ptr, k, mask, S_TH, ACC)
        thr = _load_parameter(thr_ptr, k, mask, S_THR, ACC)
        return offs, mask, a_s, a_m, a_r, th, thr

    @triton.jit
    def _store_gradient(ptr, acc, pid, offs, mask, PER_NEURON: tl.constexpr):
        """A parameter gradient's partial sums: per neuron ([M] buffer) or the program's sum ([programs])."""
        if PER_NEURON:
            tl.store(ptr + offs, acc, mask=mask)
        else:
            tl.store(ptr + pid, tl.sum(tl.where(mask, acc, 0.0), axis=0))

    @triton.jit
    def _srm_forward_kernel(
        x_ptr,
        u_ptr,
        s_ptr,
        as_ptr,
        am_ptr,
        ar_ptr,
        th_ptr,
        thr_ptr,
        flag_ptr,
        T,
        M,
        P,
        HAS_AS: tl.constexpr,
        S_AS: tl.constexpr,
        S_AM: tl.constexpr,
        S_AR: tl.constexpr,
        S_TH: tl.constexpr,
        S_THR: tl.constexpr,
        MOD: tl.constexpr,
        CHECK: tl.constexpr,
        ACC: tl.constexpr,
        BLOCK: tl.constexpr,
        HARD: tl.constexpr = False,
    ):
        """The forward (BP-SRM.md section 2; HARD: the hard reset of section 2.1, V[t] = a_m (1 - o[t-1]) V[t-1]
        + I[t], u[t] = V[t], no R) of BLOCK neurons over T steps; x, u, spikes: [T, M]."""
        pid = tl.program_id(0)
        offs, mask, a_s, a_m, a_r, th, thr = _program_parameters(
            pid, M, P, as_ptr, am_ptr, ar_ptr, th_ptr, thr_ptr, HAS_AS, S_AS, S_AM, S_AR, S_TH, S_THR, MOD, ACC, BLOCK
        )
        zero = tl.zeros([BLOCK], dtype=ACC)
        state_i = zero
        state_v = zero
        state_r = zero
        state_o = zero
        u_out = zero.to(u_ptr.dtype.element_ty)
        xp = x_ptr + offs
        up = u_ptr + offs
        sp = s_ptr + offs
        x_next = tl.load(xp, mask=mask, other=0.0).to(ACC)
        for t in range(T):
            x_t = x_next
            # The next step's x, loaded early (a vector bound: the interpreter mishandles scalar & vector masks).
            x_next = tl.load(xp + M, mask=offs < tl.where(t + 1 < T, M, 0), other=0.0).to(ACC)
            i = a_s * state_i + x_t
            if HARD:  # section 2.1: V restarts from 0 after a spike, no R
                v = a_m * (1.0 - state_o) * state_v + i
                r = state_r
                u = v
            else:
                v = a_m * state_v + i
                r = a_r * state_r + thr * state_o
                u = v - r
            # Spikes fire on u as stored (x's dtype): the backward recomputes them from that u.
            u_out = u.to(u_ptr.dtype.element_ty)
            fire = (u_out.to(ACC) >= th).to(ACC)
            tl.store(up, u_out, mask=mask)
            tl.store(sp, fire.to(s_ptr.dtype.element_ty), mask=mask)
            state_i = i
            state_v = v
            state_r = r
            state_o = fire
            xp += M
            up += M
            sp += M
        if CHECK:
            # NaN or Inf in x stays in V to the end (bpsrm.neuron.finite; with the hard reset too: NaN never
            # fires, +Inf fires and (a_m 0) Inf is NaN): the last u tells.
            last = u_out.to(ACC)
            bad = tl.where(tl.abs(last) < float("inf"), 0, 1)  # NaN < inf is false
            tl.store(flag_ptr + pid, tl.max(tl.where(mask, bad, 0), axis=0))

    @triton.jit
    def _srm_backward_kernel(
        x_ptr,
        u_ptr,
        go_ptr,
        gu_ptr,
        gx_ptr,
        as_ptr,
        am_ptr,
        ar_ptr,
        th_ptr,
        thr_ptr,
        gas_ptr,
        gam_ptr,
        gar_ptr,
        gth_ptr,
        gthr_ptr,
        T,
        M,
        P,
        LAST,
        HAS_AS: tl.constexpr,
        S_AS: tl.constexpr,
        S_AM: tl.constexpr,
        S_AR: tl.constexpr,
        S_TH: tl.constexpr,
        S_THR: tl.constexpr,
        MOD: tl.constexpr,
        HAS_GO: tl.constexpr,
        HAS_GU: tl.constexpr,
        DETACH: tl.constexpr,
        KIND: tl.constexpr,
        W: tl.constexpr,
        NEED_AS: tl.constexpr,
        NEED_AM: tl.constexpr,
        NEED_AR: tl.constexpr,
        NEED_TH: tl.constexpr,
        NEED_THR: tl.constexpr,
        ACC: tl.constexpr,
        BLOCK: tl.constexpr,
        HARD: tl.constexpr = False,
    ):
        """The BP-SRM backward (BP-SRM.md section 3) of BLOCK neurons, t = T-1 .. 0; arrays [T, M],
        LAST = (T-1) M the offset of the last step. HARD: the hard reset's backward (section 3.2),
        do[t] = g_o[t] - a_m V[t] dV[t+1], dV[t] = du[t] + a_m (1 - o[t]) dV[t+1], V = u, no dR (NEED_AR and
        NEED_THR must be False); x is read only for a_s's gradient."""
        pid = tl.program_id(0)
        offs, mask, a_s, a_m, a_r, th, thr = _program_parameters(
            pid, M, P, as_ptr, am_ptr, ar_ptr, th_ptr, thr_ptr, HAS_AS, S_AS, S_AM, S_AR, S_TH, S_THR, MOD, ACC, BLOCK
        )
        zero = tl.zeros([BLOCK], dtype=ACC)
        d_i = zero  # dI[t+1], dV[t+1], dR[t+1]
        d_v = zero
        d_r = zero
        # Anti-causal filters for the tau gradients: J[t] = dI[t+1] + a_s J[t+1], K[t] = dV[t+1] + a_m K[t+1],
        # L[t] = K[t] + a_s L[t+1], S[t] = dR[t+1] + a_r S[t+1].
        f_j = zero
        f_k = zero
        f_l = zero
        f_s = zero
        g_as = zero
        g_am = zero
        g_ar = zero
        g_th = zero
        g_thr = zero
        # The last step's pointers: the scalar offset LAST (an i32 when below 2**31) is added to each pointer on its
        # own, in 64 bits, before the neurons' offsets; LAST + offs in i32 wrapped once (T-1) M + M > 2**31.
        up = u_ptr + LAST + offs
        xp = x_ptr + LAST + offs
        gop = go_ptr + LAST + offs
        gup = gu_ptr + LAST + offs
        gxp = gx_ptr + LAST + offs
        u_t = tl.load(up, mask=mask, other=0.0).to(ACC)
        x_t = zero
        go_t = zero
        gu_t = zero
        if NEED_AS or (NEED_AM and not HARD):
            x_t = tl.load(xp, mask=mask, other=0.0).to(ACC)
        if HAS_GO:
            go_t = tl.load(gop, mask=mask, other=0.0).to(ACC)
        if HAS_GU:
            gu_t = tl.load(gup, mask=mask, other=0.0).to(ACC)
        for s in range(T):
            t = T - 1 - s
            has_prev = tl.where(t > 0, 1.0, 0.0)
            prev = offs < tl.where(t > 0, M, 0)  # mask & (t > 0)
            # Step t-1's values, loaded early; u[t-1] also gives o[t-1] = (u[t-1] >= theta), none before t = 0.
            u_p = tl.load(up - M, mask=prev, other=0.0).to(ACC)
            x_p = zero
            go_p = zero
            gu_p = zero
            if NEED_AS or (NEED_AM and not HARD):
                x_p = tl.load(xp - M, mask=prev, other=0.0).to(ACC)
            if HAS_GO:
                go_p = tl.load(gop - M, mask=prev, other=0.0).to(ACC)
            if HAS_GU:
                gu_p = tl.load(gup - M, mask=prev, other=0.0).to(ACC)
            o_prev = (u_p >= th).to(ACC) * has_prev
            sg = _surrogate_derivative(u_t - th, W, KIND)
            if HARD:  # section 3.2: V = u, o = (u >= theta), no dR
                if DETACH:
                    d_o = go_t
                else:
                    d_o = go_t - a_m * u_t * d_v
                sgdo = sg * d_o
                if HAS_GU:
                    d_u = gu_t + sgdo
                else:
                    d_u = sgdo
                if NEED_AS:  # sum_t dI[t] I[t-1] = sum_t x[t] J[t]: I is the same filter of x
                    f_j = d_i + a_s * f_j
                    g_as += x_t * f_j
                keep = 1.0 - (u_t >= th).to(ACC)
                r = d_r
                v = d_u + a_m * keep * d_v
                i = a_s * d_i + v
                tl.store(gxp, i.to(gx_ptr.dtype.element_ty), mask=mask)
                if NEED_TH:
                    g_th -= sgdo
                if NEED_AM:  # sum_t dV[t] (1 - o[t-1]) V[t-1], V[t-1] = u[t-1] (0 before t = 0)
                    g_am += v * (1.0 - o_prev) * u_p
            else:
                if DETACH:
                    d_o = go_t
                else:
                    d_o = go_t + thr * d_r
                sgdo = sg * d_o
                if HAS_GU:
                    d_u = gu_t + sgdo
                else:
                    d_u = sgdo
                if NEED_AS:  # sum_t dI[t] I[t-1] = sum_t x[t] J[t]
                    f_j = d_i + a_s * f_j
                    g_as += x_t * f_j
                if NEED_AM:  # sum_t dV[t] V[t-1] = sum_t x[t] L[t]
                    f_k = d_v + a_m * f_k
                    f_l = f_k + a_s * f_l
                    g_am += x_t * f_l
                if NEED_AR:  # sum_t dR[t] R[t-1] = sum_t theta_r o[t-1] S[t]
                    f_s = d_r + a_r * f_s
                    g_ar += thr * o_prev * f_s
                r = a_r * d_r - d_u
                v = a_m * d_v + d_u
                i = a_s * d_i + v
                tl.store(gxp, i.to(gx_ptr.dtype.element_ty), mask=mask)
                if NEED_TH:
                    g_th -= sgdo
                if NEED_THR:
                    g_thr += r * o_prev
            d_r = r
            d_v = v
            d_i = i
            u_t = u_p
            x_t = x_p
            go_t = go_p
            gu_t = gu_p
            up -= M
            xp -= M
            gop -= M
            gup -= M
            gxp -= M
        if NEED_AS:
            _store_gradient(gas_ptr, g_as, pid, offs, mask, S_AS)
        if NEED_AM:
            _store_gradient(gam_ptr, g_am, pid, offs, mask, S_AM)
        if NEED_AR:
            _store_gradient(gar_ptr, g_ar, pid, offs, mask, S_AR)
        if NEED_TH:
            _store_gradient(gth_ptr, g_th, pid, offs, mask, S_TH)
        if NEED_THR:
            _store_gradient(gthr_ptr, g_thr, pid, offs, mask, S_THR)


def _block_size(neurons: int, block: int | None) -> tuple[int, int]:
    """(neurons per program, warps per program). One or two neurons per thread: the time loop is serial, so
    the GPU hides its memory latency with many resident threads; two per thread above ~270k neurons (the
    threads an H200 holds at once) give each thread two independent chains. Not yet tuned on hardware."""
    if block is not None:
        if block < 16 or block & (block - 1):
            raise ValueError(f"block must be a power of two >= 16, got {block}")
        return block, max(1, min(8, block // 64))
    return (256, 4) if neurons > 132 * 2048 else (128, 4)


def _check_neurons(neurons: int, block: int) -> None:
    """The kernels index the neurons of one step in int32: the last program's offsets, up to ``neurons`` rounded
    up to a whole ``block``, must stay below 2**31 (the steps themselves are reached with 64-bit pointers)."""
    limit = 2**31 - block
    if neurons > limit:
        raise ValueError(f"bpsrm Triton kernel: {neurons} neurons per step; at most 2**31 - {block} = {limit}")


def _device_guard(x: Tensor) -> contextlib.AbstractContextManager[Any]:
    """Launch on x's GPU (triton launches on the current device)."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _accumulator(dtype: torch.dtype) -> tuple[Any, torch.dtype]:
    """The state's type in the kernel (tl dtype) and on the host: float64 for float64, float32 otherwise."""
    return (tl.float64, torch.float64) if dtype == torch.float64 else (tl.float32, torch.float32)


def _parameters(like: Tensor, params: Params) -> tuple[list[Tensor | None], list[int], int]:
    """The parameters as the kernels read them: each one's values over one period (or its one value), its
    stride (0: one value, 1: P values), and the common period P of the neurons (cpu.param_layout's layout)."""
    detached = tuple(p.detach() if p is not None else None for p in params)
    layout, period = param_layout(like, detached)
    values = [v for v, _ in layout]
    strides = [1 if n else 0 for _, n in layout]
    return values, strides, period


def triton_forward(
    x: Tensor,
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    check_finite: bool = True,
    reset: int = 0,
    *,
    block: int | None = None,
) -> tuple[Tensor, Tensor]:
    r"""(spikes, u) of the iterative SRM (BP-SRM.md section 2) from the Triton kernel; x [T, ...].

    $I[t] = a_s I[t-1] + x[t]$, $V[t] = a_m V[t-1] + I[t]$, $R[t] = a_r R[t-1] + \theta_r o[t-1]$,
    $u[t] = V[t] - R[t]$, $o[t] = H(u[t] - \theta)$ with zero initial state; with ``reset`` 1
    (:data:`bpsrm.neuron.kernels.cpu.RESET_IDS`, the hard reset of section 2.1)
    $V[t] = a_m (1 - o[t-1]) V[t-1] + I[t]$, $u[t] = V[t]$ (a_r, theta_r unused). The parameters broadcast
    against x[0] (0-d, or values repeating along the flattened neurons, as for
    :func:`bpsrm.neuron.kernels.cpu.fused_forward`); ``a_s`` None is the ``exp`` kernel (a_s = 0). The
    state is float32 (float64 for float64 x); spikes and u are x's shape and dtype, and a spike fires on u
    as stored (rounded to x's dtype), so that ``spikes == (u >= theta)`` holds on the outputs and the
    backward recomputes the same spikes. With ``check_finite``, a membrane that ends NaN or Inf raises
    :class:`~bpsrm.errors.NonFiniteError` (one flag per program, read once on the host).
    ``block``: neurons per program (a power of two >= 16), None to choose from the size.
    """
    _require(x)
    x = x.contiguous()
    spikes = torch.empty_like(x)
    u = torch.empty_like(x)
    steps = x.shape[0]
    neurons = x.numel() // steps if steps else 0
    if not neurons:
        return spikes, u
    values, strides, period = _parameters(x, (a_s, a_m, a_r, theta, theta_r))
    acc, _ = _accumulator(x.dtype)
    size, warps = _block_size(neurons, block)
    _check_neurons(neurons, size)
    programs = triton.cdiv(neurons, size)
    flags = torch.zeros(programs if check_finite else 1, dtype=torch.int32, device=x.device)
    as_values = values[0] if values[0] is not None else values[1]  # unread when HAS_AS is False
    with _device_guard(x):
        _srm_forward_kernel[(programs,)](
            x,
            u,
            spikes,
            as_values,
            *values[1:],
            flags,
            steps,
            neurons,
            period,
            HAS_AS=a_s is not None,
            S_AS=strides[0],
            S_AM=strides[1],
            S_AR=strides[2],
            S_TH=strides[3],
            S_THR=strides[4],
            MOD=period != neurons,
            CHECK=check_finite,
            ACC=acc,
            BLOCK=size,
            HARD=bool(reset),
            num_warps=warps,
            enable_fp_fusion=False,
        )
    if check_finite and bool(flags.any()):
        raise nonfinite_error(x)
    return spikes, u


def triton_backward(
    x: Tensor | None,
    u: Tensor,
    grad_spikes: Tensor | None,
    grad_u: Tensor | None,
    params: Params,
    kernel_id: int,
    width: float,
    detach_reset: bool,
    needs: Sequence[bool],
    reset: int = 0,
    *,
    block: int | None = None,
) -> tuple[Tensor, list[Tensor | None]]:
    r"""BP-SRM backward (BP-SRM.md section 3) from the Triton kernel: grad_x and the gradients of
    (a_s, a_m, a_r, theta, theta_r); the contract of :func:`bpsrm.neuron.kernels.cpu.fused_backward`.

    For t = T-1 .. 0 with dR[T] = dV[T] = dI[T] = 0:
    $do[t] = g_o[t] + \theta_r dR[t+1]$ (second term dropped if ``detach_reset``),
    $du[t] = g_u[t] + sg'(u[t] - \theta)\,do[t]$, $dR[t] = a_r dR[t+1] - du[t]$,
    $dV[t] = a_m dV[t+1] + du[t]$, $dI[t] = a_s dI[t+1] + dV[t]$, $\partial L/\partial x[t] = dI[t]$;
    $\partial L/\partial\theta = -\sum_t sg'\,do[t]$, $\partial L/\partial\theta_r = \sum_t dR[t] o[t-1]$, and
    the tau gradients $\sum_t dI[t] I[t-1] = \sum_t x[t] J[t]$,
    $\sum_t dV[t] V[t-1] = \sum_t x[t] L[t]$, $\sum_t dR[t] R[t-1] = \sum_t \theta_r o[t-1] S[t]$ with the
    anti-causal filters $J[t] = dI[t+1] + a_s J[t+1]$, $K[t] = dV[t+1] + a_m K[t+1]$,
    $L[t] = K[t] + a_s L[t+1]$, $S[t] = dR[t+1] + a_r S[t+1]$ (zero at T-1): exchanging the order of the
    double sums of $I[t-1] = \sum_{k<t} a_s^{t-1-k} x[k]$ (and of V, R) gives these.

    With ``reset`` 1 (the hard reset, section 3.2): $do[t] = g_o[t] - a_m V[t] dV[t+1]$ (second term dropped
    if ``detach_reset``), $dV[t] = du[t] + a_m (1 - o[t]) dV[t+1]$, no dR; a_s's gradient as above,
    $\partial L/\partial a_m = \sum_t dV[t] (1 - o[t-1]) V[t-1]$ with V = u, and None for a_r and theta_r
    (x is then needed for a_s alone).

    x, u, grad_spikes, grad_u: [T, ...] (grad_spikes and grad_u None for zero; x only needed when a_s or a_m
    needs a gradient); params: as for :func:`triton_forward`; ``kernel_id`` and ``width``: the surrogate's;
    ``needs``: 5 bools, which parameter gradients to compute (the others are None). Parameter gradients are
    summed per program in the kernel (per neuron for a parameter with a period, per program for a 0-d one),
    then once on the host, down to each parameter's shape and dtype. grad_x has u's dtype.
    """
    _require(u)
    if KERNEL_SURROGATES.get(kernel_id) is None:
        raise ValueError(f"bpsrm Triton kernel: unknown surrogate kernel_id {kernel_id!r}")
    u = u.contiguous()
    grad_x = torch.empty_like(u)
    steps = u.shape[0]
    neurons = u.numel() // steps if steps else 0
    wanted = [bool(n) and p is not None for n, p in zip(needs, params, strict=True)]
    if reset:  # the hard reset has no a_r nor theta_r
        wanted[2] = wanted[4] = False
    need_x = wanted[0] or (wanted[1] and not reset)
    if not neurons:
        return grad_x, [
            torch.zeros_like(p) if w and p is not None else None for w, p in zip(wanted, params, strict=True)
        ]
    if need_x and x is None:
        raise ValueError("bpsrm Triton kernel: the gradients of a_s and a_m (subtractive reset) need x")
    values, strides, period = _parameters(u, params)
    acc, acc_dtype = _accumulator(u.dtype)
    size, warps = _block_size(neurons, block)
    _check_neurons(neurons, size)
    programs = triton.cdiv(neurons, size)
    buffers: list[Tensor | None] = [
        torch.empty(neurons if strides[k] else programs, dtype=acc_dtype, device=u.device) if wanted[k] else None
        for k in range(5)
    ]
    x_arg = x.contiguous() if need_x else u  # type: ignore[union-attr]
    go_arg = grad_spikes.contiguous() if grad_spikes is not None else u
    gu_arg = grad_u.contiguous() if grad_u is not None else u
    as_values = values[0] if values[0] is not None else values[1]
    with _device_guard(u):
        _srm_backward_kernel[(programs,)](
            x_arg,
            u,
            go_arg,
            gu_arg,
            grad_x,
            as_values,
            *values[1:],
            *(b if b is not None else grad_x for b in buffers),
            steps,
            neurons,
            period,
            (steps - 1) * neurons,
            HAS_AS=params[0] is not None,
            S_AS=strides[0],
            S_AM=strides[1],
            S_AR=strides[2],
            S_TH=strides[3],
            S_THR=strides[4],
            MOD=period != neurons,
            HAS_GO=grad_spikes is not None,
            HAS_GU=grad_u is not None,
            DETACH=bool(detach_reset),
            KIND=int(kernel_id),
            W=float(width),
            NEED_AS=wanted[0],
            NEED_AM=wanted[1],
            NEED_AR=wanted[2],
            NEED_TH=wanted[3],
            NEED_THR=wanted[4],
            ACC=acc,
            BLOCK=size,
            HARD=bool(reset),
            num_warps=warps,
            enable_fp_fusion=False,
        )
    grads: list[Tensor | None] = []
    for buffer, stride, param in zip(buffers, strides, params, strict=True):
        if buffer is None or param is None:
            grads.append(None)
            continue
        per_period = buffer.view(-1, period).sum(0) if stride else buffer.sum()
        grads.append(reduce_to_param(per_period, param, u).to(param.dtype))
    return grad_x, grads


SRMFusedGPU = cpu.fused_function(
    "SRMFusedGPU",
    triton_forward,
    triton_backward,
    __name__,
    """The Triton kernel as an autograd.Function (eager mode), like :data:`bpsrm.neuron.kernels.cpu.SRMFusedCPU`
    (see :func:`bpsrm.neuron.kernels.cpu.fused_function`): the C kernel's context and backward with
    :func:`triton_backward`.""",
)


def srm_triton(
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    surrogate: Surrogate,
    detach_reset: bool,
    check_finite: bool,
    x: Tensor,
    reset: int = 0,
) -> tuple[Tensor, Tensor]:
    """(spikes, u) of the iterative SRM with the BP-SRM backward (BP-SRM.md sections 2-3; with ``reset`` 1,
    :data:`bpsrm.neuron.kernels.cpu.RESET_IDS`, the hard reset of sections 2.1 and 3.2) from the Triton
    kernel, for a call :func:`supports` (x after the constants, so that they can be bound first).

    Under ``torch.compile`` the custom op :func:`bpsrm.neuron.kernels.compiled.srm_forward` (which runs this
    kernel for CUDA tensors); in eager mode :class:`SRMFusedGPU` when a gradient may be wanted, the forward
    kernel alone otherwise.
    """
    kernel_id, width = surrogate.kernel_id, surrogate.width
    assert kernel_id is not None  # supports() holds only for a surrogate the kernel implements
    if torch.compiler.is_compiling():
        from .compiled import srm_forward

        return srm_forward(x, a_s, a_m, a_r, theta, theta_r, kernel_id, width, detach_reset, check_finite, reset)  # type: ignore[no-any-return]
    wanted = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, a_s, a_m, a_r, theta, theta_r)
    )
    if wanted:
        args = (kernel_id, width, detach_reset, check_finite, reset)
        return SRMFusedGPU.apply(x, a_s, a_m, a_r, theta, theta_r, *args)  # type: ignore[no-any-return]
    return triton_forward(x, a_s, a_m, a_r, theta, theta_r, check_finite, reset)


if FORCED_KERNEL == "triton" or torch.cuda.is_available():
    _load()  # now, not in the first call, which torch.compile may be tracing
