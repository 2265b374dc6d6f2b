"""The fields of a line of a text recording: how a line splits, and what a field holds (a number, a clock reading,
or a name). One place for the CSV reader (:mod:`bpsrm.data.recordings`) and for what it reads above the table
(:mod:`bpsrm.data.text_head`)."""

from __future__ import annotations

from .clock_column import clock_kind

__all__ = ["split_fields", "number", "field_kind"]


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
