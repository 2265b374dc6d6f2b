"""Reader of the IDX format of MNIST and Fashion-MNIST (gzipped or raw).

Layout: a 4-byte magic ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values. Only unsigned bytes (type 0x08) are used by
these datasets.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_idx"]

_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes; returns an array of its declared shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the IDX file ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: the gzip stream is damaged ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic {raw[:4].hex() or 'empty'}, expected 0000 08 0n)")
    if raw[2] != _UBYTE:
        raise DataError(f"{path}: IDX value type 0x{raw[2]:02x}, expected 0x08 (unsigned bytes)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header with {ndim} dimensions is truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} values) but the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
