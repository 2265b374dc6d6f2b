r"""Max pooling over non-overlapping windows that keeps only the argmax indices for its backward.

PyTorch's max pooling keeps its input *and* an int64 index per output for the backward.
After a spiking layer the input is the layer's spike tensor, which nothing else needs:
:class:`MaxPool` keeps the indices only, so the spikes are freed as soon as the pooled
output exists (4 bytes per input element less). Values and gradients are PyTorch's own:

$$
y[n, c, i] = \max_{w \in W(i)} x[n, c, w], \qquad
\frac{\partial L}{\partial x[n, c, w]} =
\begin{cases} \partial L / \partial y[n, c, i] & w = \operatorname{argmax}_{W(i)} x \\ 0 & \text{otherwise} \end{cases}
$$

with windows $W(i)$ of size k (1-D) or k x k (2-D) and stride k: each input element lies in
at most one window, so the backward is one scatter.

Contiguous float32/float64 CPU tensors go through the C kernel of :mod:`bpsrm.network.pool_cpu`
(the argmax kept as one byte per output, its place in the window; the backward one pass that writes
every input element), others through PyTorch's pooling with its int64 indices. Both choose the
argmax by PyTorch's rule, so values and gradients are the same bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..checks import whole_number
from ..errors import ShapeError
from . import native, pool_cpu

__all__ = ["MaxPool"]


def _window(x: Tensor, k: int) -> tuple[Tensor, tuple[int, int]]:
    """``x`` as 2-D planes ``[N, C, H, W]`` and the window: ``[N, C, L]`` becomes ``[N, C, 1, L]``, window (1, k)."""
    return (x.unsqueeze(2), (1, k)) if x.dim() == 3 else (x, (k, k))


def _flat_index(index: Tensor, planes_shape: tuple[int, ...], window: tuple[int, int]) -> Tensor:
    """Each window's argmax as a place in its plane (PyTorch's int64 indices) from its place in the window."""
    kh, kw = window
    width = planes_shape[3]
    rows = torch.arange(index.shape[2], device=index.device).reshape(-1, 1) * (kh * width)
    cols = torch.arange(index.shape[3], device=index.device) * kw
    local = index.long()
    return rows + cols + torch.div(local, kw, rounding_mode="floor") * width + local % kw


class _IndexedMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int) -> Tensor:  # type: ignore[override]
        planes, window = _window(x, k)
        ctx.in_shape = tuple(x.shape)
        ctx.planes_shape = tuple(planes.shape)
        ctx.window = window
        ctx.local = pool_cpu.supports(planes, window)
        if ctx.local:
            y, index = pool_cpu.max_pool_forward(planes, window, keep_index=True)
            y = y.squeeze(2) if x.dim() == 3 else y
        elif x.dim() == 4:
            y, index = torch.ops.aten.max_pool2d_with_indices(x, [k, k], [k, k])
        else:
            y, index = torch.ops.aten.max_pool1d_with_indices(x, [k], [k])
        ctx.save_for_backward(index)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (index,) = ctx.saved_tensors
        shape = ctx.in_shape
        if ctx.local:
            if not torch.is_grad_enabled():
                grad_x = pool_cpu.max_pool_backward(grad.reshape(index.shape), index, ctx.planes_shape, ctx.window)
                return grad_x.reshape(shape), None
            # a double backward: the same gradient from differentiable ops
            index = _flat_index(index, ctx.planes_shape, ctx.window)
        planes = shape[0] * shape[1]
        grad_x = torch.zeros((planes, math.prod(shape[2:])), dtype=grad.dtype, device=grad.device)
        grad_x = grad_x.scatter(1, index.reshape(planes, -1), grad.reshape(planes, -1))
        return grad_x.reshape(shape), None


class MaxPool(nn.Module):
    """Max pooling with window = stride = ``kernel_size`` over ``[N, C, L]`` or ``[N, C, H, W]`` (floor mode).

    The same values and gradients as :class:`torch.nn.MaxPool1d` / :class:`torch.nn.MaxPool2d`
    with ``stride = kernel_size`` and no padding; keeps the argmax indices, not the input.
    """

    def __init__(self, kernel_size: int, dims: int = 2) -> None:
        super().__init__()
        kernel_size = whole_number("MaxPool: kernel_size", kernel_size)
        dims = whole_number("MaxPool: dims", dims, 1, 2)
        self.kernel_size, self.dims = kernel_size, dims

    def forward(self, x: Tensor) -> Tensor:
        """Pooled ``[N, C, L // k]`` or ``[N, C, H // k, W // k]``."""
        if not isinstance(x, Tensor) or x.dim() != self.dims + 2:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            layout = "[N, C, L]" if self.dims == 1 else "[N, C, H, W]"
            raise ShapeError(f"MaxPool({self.kernel_size}) over {self.dims}-D expects {layout}, got {got}")
        if any(size < self.kernel_size for size in x.shape[2:]):
            raise ShapeError(
                f"MaxPool({self.kernel_size}): every spatial size must be >= {self.kernel_size}, got shape "
                f"{tuple(x.shape)}"
            )
        if not (torch.is_grad_enabled() and x.requires_grad) or native.functorch_active():
            # no graph to record, or torch.func's own (PyTorch's pooling has the rules it needs)
            k = self.kernel_size
            planes, window = _window(x, k)
            if pool_cpu.supports(planes, window):
                y = pool_cpu.max_pool_forward(planes, window, keep_index=False)[0]
                return y.squeeze(2) if self.dims == 1 else y
            return nn.functional.max_pool2d(x, k) if self.dims == 2 else nn.functional.max_pool1d(x, k)
        return _IndexedMaxPool.apply(x, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dims={self.dims}"
