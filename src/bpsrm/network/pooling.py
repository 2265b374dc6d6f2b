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
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError

__all__ = ["MaxPool"]


class _IndexedMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int) -> Tensor:  # type: ignore[override]
        if x.dim() == 4:
            y, index = torch.ops.aten.max_pool2d_with_indices(x, [k, k], [k, k])
        else:
            y, index = torch.ops.aten.max_pool1d_with_indices(x, [k], [k])
        ctx.save_for_backward(index)
        ctx.in_shape = tuple(x.shape)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (index,) = ctx.saved_tensors
        shape = ctx.in_shape
        planes = shape[0] * shape[1]
        grad_x = torch.zeros((planes, math.prod(shape[2:])), dtype=grad.dtype, device=grad.device)
        grad_x.scatter_(1, index.reshape(planes, -1), grad.reshape(planes, -1))
        return grad_x.reshape(shape), None


class MaxPool(nn.Module):
    """Max pooling with window = stride = ``kernel_size`` over ``[N, C, L]`` or ``[N, C, H, W]`` (floor mode).

    The same values and gradients as :class:`torch.nn.MaxPool1d` / :class:`torch.nn.MaxPool2d`
    with ``stride = kernel_size`` and no padding; keeps the argmax indices, not the input.
    """

    def __init__(self, kernel_size: int, dims: int = 2) -> None:
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ParameterError(f"MaxPool: kernel_size must be an int >= 1, got {kernel_size!r}")
        if dims not in (1, 2):
            raise ParameterError(f"MaxPool: dims must be 1 or 2, got {dims!r}")
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
        if not (torch.is_grad_enabled() and x.requires_grad):
            k = self.kernel_size
            return nn.functional.max_pool2d(x, k) if self.dims == 2 else nn.functional.max_pool1d(x, k)
        return _IndexedMaxPool.apply(x, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dims={self.dims}"
