"""The network's C kernels, ``pool_cpu.c`` and ``tcn_cpu.c``, built at install time into one library
(``_network_cpu``) and loaded here with ctypes, once.

Each kernel comes in a float32 and a float64 version, ``<name>_f32`` and ``<name>_f64``:
:func:`functions` returns them by dtype, or nothing when the library was not built (no C compiler at
install time), does not hold the name (a stale build), or ``BPSRM_KERNEL=portable`` turns the fused
kernels off; the callers then run PyTorch's operations instead.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD

from ..neuron.kernels import FORCED_KERNEL
from ..neuron.kernels.cpu import extension_path

__all__ = ["ABI", "available", "functions", "library_path", "functorch_active", "plain_eager", "has_tangent"]


def library_path() -> Path | None:
    """Where the built library lies, or None."""
    return extension_path(Path(__file__).resolve().parent, "_network_cpu")


ABI = 1
"""The version of the kernels' signatures this module was written for: ``bpsrm_network_abi()`` of the
library (pool_cpu.c) must return it, so that a stale build is not called with other arguments."""


def _load() -> ctypes.CDLL | None:
    path = library_path()
    if path is None or FORCED_KERNEL == "portable":
        return None
    try:
        library = ctypes.CDLL(str(path))
        version = library.bpsrm_network_abi
        version.argtypes, version.restype = [], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return library if version() == ABI else None


_LIBRARY = _load()


def available() -> bool:
    """True when the library is built, loads, has the signatures of :data:`ABI`, and is not turned off."""
    return _LIBRARY is not None


def functions(name: str, argtypes: Sequence[Any]) -> dict[torch.dtype, Any]:
    """``{torch.float32: <name>_f32, torch.float64: <name>_f64}`` with their argument types set (no result),
    or ``{}`` when the library or either function is missing."""
    if _LIBRARY is None:
        return {}
    found = {}
    for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
        function = getattr(_LIBRARY, f"{name}_{suffix}", None)
        if function is None:
            return {}
        function.argtypes, function.restype = list(argtypes), None
        found[dtype] = function
    return found


_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", None)


def functorch_active() -> bool:
    """True inside a ``torch.func`` transform (vmap, grad, jacrev, ...)."""
    return _functorch_active is not None and bool(_functorch_active())


def plain_eager() -> bool:
    """True outside ``torch.compile`` tracing and ``torch.func`` transforms: the kernels read tensors through
    their data pointers, which a traced or batched tensor does not have."""
    return not torch.compiler.is_compiling() and not functorch_active()


def has_tangent(x: torch.Tensor) -> bool:
    """True when ``x`` carries a forward-mode tangent (``torch.autograd.forward_ad``), which only PyTorch's
    operations propagate."""
    return fwAD.unpack_dual(x).tangent is not None
