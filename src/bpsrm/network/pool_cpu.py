r"""The C max-pooling kernel (``pool_cpu.c``, in the library of :mod:`bpsrm.network.native`): its binding.

Non-overlapping windows (stride = kernel), floor mode, contiguous float32/float64 CPU tensors:

$$
y[n, c, i] = \max_{w \in W(i)} x[n, c, w],
$$

with the argmax of each window kept as its place in the window (one byte; PyTorch keeps an
int64 per output) and chosen by PyTorch's own CPU rule: the window is scanned row by row and an
element replaces the running maximum when it is larger or NaN. So ties, which most windows of
spikes are (all zeros), and NaN send the gradient where :func:`torch.nn.functional.max_pool2d` sends it.
The backward writes the whole input gradient in one pass (no zero fill, then scatter).

:func:`supports` tells whether a tensor can take this path; :class:`bpsrm.network.pooling.MaxPool`
chooses. ``BPSRM_KERNEL=portable`` turns it off, as it turns off the fused neuron.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from . import native

__all__ = ["available", "supports", "max_pool_forward", "max_pool_backward"]

_MAX_WINDOW = 256  # places in a window that one byte can name
_ARGS = [ctypes.c_void_p] * 3 + [ctypes.c_long] * 5 + [ctypes.c_int]
_FORWARD = native.functions("bpsrm_maxpool_forward", _ARGS)
_BACKWARD = native.functions("bpsrm_maxpool_backward", _ARGS)
# dtype -> (forward, backward); empty when the library is not there (PyTorch's pooling runs instead)
_FUNCTIONS = {dtype: (_FORWARD[dtype], _BACKWARD[dtype]) for dtype in _FORWARD if dtype in _BACKWARD}


def available() -> bool:
    """True when the kernel is built, loads, and is not turned off (``BPSRM_KERNEL=portable``)."""
    return bool(_FUNCTIONS)


def supports(x: Tensor, window: tuple[int, int]) -> bool:
    """Whether ``x`` ``[N, C, H, W]`` pooled by ``window`` = (kh, kw) can take the kernel: a contiguous
    float32/float64 CPU tensor, a window of at most 256 places, outside ``torch.compile`` tracing and
    ``torch.func`` transforms, with no forward-mode tangent (the kernel would drop it)."""
    return (
        x.dtype in _FUNCTIONS
        and x.is_cpu
        and x.dim() == 4
        and x.is_contiguous()
        and window[0] * window[1] <= _MAX_WINDOW
        and native.plain_eager()
        and not native.has_tangent(x)
    )


def _plane_sizes(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return shape[0] * shape[1], shape[2], shape[3]


def max_pool_forward(x: Tensor, window: tuple[int, int], keep_index: bool) -> tuple[Tensor, Tensor | None]:
    """``(y, index)``: the pooled ``[N, C, H // kh, W // kw]`` and, with ``keep_index``, the argmax of each
    window as ``a * kw + b`` (uint8, the shape of y). ``x`` must pass :func:`supports`."""
    kh, kw = window
    planes, height, width = _plane_sizes(tuple(x.shape))
    y = torch.empty((x.shape[0], x.shape[1], height // kh, width // kw), dtype=x.dtype)
    index = torch.empty(y.shape, dtype=torch.uint8) if keep_index else None
    forward = _FUNCTIONS[x.dtype][0]
    forward(
        x.data_ptr(),
        y.data_ptr(),
        index.data_ptr() if index is not None else None,
        planes,
        height,
        width,
        kh,
        kw,
        torch.get_num_threads(),
    )
    return y, index


def max_pool_backward(grad: Tensor, index: Tensor, input_shape: tuple[int, ...], window: tuple[int, int]) -> Tensor:
    """The gradient wrt the input of :func:`max_pool_forward`: ``grad`` at each window's argmax, 0 elsewhere."""
    kh, kw = window
    planes, height, width = _plane_sizes(input_shape)
    grad, index = grad.contiguous(), index.contiguous()  # a saved-tensor hook may hand back another layout
    grad_x = torch.empty(input_shape, dtype=grad.dtype)
    backward = _FUNCTIONS[grad.dtype][1]
    backward(
        grad.data_ptr(), index.data_ptr(), grad_x.data_ptr(), planes, height, width, kh, kw, torch.get_num_threads()
    )
    return grad_x
