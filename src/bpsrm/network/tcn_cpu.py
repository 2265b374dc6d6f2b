r"""The C kernels of TCN in training (``tcn_cpu.c``, in the library of :mod:`bpsrm.network.native`).

For z ``[T, B, C, *S]`` (contiguous, float32/float64, CPU) with statistics per channel c over the
N = T B S values of c and the affine per (t, c) (BP-SRM.md section 4):

- :func:`moments`: $\mu[c] = \frac{1}{N}\sum z$, $\sigma^2[c] = \frac{1}{N}\sum (z - \mu[c])^2$
  (two passes, accumulated in double);
- :func:`step_sums`: $\sum_{b,s} g$ and $\sum_{b,s} g\,(z - \mu[c])$ per (t, c), in double;
- :func:`input_gradient`: $\partial z = k_g[t, c]\,g + k_z[c]\,(z - \mu[c]) + k_c[c]$, one pass.

:class:`bpsrm.network.norm.TemporalChannelNorm` chooses them (:func:`supports`); ``BPSRM_KERNEL=portable``
turns them off.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from . import native

__all__ = ["available", "supports", "moments", "step_sums", "input_gradient"]

_P, _L, _I = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
_MOMENTS = native.functions("bpsrm_tcn_moments", [_P, _L, _L, _L, _P, _P, _I])
_SUMS = native.functions("bpsrm_tcn_sums", [_P, _P, _P, _L, _L, _L, _L, _L, _P, _P, _I])
_GRAD = native.functions("bpsrm_tcn_grad", [_P] * 7 + [_L] * 5 + [_I])


def available() -> bool:
    """True when the kernels are built, load, and are not turned off (``BPSRM_KERNEL=portable``)."""
    return bool(_MOMENTS and _SUMS and _GRAD)


def supports(z: Tensor) -> bool:
    """Whether ``z`` ``[T, B, C, *S]`` can take the kernels: a float32/float64 CPU tensor, contiguous or one
    contiguous ``[B, C, *S]`` block repeated over T (stride 0: direct encoding's first layer), outside
    ``torch.compile`` tracing and ``torch.func`` transforms. The backward kernels take a contiguous gradient."""
    return (
        z.dtype in _MOMENTS
        and z.dtype in _SUMS
        and z.dtype in _GRAD
        and z.is_cpu
        and z.dim() >= 3
        and (z.is_contiguous() or (z.stride(0) == 0 and z[0].is_contiguous()))
        and native.plain_eager()
    )


def _z_step(z: Tensor) -> int:
    """Elements between the steps of z: B C S, or 0 when one block repeats."""
    return 0 if z.shape[0] > 1 and z.stride(0) == 0 else z[0].numel()


def _sizes(z: Tensor) -> tuple[int, int, int, int]:
    spatial = 1
    for size in z.shape[3:]:
        spatial *= size
    return z.shape[0], z.shape[1], z.shape[2], spatial


def moments(z: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean, var)`` per channel, float64 ``[C]``; var is the biased (1/N) variance. A block repeated over T
    has the moments of one copy."""
    steps, batch, channels, spatial = _sizes(z)
    rows = batch if _z_step(z) == 0 else steps * batch
    mean = torch.empty(channels, dtype=torch.float64)
    var = torch.empty(channels, dtype=torch.float64)
    _MOMENTS[z.dtype](z.data_ptr(), rows, channels, spatial, mean.data_ptr(), var.data_ptr(), _threads())
    return mean, var


def step_sums(grad: Tensor, z: Tensor, mean: Tensor) -> tuple[Tensor, Tensor]:
    """``(sum_g, sum_gz)``, float64 ``[T, C]``: the sums over (b, s) of g and of g (z - mean[c])."""
    steps, batch, channels, spatial = _sizes(z)
    mean = mean.to(torch.float64).contiguous()
    sum_g = torch.empty((steps, channels), dtype=torch.float64)
    sum_gz = torch.empty((steps, channels), dtype=torch.float64)
    _SUMS[z.dtype](
        grad.data_ptr(),
        z.data_ptr(),
        mean.data_ptr(),
        steps,
        batch,
        channels,
        spatial,
        _z_step(z),
        sum_g.data_ptr(),
        sum_gz.data_ptr(),
        _threads(),
    )
    return sum_g, sum_gz


def input_gradient(grad: Tensor, z: Tensor, mean: Tensor, k_g: Tensor, k_z: Tensor, k_c: Tensor) -> Tensor:
    """``k_g[t, c] g + k_z[c] (z - mean[c]) + k_c[c]`` in z's dtype (``k_g`` is ``[T, C]``, the others ``[C]``)."""
    steps, batch, channels, spatial = _sizes(z)
    mean, k_g, k_z, k_c = (p.to(z.dtype).contiguous() for p in (mean, k_g, k_z, k_c))
    out = torch.empty(z.shape, dtype=z.dtype)
    _GRAD[z.dtype](
        grad.data_ptr(),
        z.data_ptr(),
        mean.data_ptr(),
        k_g.data_ptr(),
        k_z.data_ptr(),
        k_c.data_ptr(),
        out.data_ptr(),
        steps,
        batch,
        channels,
        spatial,
        _z_step(z),
        _threads(),
    )
    return out


def _threads() -> int:
    return torch.get_num_threads()
