"""The fused kernels as ``torch.library`` custom ops, the path taken under ``torch.compile``.

The ops run the fused kernel of their tensors' device: the C kernel for CPU tensors, the Triton kernel
(:mod:`bpsrm.neuron.kernels.gpu`) for CUDA tensors.

Dynamo cannot look inside the C kernel (a ctypes call) and, with dynamic shapes, trips
over the Python bookkeeping around it. As custom ops with fake (shape-only)
implementations and a registered backward, the kernel is one opaque node in the
compiled graph. The context and the backward are those of eager mode
(:func:`bpsrm.neuron.kernels.cpu.setup_context` and :func:`bpsrm.neuron.kernels.cpu.backward`, here
with ``bpsrm::srm_backward`` as the kernel): the same C code, the same numbers. Eager
mode calls :class:`bpsrm.neuron.kernels.cpu.SRMFusedCPU` instead of these ops because a custom
op costs over 100 us more per call there (144 against 27 us over the harness of
benchmarks/neuron.py's fixed-cost measurement, x [4, 1, 8]: its dispatch and autograd run in Python).

``bpsrm::srm_forward(x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset,
check_finite, reset=0) -> (spikes, u)`` is the iterative SRM (BP-SRM.md section 2), ``surrogate`` the
surrogate's ``kernel_id``; its backward, ``bpsrm::srm_backward``, is the BP-SRM backward of section 3.
``reset`` is the reset mode (:data:`bpsrm.neuron.kernels.cpu.RESET_IDS`): 0 the subtractive reset, 1 the
hard reset of sections 2.1 and 3.2 (V[t] = a_m (1 - o[t-1]) V[t-1] + I[t], u = V; a_r and theta_r unused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from . import cpu, gpu

__all__ = ["srm_forward", "srm_backward"]


@torch.library.custom_op("bpsrm::srm_forward", mutates_args=())
def srm_forward(
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
    """(spikes, u) for x [T, ...] (BP-SRM.md section 2; section 2.1 with ``reset`` 1); surrogate (its kernel
    id), width and detach_reset are for the backward; check_finite refuses a membrane that ends NaN or Inf."""
    forward = gpu.triton_forward if x.is_cuda or gpu.runs_cpu_tensors() else cpu.fused_forward
    return forward(x, a_s, a_m, a_r, theta, theta_r, check_finite, reset)


@srm_forward.register_fake
def _srm_forward_fake(x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset, check_finite, reset=0):  # type: ignore[no-untyped-def]
    like = torch.empty_like(x, memory_format=torch.contiguous_format)
    return like, torch.empty_like(like)


@torch.library.custom_op("bpsrm::srm_backward", mutates_args=())
def srm_backward(
    x: Tensor | None,
    u: Tensor,
    grad_spikes: Tensor | None,
    grad_u: Tensor | None,
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    surrogate: int,
    width: float,
    detach_reset: bool,
    needs: list[bool],
    reset: int = 0,
) -> list[Tensor]:
    """[grad_x, grad_a_s, grad_a_m, grad_a_r, grad_theta, grad_theta_r] (BP-SRM.md section 3; section 3.2 with
    ``reset`` 1), from :func:`bpsrm.neuron.kernels.cpu.fused_backward`; zeros where not needed or unused (a_r
    and theta_r of the hard reset; a_s None: empty)."""
    params = (a_s, a_m, a_r, theta, theta_r)
    backward = gpu.triton_backward if u.is_cuda or gpu.runs_cpu_tensors() else cpu.fused_backward
    grad_x, grads = backward(x, u, grad_spikes, grad_u, params, surrogate, width, detach_reset, needs, reset)
    out = [grad_x]
    for grad, param in zip(grads, params, strict=True):
        if param is None:
            out.append(torch.empty(0, dtype=u.dtype, device=u.device))
        else:
            out.append(grad if grad is not None else torch.zeros_like(param))
    return out


@srm_backward.register_fake
def _srm_backward_fake(  # type: ignore[no-untyped-def]
    x, u, grad_spikes, grad_u, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset, needs, reset=0
):
    params = (a_s, a_m, a_r, theta, theta_r)
    return [torch.empty_like(u)] + [
        torch.empty(0, dtype=u.dtype, device=u.device) if p is None else torch.empty_like(p) for p in params
    ]


def _backward_kernel(
    x: Tensor | None,
    u: Tensor,
    grad_spikes: Tensor | None,
    grad_u: Tensor | None,
    params: cpu.Params,
    surrogate: int,
    width: float,
    detach_reset: bool,
    needs: Sequence[bool],
    reset: int = 0,
) -> tuple[Tensor, list[Tensor | None]]:
    """:func:`bpsrm.neuron.kernels.cpu.fused_backward` through the custom op (None where not needed)."""
    needed = [bool(n) for n in needs]
    if reset:  # the hard reset has no a_r nor theta_r
        needed[2] = needed[4] = False
    grads = srm_backward(x, u, grad_spikes, grad_u, *params, surrogate, width, detach_reset, needed, reset)
    return grads[0], [
        g if need and p is not None else None for g, need, p in zip(grads[1:], needed, params, strict=True)
    ]


def _backward(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, ...]:
    return cpu.backward(ctx, grad_spikes, grad_u, kernel=_backward_kernel)


srm_forward.register_autograd(_backward, setup_context=cpu.setup_context)
