"""The fused CPU kernel as ``torch.library`` custom ops, the path taken under ``torch.compile``.

Dynamo cannot look inside the C kernel (a ctypes call) and, with dynamic shapes, trips
over the Python bookkeeping around it. As custom ops with fake (shape-only)
implementations and a registered backward, the kernel is one opaque node in the
compiled graph: the same C code, the same numbers as eager mode
(:class:`bpsrm.kernels.cpu.SRMFusedCPU`, which eager mode keeps using because it
dispatches with less overhead).

``bpsrm::srm_forward(x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset)
-> (spikes, u)`` is the iterative SRM (BP-SRM.md section 2); its backward,
``bpsrm::srm_backward``, is the BP-SRM backward of section 3.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..surrogate import SURROGATES
from . import cpu

__all__ = ["srm_forward", "srm_backward"]


@torch.library.custom_op("bpsrm::srm_forward", mutates_args=())
def srm_forward(
    x: Tensor,
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    surrogate: str,
    width: float,
    detach_reset: bool,
) -> tuple[Tensor, Tensor]:
    """(spikes, u) for x [T, ...]; surrogate, width and detach_reset are for the backward."""
    return cpu.fused_forward(x.contiguous(), a_s, a_m, a_r, theta, theta_r)


@srm_forward.register_fake
def _srm_forward_fake(x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset):  # type: ignore[no-untyped-def]
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
    surrogate: str,
    width: float,
    detach_reset: bool,
    needs: list[bool],
) -> list[Tensor]:
    """[grad_x, grad_a_s, grad_a_m, grad_a_r, grad_theta, grad_theta_r]; zeros where not needed (a_s None: empty)."""
    params = (a_s, a_m, a_r, theta, theta_r)
    grad_x, grads = cpu.fused_backward(
        x,
        u,
        grad_spikes,
        grad_u,
        params,
        SURROGATES[surrogate](width),  # type: ignore[call-arg]
        detach_reset,
        tuple(needs),  # type: ignore[arg-type]
    )
    out = [grad_x]
    for grad, param in zip(grads, params, strict=True):
        if param is None:
            out.append(torch.empty(0, dtype=u.dtype))
        else:
            out.append(grad if grad is not None else torch.zeros_like(param))
    return out


@srm_backward.register_fake
def _srm_backward_fake(x, u, grad_spikes, grad_u, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset, needs):  # type: ignore[no-untyped-def]
    params = (a_s, a_m, a_r, theta, theta_r)
    return [torch.empty_like(u)] + [torch.empty(0, dtype=u.dtype) if p is None else torch.empty_like(p) for p in params]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    x, a_s, a_m, a_r, theta, theta_r, surrogate, width, detach_reset = inputs
    needs = ctx.needs_input_grad
    ctx.set_materialize_grads(False)  # an unused output's gradient stays None: the kernel skips it
    ctx.save_for_backward(x if (needs[1] or needs[2]) else None, output[1], a_s, a_m, a_r, theta, theta_r)
    ctx.surrogate, ctx.width, ctx.detach_reset = surrogate, width, detach_reset


def _backward(ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None) -> tuple[Tensor | None, ...]:
    x, u, a_s, a_m, a_r, theta, theta_r = ctx.saved_tensors
    if grad_spikes is None and grad_u is None:
        return (None,) * 9
    needs = [bool(n) for n in ctx.needs_input_grad[1:6]]
    grads = srm_backward(
        x, u, grad_spikes, grad_u, a_s, a_m, a_r, theta, theta_r, ctx.surrogate, ctx.width, ctx.detach_reset, needs
    )
    params = (a_s, a_m, a_r, theta, theta_r)
    param_grads = [g if need and p is not None else None for g, need, p in zip(grads[1:], needs, params, strict=True)]
    return (grads[0] if ctx.needs_input_grad[0] else None, *param_grads, None, None, None)


srm_forward.register_autograd(_backward, setup_context=_setup_context)
