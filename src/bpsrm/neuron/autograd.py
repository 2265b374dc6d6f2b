r"""The BP-SRM backward pass written out as a :class:`torch.autograd.Function`.

This is the portable path: plain PyTorch tensor operations, one Python loop
over time in each direction, any device and floating dtype. It implements
BP-SRM.md sections 2 (forward) and 3 (backward) line by line.

Forward, for t = 0 .. T-1 with I[-1] = V[-1] = R[-1] = o[-1] = 0:

$$
\begin{aligned}
I[t] &= a_s I[t-1] + x[t] \\
V[t] &= a_m V[t-1] + I[t] \\
R[t] &= a_r R[t-1] + \theta_r o[t-1] \\
u[t] &= V[t] - R[t], \qquad o[t] = H(u[t] - \theta)
\end{aligned}
$$

Backward, for t = T-1 .. 0 with dR[T] = dV[T] = dI[T] = 0:

$$
\begin{aligned}
do[t] &= g_o[t] + \theta_r dR[t+1] \quad (\text{second term dropped if detach\_reset}) \\
du[t] &= g_u[t] + sg'(u[t] - \theta)\, do[t] \\
dR[t] &= a_r dR[t+1] - du[t], \quad dV[t] = a_m dV[t+1] + du[t], \quad dI[t] = a_s dI[t+1] + dV[t]
\end{aligned}
$$

with $\partial L/\partial x[t] = dI[t]$ and the parameter gradients
$\sum_t dI[t] I[t-1]$ (a_s), $\sum_t dV[t] V[t-1]$ (a_m),
$\sum_t dR[t] R[t-1]$ (a_r), $-\sum_t sg'\,do[t]$ (theta),
$\sum_t dR[t] o[t-1]$ (theta_r), each summed down to its parameter's shape.

Saved for the backward: u only (the spikes, where needed, are recomputed as
``u >= theta``, the forward's own test on the same values); x only when a_s or
a_m needs a gradient (I and V are then recomputed from it); R is recomputed
from the spikes when a_r or theta_r needs one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .finite import check_last_step
from .surrogate import Surrogate, checked_derivative

__all__ = ["SRMFunction", "SRMHardResetFunction"]


def _sum_to(grad: Tensor, like: Tensor) -> Tensor:
    """Sum ``grad`` over the dimensions along which ``like`` was broadcast."""
    if grad.shape == like.shape:
        return grad
    if like.dim() == 0:
        return grad.sum()
    return grad.sum_to_size(like.shape)


def _psp_filter(x: Tensor, a_s: Tensor | None, a_m: Tensor) -> tuple[Tensor, Tensor]:
    """I and V of the whole sequence: the linear, spike-independent part of the forward."""
    i_all = torch.empty_like(x)
    v_all = torch.empty_like(x)
    i_t = torch.zeros_like(x[0])
    v_t = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        i_t = x[t] if a_s is None else a_s * i_t + x[t]
        v_t = a_m * v_t + i_t
        i_all[t] = i_t
        v_all[t] = v_t
    return i_all, v_all


def _refractory_trace(o: Tensor, a_r: Tensor, theta_r: Tensor, dtype: torch.dtype) -> Tensor:
    """R of the whole sequence from the spikes, with the forward's own operations."""
    r_all = torch.empty(o.shape, dtype=dtype, device=o.device)
    r_t = torch.zeros(o.shape[1:], dtype=dtype, device=o.device)
    o_prev = torch.zeros_like(r_t)
    for t in range(o.shape[0]):
        r_t = a_r * r_t + theta_r * o_prev
        r_all[t] = r_t
        o_prev = o[t].to(dtype)
    return r_all


