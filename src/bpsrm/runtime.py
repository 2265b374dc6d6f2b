"""Process settings the `bpsrm` command applies (the library itself changes none on import).

Allocator: a training step allocates tensors of the same shapes every step.
With glibc's default settings, every large tensor is fresh memory from mmap
that the kernel must fault in and zero, and freed memory is returned at once;
PyTorch's CPU performance guide recommends keeping it instead. With glibc,
:func:`tune_allocator` serves every block from the heap (``M_MMAP_MAX`` = 0, and
``M_MMAP_THRESHOLD`` at its maximum of 32 MiB should that be refused) and sets
``M_TRIM_THRESHOLD`` and ``M_TOP_PAD`` high: freed memory is kept and reused.
Without ``M_MMAP_MAX`` = 0, blocks above 32 MiB (a [1024, 16, 1024] float32
tensor is 64 MiB) would still be mapped afresh for every tensor: measured on
the neuron benchmark at T = 1024, 120 us per step instead of 57. The price:
the process keeps what it held at its peak (a freed 512 MiB tensor stays
resident), and tensors made on other threads than the main one are still
mapped afresh (glibc's per-thread arenas); training's steps run on the main
thread. The command line calls it unless
``--allocator default`` or ``BPSRM_ALLOCATOR=default`` is given; a preloaded
jemalloc or tcmalloc (``LD_PRELOAD``) is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_allocator", "allocator_state"]

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_state = "default"


def allocator_state() -> str:
    """ "default", "glibc-tuned", "preloaded (...)" or "unavailable (...)"."""
    return _state


def tune_allocator() -> str:
    """Keep freed memory for reuse (glibc mallopt); returns what was done. Idempotent."""
    global _state
    preload = os.environ.get("LD_PRELOAD", "")
    if any(name in preload for name in ("jemalloc", "tcmalloc", "mimalloc")):
        _state = f"preloaded ({os.path.basename(preload.split(':')[0])})"
        return _state
    if not sys.platform.startswith("linux"):
        _state = "unavailable (not Linux)"
        return _state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        _state = "unavailable (no glibc mallopt)"
        return _state
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1
    ok &= mallopt(_M_MMAP_MAX, 0) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    ok &= mallopt(_M_TOP_PAD, 256 * 1024 * 1024) == 1
    _state = "glibc-tuned" if ok else "unavailable (mallopt refused)"
    return _state
