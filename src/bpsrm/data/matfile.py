"""A small, bounds-checked reader of MATLAB level 5 MAT-files (saved with -v6 or -v7, compressed or not).

scipy.io.loadmat crashes the interpreter (segmentation fault in its Cython tag
reader) on some damaged files, so bpsrm parses the bytes itself. The CWRU
reader, the recording reader and the ASL-DVS reader use this module; the tests
check it against scipy.io.loadmat on every real record and on hand-built files.

The level 5 format (MathWorks, "MAT-File Format"), as far as it is read here:

* **Header**: 128 bytes: 116 bytes of text, 8 bytes of subsystem data offset,
  a 2-byte version (0x0100) and a 2-byte endian indicator, ``IM`` when the
  file was written little-endian, ``MI`` when big-endian.
* **Tagged data elements** follow. A tag is 8 bytes, a 4-byte data type
  (miINT8 = 1 ... miUINT64 = 13, miMATRIX = 14, miCOMPRESSED = 15, miUTF8 = 16)
  and a 4-byte byte count, then the data, padded to a multiple of 8 bytes. A
  *small data element* packs the type (low 2 bytes) and a byte count of at
  most 4 (high 2 bytes) into one 4-byte word; its data is the next 4 bytes.
* **Variables**: each is one top-level miMATRIX element, or (with -v7) one
  miCOMPRESSED element whose zlib stream holds one miMATRIX element.
* **miMATRIX body**: sub-elements in this order: the *array flags* (miUINT32,
  8 bytes: the class in the low byte, complex 0x800, global 0x400, logical
  0x200), the *dimensions* (miINT32, at least two), the *array name* (miINT8),
  then for a numeric class (double ... uint64) the *real part* and, for a
  complex array, the imaginary part. The storage type of the real part may
  be narrower than the class (MATLAB stores a double array of small integers
  as miUINT8, say); :meth:`Mat5.array` returns it as stored, like
  ``scipy.io.loadmat`` does by default, :meth:`Mat5.values` as float64.

Safety: every length or offset read from the file is checked against the bytes
left in its enclosing element before it is used; a decompressed variable may
claim at most :data:`MAX_VARIABLE_BYTES` and is inflated no further than it
claims; an array has at most :data:`MAX_DIMS` dimensions and its dimensions
must match its byte count before anything is allocated. Nesting is fixed:
only a top-level miMATRIX, or one wrapped in a single miCOMPRESSED element, is
read (an miCOMPRESSED element inside another is refused), and the contents of
cell, struct and object arrays are never descended into. Every structural
problem raises :class:`MatError`, a :class:`~bpsrm.errors.DataError`; no other
exception type escapes for any input bytes (the tests fuzz this).
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError

__all__ = [
    "Mat5",
    "MatError",
    "NotRealNumeric",
    "MatrixHeader",
    "matrix_header",
    "MAT_NUMERIC_CLASSES",
    "MAX_VARIABLE_BYTES",
]

MAT_NUMERIC_CLASSES = range(6, 16)
"""MATLAB class codes of numeric arrays: double, single, int8 ... uint64."""

MAX_VARIABLE_BYTES = 1 << 30
"""The most bytes a compressed variable may inflate to (1 GiB); a larger claim is refused before inflating."""

MAX_DIMS = 32
"""The most dimensions an array may have (MATLAB's own files stay far below)."""

_HEAD_BYTES = 4096  # inflated to read a compressed variable's header: flags, <= MAX_DIMS dims, a name
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


class MatError(DataError):
    """A structural problem in a .mat file; the readers re-raise it as a DataError naming the file."""


class NotRealNumeric(MatError):
    """A sound variable that is not a real numeric array (a struct, cell, text, or complex numbers)."""


class MatrixHeader(NamedTuple):
    """The header of an miMATRIX element: array flags (class, complex), dimensions and name."""

    mx_class: int
    is_complex: bool
    dims: tuple[int, ...]
    name: str


def _tag(buf: bytes | memoryview, pos: int, end: int, order: str) -> tuple[int, int, int, int]:
    """(data type, byte count, data start, next element) of the data element at ``pos`` in ``buf[:end]``.

    The byte count is checked against the bytes left before ``end``: the data
    always lies inside the buffer. A small data element (type and count in one
    word, at most 4 bytes of data in the next word) is recognised.
    """
    if pos + 8 > end:
        raise MatError(f"truncated data element at byte {pos} ({max(end - pos, 0)} of its 8 tag bytes)")
    first, second = struct.unpack_from(order + "II", buf, pos)
    if first >> 16:  # small data element: type and byte count share the first 4 bytes, data in the next 4
        if first >> 16 > 4:
            raise MatError(f"small data element at byte {pos} claims {first >> 16} bytes (at most 4)")
        return first & 0xFFFF, first >> 16, pos + 4, pos + 8
    if second > end - pos - 8:
        raise MatError(f"data element at byte {pos} claims {second} bytes, only {end - pos - 8} left")
    return first, second, pos + 8, pos + 8 + min(-(-second // 8) * 8, end - pos - 8)


def matrix_header(
    buf: bytes | memoryview, pos: int, end: int, order: str
) -> tuple[int, bool, tuple[int, ...], str, int]:
    """(class, complex, dims, name, position after the name) of the miMATRIX body in ``buf[pos:end]``.

    The body starts with the array flags (miUINT32, 8 bytes), the dimensions
    (miINT32, 2 to :data:`MAX_DIMS` values, none negative) and the name
    (miINT8 or miUTF8, Latin-1 decoded, trailing NULs dropped).
    """
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != _MI_UINT32 or nbytes != 8:
        raise MatError(f"array flags missing (found a data element of type {mdtype}, {nbytes} bytes)")
    flags = struct.unpack_from(order + "I", buf, start)[0]
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != _MI_INT32 or nbytes % 4 or nbytes < 8:
        raise MatError(f"array dimensions missing (found a data element of type {mdtype}, {nbytes} bytes)")
    if nbytes // 4 > MAX_DIMS:
        raise MatError(f"array of {nbytes // 4} dimensions (at most {MAX_DIMS} are read)")
    dims = struct.unpack_from(f"{order}{nbytes // 4}i", buf, start)
    if min(dims) < 0:
        raise MatError(f"negative array dimensions {dims}")
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype not in (_MI_INT8, _MI_UTF8):
        raise MatError(f"array name missing (found a data element of type {mdtype})")
    name = bytes(buf[start : start + nbytes]).decode("latin-1").rstrip("\x00")
    return flags & 0xFF, bool(flags & 0x800), dims, name, pos


def _class_name(mx_class: int) -> str:
    return _MX_CLASSES.get(mx_class, "unknown class")


def _matrix_array(buf: bytes | memoryview, pos: int, end: int, order: str, name: str) -> np.ndarray:
    """The real part of the numeric miMATRIX body ``buf[pos:end]``: storage dtype, native byte order, shape dims."""
    mx_class, is_complex, dims, _, pos = matrix_header(buf, pos, end, order)
    if mx_class not in MAT_NUMERIC_CLASSES:
        raise NotRealNumeric(
            f"variable {name!r} ({_class_name(mx_class)}) is not a numeric array (MATLAB class code {mx_class})"
        )
    if is_complex:
        raise NotRealNumeric(f"variable {name!r} is complex; a real array is expected")
    mdtype, nbytes, start, _ = _tag(buf, pos, end, order)
    if mdtype not in _MI_DTYPES:
        raise MatError(f"variable {name!r} holds data of unknown MATLAB type code {mdtype} (damaged)")
    dtype = np.dtype(order + _MI_DTYPES[mdtype])
    count = math.prod(dims)
    if nbytes != count * dtype.itemsize:  # checked before anything is allocated: nbytes lies inside buf
        raise MatError(f"variable {name!r}: {nbytes} bytes of {dtype.name} data for dimensions {dims}")
    if not count and math.prod(max(d, 1) for d in dims) * dtype.itemsize > MAX_VARIABLE_BYTES:
        raise MatError(f"variable {name!r}: empty, but its dimensions {dims} are too large for an array")
    values = np.frombuffer(buf, dtype=dtype, count=count, offset=start) if count else np.empty(0, dtype)
    return values.astype(dtype.newbyteorder("=")).reshape(dims, order="F")


_V73 = (
    "a MATLAB v7.3 (HDF5) file, which this reader does not take: save it again from MATLAB with "
    "save(filename, '-v7'), or read it with h5py and write it with scipy.io.savemat"
)


class Mat5:
    """The variables of a MATLAB level 5 file: names and headers at once, values on request.

    ``names`` lists the variables in file order (a repeated name repeatedly);
    ``variables`` maps each name to ``(compressed, start, end)``, the byte range
    of its first occurrence's miMATRIX (or miCOMPRESSED) data. Raises
    :class:`MatError` for anything but a well-formed v5 file.
    """

    def __init__(self, data: bytes) -> None:
        if len(data) < 128:
            raise MatError(f"{len(data)} bytes, shorter than the 128-byte MAT-file header")
        indicator = data[126:128]
        if data[:19] == b"MATLAB 7.3 MAT-file" or data[512:516] == b"\x89HDF":
            raise MatError(_V73)
        if indicator not in (b"IM", b"MI"):
            raise MatError("no MATLAB 5 header (not a .mat file, or a MATLAB v4 file)")
        self.order = "<" if indicator == b"IM" else ">"
        version = struct.unpack_from(self.order + "H", data, 124)[0]
        if version == 0x0200:
            raise MatError(_V73)
        if version != 0x0100:
            raise MatError(f"MAT-file version {version:#06x}, expected 0x0100 (MATLAB v5 to v7)")
        self.data = data
        self.variables: dict[str, tuple[bool, int, int]] = {}  # name -> (compressed, start, end)
        self.headers: dict[str, MatrixHeader] = {}
        self.names: list[str] = []
        view, pos = memoryview(data), 128
        while pos < len(data):
            mdtype, nbytes, start, _ = _tag(data, pos, len(data), self.order)
            if nbytes == 0 or start == pos + 4:
                raise MatError(f"empty or small data element at top level, byte {pos}")
            if mdtype == _MI_MATRIX:
                header = matrix_header(data, start, start + nbytes, self.order)
            elif mdtype == _MI_COMPRESSED:
                head = _inflate(view[start : start + nbytes], _HEAD_BYTES, f"compressed element at byte {pos}")
                if len(head) < 8 or struct.unpack_from(self.order + "I", head, 0)[0] != _MI_MATRIX:
                    raise MatError(f"compressed element at byte {pos} does not hold an array")
                inner_bytes = struct.unpack_from(self.order + "I", head, 4)[0]
                header = matrix_header(head, 8, min(len(head), 8 + inner_bytes), self.order)
            else:
                raise MatError(f"data element of type {mdtype} at top level, byte {pos} (expected an array)")
            name = header[3]
            self.names.append(name)
            if name not in self.variables:
                self.variables[name] = (mdtype == _MI_COMPRESSED, start, start + nbytes)
                self.headers[name] = MatrixHeader(*header[:4])
            pos = start + nbytes

    def header(self, name: str) -> MatrixHeader:
        """Class, complex flag, dimensions and name of variable ``name`` (read without its data)."""
        return self.headers[name]

    def array(self, name: str) -> np.ndarray:
        """The real numeric variable ``name`` as stored (storage dtype, native byte order, MATLAB's shape).

        Raises :class:`MatError` for a non-numeric or complex variable or a
        damaged one, KeyError for a name that is not in the file.
        """
        compressed, start, end = self.variables[name]
        if not compressed:
            return _matrix_array(self.data, start, end, self.order, name)
        inflater = zlib.decompressobj()
        where = f"variable {name!r}"
        head = _inflate(memoryview(self.data)[start:end], 8, where, inflater)
        if len(head) < 8:
            raise MatError(f"{where}: compressed data ends after {len(head)} bytes, inside its tag")
        mdtype, nbytes = struct.unpack_from(self.order + "II", head, 0)
        if mdtype != _MI_MATRIX:
            raise MatError(f"{where}: compressed element does not hold an array (type {mdtype})")
        if nbytes > MAX_VARIABLE_BYTES:
            raise MatError(f"{where} claims {nbytes} bytes, more than this reader accepts ({MAX_VARIABLE_BYTES})")
        body = _inflate(inflater.unconsumed_tail, nbytes, where, inflater)
        if len(body) != nbytes:
            raise MatError(f"{where}: compressed data ends after {len(body)} of {nbytes} bytes")
        # The zlib stream must end here, with a matching checksum: what it holds beyond the array, or a
        # stream cut short, means damage that the array's own bytes may not show.
        if _inflate(inflater.unconsumed_tail, 1, where, inflater) or not inflater.eof:
            raise MatError(f"{where}: compressed data does not end after the {nbytes} bytes its tag claims")
        return _matrix_array(body, 0, nbytes, self.order, name)

    def values(self, name: str) -> np.ndarray:
        """The real numeric variable ``name`` as float64, in MATLAB's shape (see :meth:`array`); at most
        :data:`MAX_VARIABLE_BYTES` as float64 (a variable of bytes grows 8-fold)."""
        count = math.prod(self.headers[name].dims)
        if count * 8 > MAX_VARIABLE_BYTES:
            raise MatError(
                f"variable {name!r} holds {count} values, {count * 8} bytes as float64, more than this reader "
                f"accepts ({MAX_VARIABLE_BYTES})"
            )
        with np.errstate(invalid="ignore"):  # a signalling NaN in single precision stays NaN, without a warning
            return np.asarray(self.array(name), dtype=np.float64)


def _inflate(stream: bytes | memoryview, limit: int, where: str, inflater: Any = None) -> bytes:
    """At most ``limit`` bytes inflated from the zlib ``stream`` (MatError if the stream is damaged)."""
    if limit <= 0:  # zlib reads a limit of 0 as "no limit"
        return b""
    try:
        return (zlib.decompressobj() if inflater is None else inflater).decompress(stream, limit)
    except zlib.error as exc:
        raise MatError(f"{where}: damaged zlib data ({exc})") from None