class SRMFunction(torch.autograd.Function):
    """Iterative SRM forward and explicit BP-SRM backward.

    Inputs: ``x`` [T, ...]; decays ``a_s`` (or ``None`` for the ``exp`` kernel),
    ``a_m``, ``a_r``; ``theta``, ``theta_r``; all parameter tensors broadcast
    against ``x[0]``; the surrogate, ``detach_reset`` and ``check_finite`` (a membrane that ends NaN or
    Inf raises :class:`~bpsrm.errors.NonFiniteError`). Outputs: ``(spikes, u)``, each shaped like ``x``.
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
        check_finite: bool = True,
    ) -> tuple[Tensor, Tensor]:
        steps = x.shape[0]
        u = torch.empty_like(x)
        spikes = torch.empty_like(x)
        i_t = torch.zeros_like(x[0])
        v_t = torch.zeros_like(x[0])
        r_t = torch.zeros_like(x[0])
        o_prev = torch.zeros_like(x[0])
        for t in range(steps):
            i_t = x[t] if a_s is None else a_s * i_t + x[t]
            v_t = a_m * v_t + i_t
            r_t = a_r * r_t + theta_r * o_prev
            u_t = v_t - r_t
            u[t] = u_t
            o_prev = (u[t] >= theta).to(x.dtype)  # on u as stored (rounded for half inputs): the backward's test
            spikes[t] = o_prev
        if check_finite:
            check_last_step(x, u)

        needs = ctx.needs_input_grad
        need_psp_state = bool(needs[1] or needs[2])
        ctx.set_materialize_grads(False)
        ctx.surrogate = surrogate
        ctx.detach_reset = detach_reset
        ctx.has_a_s = a_s is not None
        ctx.save_for_backward(
            u,
            x if need_psp_state else None,
            a_s,
            a_m,
            a_r,
            theta,
            theta_r,
        )
        return spikes, u

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        u, x, a_s, a_m, a_r, theta, theta_r = ctx.saved_tensors
        needs = ctx.needs_input_grad
        steps = u.shape[0]
        dtype = u.dtype
        none: tuple[None, ...] = (None,) * 9
        if grad_spikes is None and grad_u is None:
            return none

        sg = checked_derivative(ctx.surrogate, u - theta)
        need_psp_state = bool(needs[1] or needs[2])
        need_refractory = bool(needs[3] or needs[5])
        if need_psp_state:
            i_all, v_all = _psp_filter(x, a_s, a_m)
        if need_refractory:
            spikes = u >= theta
            r_all = _refractory_trace(spikes, a_r, theta_r, dtype)

        zero = torch.zeros_like(u[0])
        d_r = zero
        d_v = zero
        d_i = zero
        grad_x = torch.empty_like(u) if needs[0] else None
        g_as = torch.zeros_like(zero) if needs[1] else None
        g_am = torch.zeros_like(zero) if needs[2] else None
        g_ar = torch.zeros_like(zero) if needs[3] else None
        g_th = torch.zeros_like(zero) if needs[4] else None
        g_thr = torch.zeros_like(zero) if needs[5] else None

        for t in range(steps - 1, -1, -1):
            d_o = grad_spikes[t] if grad_spikes is not None else zero
            if not ctx.detach_reset:
                d_o = d_o + theta_r * d_r
            sg_do = sg[t] * d_o
            d_u = sg_do if grad_u is None else grad_u[t] + sg_do
            d_r = a_r * d_r - d_u
            d_v = a_m * d_v + d_u
            d_i = d_v if a_s is None else a_s * d_i + d_v
            if grad_x is not None:
                grad_x[t] = d_i
            if g_th is not None:
                g_th = g_th - sg_do
            if t > 0:
                if g_as is not None:
                    g_as = g_as + d_i * i_all[t - 1]
                if g_am is not None:
                    g_am = g_am + d_v * v_all[t - 1]
                if g_ar is not None:
                    g_ar = g_ar + d_r * r_all[t - 1]
                if g_thr is not None:
                    g_thr = g_thr + d_r * spikes[t - 1].to(dtype)

        return (
            grad_x,
            _sum_to(g_as, a_s) if g_as is not None else None,
            _sum_to(g_am, a_m) if g_am is not None else None,
            _sum_to(g_ar, a_r) if g_ar is not None else None,
            _sum_to(g_th, theta) if g_th is not None else None,
            _sum_to(g_thr, theta_r) if g_thr is not None else None,
            None,
            None,
            None,
        )


class SRMHardResetFunction(torch.autograd.Function):
    r"""The hard-reset variant (BP-SRM.md section 2.1) and its exact backward (section 3.2).

    Forward, with I[-1] = V[-1] = o[-1] = 0:

    $$
    I[t] = a_s I[t-1] + x[t],\quad V[t] = a_m (1 - o[t-1]) V[t-1] + I[t],\quad u[t] = V[t],\quad
    o[t] = H(u[t] - \theta)
    $$

    Backward, for t = T-1 .. 0 with dV[T] = dI[T] = 0:

    $$
    do[t] = g_o[t] - a_m V[t] dV[t+1] \ (\text{second term dropped if detach\_reset}),\quad
    du[t] = g_u[t] + sg'(u[t] - \theta) do[t],
    $$
    $$
    dV[t] = du[t] + a_m (1 - o[t]) dV[t+1],\quad dI[t] = a_s dI[t+1] + dV[t],\quad \partial L/\partial x[t] = dI[t],
    $$

    and $\sum_t dI[t] I[t-1]$ (a_s), $\sum_t dV[t] (1 - o[t-1]) V[t-1]$ (a_m), $-\sum_t sg'\,do[t]$ (theta).
    Inputs: ``x`` [T, ...], ``a_s`` (None for the exp kernel), ``a_m``, ``theta``, the surrogate,
    ``detach_reset``, ``check_finite``. Saved: u (= V) and, when a_s needs a gradient, x (I is recomputed).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        a_s: Tensor | None,
        a_m: Tensor,
        theta: Tensor,
        surrogate: Surrogate,
        detach_reset: bool,
        check_finite: bool = True,
    ) -> tuple[Tensor, Tensor]:
        u = torch.empty_like(x)
        spikes = torch.empty_like(x)
        i_t = torch.zeros_like(x[0])
        v_t = torch.zeros_like(x[0])
        o_prev = torch.zeros_like(x[0])
        for t in range(x.shape[0]):
            i_t = x[t] if a_s is None else a_s * i_t + x[t]
            v_t = a_m * (1 - o_prev) * v_t + i_t
            u[t] = v_t
            o_prev = (u[t] >= theta).to(x.dtype)  # on u as stored (rounded for half inputs): the backward's test
            spikes[t] = o_prev
        if check_finite:
            check_last_step(x, u)
        ctx.set_materialize_grads(False)
        ctx.surrogate, ctx.detach_reset = surrogate, detach_reset
        ctx.save_for_backward(u, x if ctx.needs_input_grad[1] else None, a_s, a_m, theta)
        return spikes, u

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_spikes: Tensor | None, grad_u: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        u, x, a_s, a_m, theta = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if grad_spikes is None and grad_u is None:
            return (None,) * 7
        sg = checked_derivative(ctx.surrogate, u - theta)
        keep = 1 - (u >= theta).to(u.dtype)  # 1 - o[t]
        i_all = _psp_filter(x, a_s, torch.zeros_like(a_m))[0] if needs[1] else None
        zero = torch.zeros_like(u[0])
        d_v = d_i = zero
        grad_x = torch.empty_like(u) if needs[0] else None
        g_as = zero if needs[1] else None
        g_am = zero if needs[2] else None
        g_th = zero if needs[3] else None
        for t in range(u.shape[0] - 1, -1, -1):
            d_o = grad_spikes[t] if grad_spikes is not None else zero
            if not ctx.detach_reset:
                d_o = d_o - a_m * u[t] * d_v
            sg_do = sg[t] * d_o
            d_u = sg_do if grad_u is None else grad_u[t] + sg_do
            d_v = d_u + a_m * keep[t] * d_v
            d_i = d_v if a_s is None else a_s * d_i + d_v
            if grad_x is not None:
                grad_x[t] = d_i
            if g_th is not None:
                g_th = g_th - sg_do
            if t > 0:
                if g_as is not None:
                    g_as = g_as + d_i * i_all[t - 1]  # type: ignore[index]
                if g_am is not None:
                    g_am = g_am + d_v * keep[t - 1] * u[t - 1]
        return (
            grad_x,
            _sum_to(g_as, a_s) if g_as is not None else None,
            _sum_to(g_am, a_m) if g_am is not None else None,
            _sum_to(g_th, theta) if g_th is not None else None,
            None,
            None,
            None,
        )
