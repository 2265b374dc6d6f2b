"""The lines and fields of a text recording: where a line ends, how a line splits, and what a field holds (a
number, a clock reading, or a name). One place for the CSV reader (:mod:`bpsrm.data.recordings`) and for what it
reads above the table (:mod:`bpsrm.data.text_head`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .clock_column import clock_kind

__all__ = ["LINE_END", "lines", "split_fields", "number", "field_kind", "lvm_comment_column"]

LINE_END = re.compile(r"\r\n|\r|\n")
"""A line's end: LF, CR LF, or an old Mac's CR alone."""


def lines(text: str) -> Iterator[str]:
    """The lines of ``text``, each ended by :data:`LINE_END` (not included), cut from it one at a time (no copy of
    the whole text)."""
    start = 0
    for end in LINE_END.finditer(text):
        yield text[start : end.start()]
        start = end.end()
    if start < len(text):
        yield text[start:]


def split_fields(line: str, sep: str | None) -> list[str]:
    """The fields of ``line`` split at ``sep`` (None: at runs of spaces and tabs), stripped, one trailing empty field
    dropped (a separator at the end of the line), and a field in double quotes unquoted."""
    fields = [field.strip() for field in (line.split(sep) if sep is not None else line.split())]
    if sep is not None and len(fields) > 1 and fields[-1] == "":
        fields.pop()  # a separator at the end of the line
    return [f[1:-1].strip() if len(f) >= 2 and f[0] == f[-1] == '"' else f for f in fields]


def number(field: str, decimal_comma: bool) -> float | None:
    """The number ``field`` writes (with a decimal comma where ``decimal_comma``), or None."""
    if decimal_comma:
        field = field.replace(",", ".")
    try:
        return float(field)
    except ValueError:
        return None


def field_kind(field: str, decimal_comma: bool) -> str | None:
    """ "number", a clock kind (:func:`~bpsrm.data.clock_column.clock_kind`), or None for a name."""
    return "number" if number(field, decimal_comma) is not None else clock_kind(field)


def lvm_comment_column(names: list[str], values: int) -> bool:
    """Whether ``names`` end in LabVIEW LVM's column "Comment", which the rows below leave empty: one name more than
    the ``values`` of a row, the last "Comment"."""
    return len(names) > 1 and len(names) == values + 1 and names[-1].lower() == "comment"
