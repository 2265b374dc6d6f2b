"""A small, bounds-checked reader of MATLAB v5 files (saved with -v6 or -v7, compressed or not).

scipy.io.loadmat crashes the interpreter (segmentation fault in its Cython tag
reader) on some damaged files, so bpsrm parses the bytes itself: every length
is checked against what is left before it is used. The CWRU reader and the
recording reader use it; the tests check it against scipy.io.loadmat on every
real record.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

__all__ = ["Mat5", "MatError", "matrix_header", "MAT_NUMERIC_CLASSES"]

MAT_NUMERIC_CLASSES = range(6, 16)
"""MATLAB class codes of numeric arrays: double, single, int8 ... uint64."""

_MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED, _MI_UTF8 = 1, 5, 6, 14, 15, 16
_MX_CLASSES = {
    1: "cell",
    2: "struct",
    3: "object",
    4: "char",
    5: "sparse",
    6: "double",
    7: "single",
    8: "int8",
    9: "uint8",
    10: "int16",
    11: "uint16",
    12: "int32",
    13: "uint32",
    14: "int64",
    15: "uint64",
    16: "function",
    17: "opaque",
}
_MAX_VARIABLE_BYTES = 1 << 30


class MatError(Exception):
    """A structural problem in a .mat file (turned into a DataError naming the file)."""


def _tag(buf: bytes, pos: int, end: int, order: str) -> tuple[int, int, int, int]:
    """(type, byte count, data start, next element) of the data element at ``pos``."""
    if pos + 8 > end:
        raise MatError(f"truncated data element at byte {pos}")
    first, second = struct.unpack_from(order + "II", buf, pos)
    if first >> 16:  # small data element: type and byte count share the first 4 bytes, data in the next 4
        if first >> 16 > 4:
            raise MatError(f"small data element at byte {pos} claims {first >> 16} bytes (at most 4)")
        return first & 0xFFFF, first >> 16, pos + 4, pos + 8
    if second > end - pos - 8:
        raise MatError(f"data element at byte {pos} claims {second} bytes, only {end - pos - 8} left")
    return first, second, pos + 8, pos + 8 + min(-(-second // 8) * 8, end - pos - 8)


def matrix_header(buf: bytes, pos: int, end: int, order: str) -> tuple[int, bool, tuple[int, ...], str, int]:
    """(class, complex, dims, name, position after the name) of the miMATRIX body in ``buf[pos:end]``."""
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != _MI_UINT32 or nbytes != 8:
        raise MatError("array flags missing")
    flags = struct.unpack_from(order + "I", buf, start)[0]
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != _MI_INT32 or nbytes % 4 or nbytes < 8:
        raise MatError("array dimensions missing")
    dims = struct.unpack_from(f"{order}{nbytes // 4}i", buf, start)
    if min(dims) < 0:
        raise MatError(f"negative array dimensions {dims}")
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype not in (_MI_INT8, _MI_UTF8):
        raise MatError("array name missing")
    name = buf[start : start + nbytes].decode("latin-1").rstrip("\x00")
    return flags & 0xFF, bool(flags & 0x800), dims, name, pos


def _matrix_values(buf: bytes, pos: int, end: int, order: str, name: str) -> np.ndarray:
    """The real part of the numeric miMATRIX body ``buf[pos:end]``, as float64 in column-major order."""
    mx_class, is_complex, dims, _, pos = matrix_header(buf, pos, end, order)
    if mx_class not in range(6, 16):
        raise MatError(f"{name} is a {_MX_CLASSES.get(mx_class, f'class-{mx_class}')} array, not numeric")
    if is_complex:
        raise MatError(f"{name} is complex")
    count = math.prod(dims)
    mdtype, nbytes, start, _ = _tag(buf, pos, end, order)
    if mdtype not in _MI_DTYPES:
        raise MatError(f"{name}: unknown storage type {mdtype}")
    dtype = np.dtype(order + _MI_DTYPES[mdtype])
    if nbytes != count * dtype.itemsize:
        raise MatError(f"{name}: {nbytes} bytes of data for dimensions {dims}")
    values = np.frombuffer(buf, dtype=dtype, count=count, offset=start).astype(np.float64)
    return values.reshape(dims, order="F")


class Mat5:
    """The variables of a MATLAB v5 file: names at once, values on request."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 128:
            raise MatError(f"{len(data)} bytes, shorter than the 128-byte MAT-file header")
        indicator = data[126:128]
        if indicator not in (b"IM", b"MI"):
            if data[:19] == b"MATLAB 7.3 MAT-file" or data[512:516] == b"\x89HDF":
                raise MatError("a MATLAB v7.3 (HDF5) file; save it with -v7 or -v6")
            raise MatError("no MATLAB 5 header (not a .mat file, or a MATLAB v4 file)")
        self.order = "<" if indicator == b"IM" else ">"
        version = struct.unpack_from(self.order + "H", data, 124)[0]
        if version != 0x0100:
            raise MatError(f"MAT-file version {version:#06x}, expected 0x0100")
        self.data = data
        self.variables: dict[str, tuple[bool, int, int]] = {}  # name -> (compressed, start, end)
        self.names: list[str] = []
        pos = 128
        while pos < len(data):
            mdtype, nbytes, start, _ = _tag(data, pos, len(data), self.order)
            if nbytes == 0 or start == pos + 4:
                raise MatError(f"empty or small data element at top level, byte {pos}")
            if mdtype == _MI_MATRIX:
                name = matrix_header(data, start, start + nbytes, self.order)[3]
            elif mdtype == _MI_COMPRESSED:
                head = zlib.decompressobj().decompress(data[start : start + nbytes], 1024)
                if len(head) < 8 or struct.unpack_from(self.order + "I", head, 0)[0] != _MI_MATRIX:
                    raise MatError(f"compressed element at byte {pos} does not hold an array")
                inner_bytes = struct.unpack_from(self.order + "I", head, 4)[0]
                name = matrix_header(head, 8, min(len(head), 8 + inner_bytes), self.order)[3]
            else:
                raise MatError(f"data element of type {mdtype} at top level, byte {pos} (expected an array)")
            self.names.append(name)
            self.variables.setdefault(name, (mdtype == _MI_COMPRESSED, start, start + nbytes))
            pos = start + nbytes

    def values(self, name: str) -> np.ndarray:
        compressed, start, end = self.variables[name]
        if not compressed:
            return _matrix_values(self.data, start, end, self.order, name)
        inflater = zlib.decompressobj()
        head = inflater.decompress(self.data[start:end], 8)
        _, nbytes = struct.unpack_from(self.order + "II", head, 0)
        if nbytes > _MAX_VARIABLE_BYTES:
            raise MatError(f"{name} claims {nbytes} bytes, more than this reader accepts")
        body = inflater.decompress(inflater.unconsumed_tail, nbytes)
        if len(body) != nbytes:
            raise MatError(f"{name}: compressed data ends after {len(body)} of {nbytes} bytes")
        return _matrix_values(body, 0, nbytes, self.order, name)
