"""Reader of the IDX format of MNIST and Fashion-MNIST (gzipped or raw).

Layout: a 4-byte magic ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values. Only unsigned bytes (type 0x08) are used by
these datasets.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import DataError

__all__ = ["read_idx"]

_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes; returns an array of its declared shape.

    The values are read only up to the size the header declares (the product of its sizes, in Python integers:
    no int64 wrap-around), in chunks: a gzip stream that would decompress far beyond it, or a header whose
    sizes claim more than the file can hold, is an error before its memory is taken."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
            head = stream.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataError(f"{path}: not an IDX file (magic {head.hex() or 'empty'}, expected 0000 08 0n)")
            if head[2] != _UBYTE:
                raise DataError(f"{path}: IDX value type 0x{head[2]:02x}, expected 0x08 (unsigned bytes)")
            ndim = head[3]
            sizes = stream.read(4 * ndim)
            if ndim == 0 or len(sizes) < 4 * ndim:
                raise DataError(f"{path}: IDX header with {ndim} dimensions is truncated")
            shape = tuple(int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim))
            expected = math.prod(shape)
            if not gzipped and (held := os.fstat(raw.fileno()).st_size - 4 - 4 * ndim) != expected:
                raise _mismatch(path, shape, expected, str(held))
            values = _read_at_most(stream, expected + 1)  # one more: a longer stream is an error too
    except OSError as exc:  # gzip.BadGzipFile is one
        raise DataError(f"{path}: cannot read the IDX file ({exc.strerror or exc})") from None
    except (EOFError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip stream is damaged ({exc})") from None
    if len(values) != expected:
        raise _mismatch(path, shape, expected, f"more than {expected}" if len(values) > expected else str(len(values)))
    return np.frombuffer(values, dtype=np.uint8).reshape(shape)


def _mismatch(path: Path, shape: tuple[int, ...], expected: int, held: str) -> DataError:
    return DataError(f"{path}: IDX header declares shape {shape} ({expected} values) but the file holds {held}")


def _read_at_most(stream: IO[bytes], limit: int, chunk: int = 1 << 24) -> bytes:
    """Up to ``limit`` bytes of ``stream``, read in chunks (``read(limit)`` would allocate ``limit`` at once)."""
    parts, held = [], 0
    while held < limit:
        part = stream.read(min(chunk, limit - held))
        if not part:
            break
        parts.append(part)
        held += len(part)
    return b"".join(parts)
