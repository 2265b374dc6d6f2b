"""What stands above the table of a text recording: a title or metadata (a LabVIEW LVM header block, a catman or
PULSE export's lines of settings, ``Sample Rate,25600``), a row of units under the column names, and the sample rate
such lines state.

The table's rows are the lines that split alike, by the separator of the last of the first data lines, into as
many numbers (with or without decimal commas) or clock readings as it does (:func:`table_layout`). The lines above
the first row and above the table's line of column names, none of them a row, are its head.
:mod:`bpsrm.data.recordings` reads a file refused at its head by reading the head as comments
(:func:`comment_out`), and takes the rate that the head or the comments above the table state
(:func:`rates_stated`): ``Sample rate: 25600 Hz``, ``fs = 25.6 kHz``, ``Delta_X 3.906250E-5`` (LVM's time step),
``"Delta X" "3.90625e-05"``, ``dt = 39.0625 us``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

from .text_fields import LINE_END, field_kind, lvm_comment_column, number, split_fields
from .text_fields import lines as text_lines

__all__ = [
    "TableLayout",
    "table_layout",
    "head_end",
    "layout_hint",
    "comment_out",
    "with_units",
    "rate_statement",
    "rates_stated",
]


class TableLayout(NamedTuple):
    """Where a text's table starts among its first data lines (indices into them)."""

    first_row: int
    """The table's first row of numbers."""
    names: int | None
    """The line of column names (as many names as the rows have values), right above the rows or above their row
    of units; or None."""
    units: bool
    """Whether the line of names stands above a row of units (as many fields, one of them a common unit), right
    above the rows."""
    width: int
    """Values in each row."""
    sep: str | None
    """The separator of the rows (None: spaces)."""
    named: int | None
    """Where the line right above the rows is no line of names but might name the columns (it holds names only, or
    starts with a name and splits into at least as many fields, or it is the file's first line: a header with
    spaces in a file split at spaces, a column without values), how many fields it splits into; else None."""
    clear: bool = True
    """Whether it is known which line names the columns: not so where the line of names right above the rows has
    another line of as many names right above it, unless the lower one is a row of units."""


def table_layout(lines: list[tuple[int, str]], decimal_comma: bool) -> TableLayout | None:
    """The layout of the table of ``lines`` (the first data lines of a text, as ``(number, stripped line)``), where
    lines stand above its first row; None where the first line is a row, where a line below the first row is
    none (a fault inside the table, or a last line cut short: the table is not known), or where a line above it
    starts with a number or a clock reading (a damaged row, no title). A row is a line that splits, by the
    separator of the last line, into as many numbers or clock readings as it does."""
    if len(lines) < 3:
        return None
    sep = next((s for s in (";", "\t", ",") if s in lines[-1][1]), None)
    commas = (False, True) if sep != "," else (decimal_comma,)
    width = len(split_fields(lines[-1][1], sep))

    def row(line: str) -> bool:
        fields = split_fields(line, sep)
        return len(fields) == width and all(any(field_kind(f, c) is not None for c in commas) for f in fields)

    def named(index: int) -> int | None:
        """How many fields line ``index`` splits into, where the first is a name (and the line, split at its own
        separator, is no row of numbers: a table split otherwise than its last line, cut short)."""
        line = lines[index][1]
        fields = split_fields(line, sep)
        own = split_fields(line, next((s for s in (";", "\t", ",") if s in line), None))
        if all(any(field_kind(f, c) is not None for c in commas) for f in own):
            return None
        return len(fields) if fields and all(field_kind(fields[0], c) is None for c in commas) else None

    def names(index: int) -> int | None:
        """How many fields line ``index`` splits into, where none is a number."""
        fields = split_fields(lines[index][1], sep)
        return None if any(number(f, c) is not None for f in fields for c in commas) else len(fields)

    first = next((i for i, (_, line) in enumerate(lines) if row(line)), 0)
    if first == 0 or not all(row(line) for _, line in lines[first:]) or any(named(i) is None for i in range(first)):
        return None
    lvm = lvm_comment_column(split_fields(lines[first - 1][1], sep), width) and names(first - 1) is not None
    header = first - 1 if names(first - 1) == width or lvm else None
    two = (  # two lines of as many names, one under the other (a one-column table's header may go: no harm)
        width > 1
        and header is not None
        and header >= 1
        and names(header - 1) == width
        and lines[header][0] == lines[header - 1][0] + 1
        and all(split_fields(lines[header - 1][1], sep))
    )
    units = two and _unit_row(lines[first - 1][1], sep)  # names above a row of units, a title perhaps above them
    header = first - 2 if units else header
    above = named(first - 1)
    maybe_header = (
        header is None
        and rate_statement(lines[first - 1][1]) is None
        and width > 1
        and (names(first - 1) is not None or (above is not None and above >= width))
    )
    # Two lines of as many names that are no names above units (a title above names, names above units not known
    # as such, a placeholder row NA,NA): which line names the columns is not known, and nothing is read past.
    clear = units or not two
    first_line = first == 1 and rate_statement(lines[0][1]) is None  # one line above the rows, no rate stated
    return TableLayout(first, header, units, width, sep, above if maybe_header or first_line else None, clear)


_UNITS = {
    "s", "sec", "ms", "us", "µs", "μs", "min", "h", "g", "m/s^2", "m/s²", "m/s2", "mm/s", "in/s", "ips", "m/s", "mm",
    "um", "µm", "μm", "mil", "v", "mv", "pa", "kpa", "n", "°c", "c", "°f", "k", "%", "hz", "khz", "rpm", "db", "a",
    "seconds", "second", "secs", "volt", "volts", "counts", "m/s/s", "gs",
}  # fmt: skip


def _unit_row(line: str, sep: str | None) -> bool:
    """Whether ``line`` reads as a row of units: one of its fields a common unit (``s``, ``[ms]``, ``g``, ``m/s^2``),
    none longer than 12 characters."""
    fields = [field.strip("[]() ").lower() for field in split_fields(line, sep)]
    return any(field in _UNITS for field in fields) and all(len(field) <= 12 for field in fields)


def head_end(layout: TableLayout | None) -> int | None:
    """Where the head above the table ends (the index of the table's line of names, or of its first row, among the
    first data lines), where the lines above it can be read as comments; None where there are none, or the line
    above the names is a row of units (whose time unit would be lost), or the one line above the rows names
    another number of columns (a header to mend, not a head)."""
    if layout is None or layout.units or not layout.clear:
        return None
    top = layout.names if layout.names is not None else layout.first_row
    return None if top == 0 or layout.named is not None else top


def layout_hint(lines: list[tuple[int, str]], layout: TableLayout | None) -> str:
    """What the lines above the table are and what to do, as a clause to end a refusal with ("" where nothing
    stands above it)."""
    if layout is None:
        return ""
    if layout.units and layout.names is not None:
        number, line = lines[layout.names + 1]
        return (
            f"; line {number} ({line[:40]!r}) stands between the column names and the numbers: a row of units? "
            "Mark it as a comment (# first) or remove it"
        )
    top = layout.names if layout.names is not None else layout.first_row
    columns = f"{layout.width} column" + ("s" if layout.width > 1 else "")
    if top == layout.first_row == 1 and layout.named is not None:  # one line of names, not as many as the values
        return (
            f"; line {lines[0][0]} ({lines[0][1][:40]!r}) splits into {layout.named} field"
            + ("s" if layout.named > 1 else "")
            + f" above a table of {columns}: "
            "names with spaces in a file split at spaces? a column without values? Make the names match the columns"
        )
    if top == 0:
        return ""
    where = f"line {lines[0][0]} stands" if top == 1 else f"lines {lines[0][0]} to {lines[top - 1][0]} stand"
    hint = (
        f"; {where} above the table of {columns} (from {lines[0][1][:40]!r}): a title or metadata? Mark them as "
        "comments (# or % first) or remove them, and give the sample rate they state, if any, with --sample-rate"
    )
    if top == layout.first_row and layout.named is not None:
        hint += (
            f"; where line {lines[top - 1][0]} names the columns, make its names match them (names with spaces in "
            "a file split at spaces? a column without values?)"
        )
    return hint


def comment_out(text: str, count: int) -> str:
    """``text`` with its first ``count`` lines made comments (``#`` put first), each line where it was."""
    return _replace_lines(text, count, lambda number, line: "#" + line)


def with_units(text: str, lines: list[tuple[int, str]], layout: TableLayout) -> str:
    """``text`` whose row of units (``layout.units``: the line under the names, right above the rows) becomes the
    header, the names carrying their units as a header names them (``time [ms]``, or ``time_ms`` in a
    file split at spaces; brackets around a unit dropped; a column without a unit, or whose name ends in one, in
    brackets or after ``_``, keeps its name), and whose line of names becomes a comment above it: each line where
    it was, and no comment below the header (which would send the whole file to the line-by-line reader)."""
    assert layout.names is not None
    names_line, (units_at, units_line) = lines[layout.names][1], lines[layout.names + 1]
    names = split_fields(names_line, layout.sep)
    units = [unit.strip("[]() ") for unit in split_fields(units_line, layout.sep)]
    named = [
        (f"{n}_{u}" if layout.sep is None else f"{n} [{u}]")
        if u and not _BRACKETED.search(n) and not n.lower().endswith(f"_{u.lower()}")
        else n
        for n, u in zip(names, units, strict=True)
    ]
    header = (layout.sep or "  ").join(named)
    return _replace_lines(  # a title above, the names made comments, the units line the header: no comment below
        text, units_at, lambda number, line: header if number == units_at else "#" + line
    )


def _replace_lines(text: str, count: int, replace: Callable[[int, str], str]) -> str:
    """``text`` with each of its first ``count`` lines (numbered from 1, their line ends kept) replaced."""
    head: list[str] = []
    rest = 0
    for at, end in enumerate(LINE_END.finditer(text), start=1):
        if at > count:
            break
        head.append(replace(at, text[rest : end.start()]) + end.group(0))
        rest = end.end()
    else:
        if rest < len(text) and len(head) < count:  # a last line without an end
            head.append(replace(len(head) + 1, text[rest:]))
            rest = len(text)
    return "".join(head) + text[rest:]


_BRACKETED = re.compile(r"[\[(][^\])]*[\])]\s*$")  # a name that ends in its unit: "Time (s)", "acc [g]"

_RATE_NAMES = r"sample[ _]?rate|sampling[ _]?(?:rate|frequency|freq)|sample[ _]?frequency|scan[ _]?rate|fs|sr"
_STEP_NAMES = (
    r"delta[ _]?x|delta[ _]?t|dt|sample[ _]?interval|sampling[ _]?(?:interval|period)|sample[ _]?period|time[ _]?step"
)
_VALUE = r"[+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RATE_UNITS = {"hz": 1.0, "khz": 1e3, "s/s": 1.0, "ks/s": 1e3, "sps": 1.0}
_STEP_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6}
_STATEMENT = re.compile(
    rf"^(?:(?P<rate>{_RATE_NAMES})|(?P<step>{_STEP_NAMES}))(?:_(?P<suffix_unit>hz|khz|s|ms|us))?"
    r"\s*(?:[\[(]\s*(?P<named_unit>[^\])]+?)\s*[\])])?"
    rf"\s*(?P<sep>[:=,;\t]|\s)\s*(?P<value>{_VALUE})(?:(?:\s*[,;\t]\s*|\s+)(?P=value))*"
    r"(?:\s*[,;\t]?\s*(?P<unit>[a-zµμ/]+))?$",
    re.IGNORECASE,
)
_SHORT_NAMES = ("fs", "sr", "dt")  # stated with ":" or "=" only: "fs 1" or "dt,5" may be anything
_SHORT_SPELLINGS = ("fs", "Fs", "FS", "sr", "SR", "dt")  # "dT" or "DT": a difference of temperatures


def rate_statement(line: str) -> float | None:
    """The sample rate in Hz that ``line`` states, or None: a rate (``Sample rate: 25600 Hz``, ``fs = 25.6 kHz``,
    ``Sampling frequency [Hz],25600``, ``sample_rate_hz,25600``, ``scan rate 25600 S/s``, ``Sample Rate,25600,Hz``)
    or a time step, whose inverse it is (``Delta_X 3.906250E-5``, ``dt = 39.0625 us``, ``Sample interval (ms):
    0.0390625``). The whole line must be the statement, after a comment's ``#`` or ``%``, quotes, and separators
    at its end (a spreadsheet's empty cells); ``fs``, ``sr`` and ``dt`` only with ``:`` or ``=``; a value written
    once per channel (LVM's ``Delta_X``) must be the same in every one; units written twice must agree. A rate is
    in Hz and a step in seconds where no unit is written."""
    match = _STATEMENT.match(_statement_text(line))
    if match is None:
        return None
    name = match["rate"] or match["step"]
    if name.lower() in _SHORT_NAMES and (match["sep"] not in (":", "=") or name not in _SHORT_SPELLINGS):
        return None
    value = float(match["value"])
    written = [u.lower().replace(" ", "") for u in (match["suffix_unit"], match["named_unit"], match["unit"]) if u]
    if len(set(written)) > 1:
        return None
    unit = written[0] if written else None
    if match["rate"] is not None:
        scale = _RATE_UNITS.get(unit, None) if unit else 1.0
        rate = value * scale if scale is not None else math.nan
    else:
        scale = _STEP_UNITS.get(unit, None) if unit else 1.0
        rate = 1.0 / (value * scale) if scale is not None and value > 0 else math.nan
    return rate if math.isfinite(rate) and rate > 0 else None


def rates_stated(text: str, count: int) -> list[tuple[float, str]]:
    """The rates stated by the first ``count`` lines of ``text`` (:func:`rate_statement`), each with where: ``line
    3 ('Sample rate: 25600 Hz')``."""
    stated = []
    for at, line in zip(range(1, count + 1), text_lines(text), strict=False):
        rate = rate_statement(line)
        if rate is not None:
            stated.append((rate, f"line {at} ({_statement_text(line)[:40]!r})"))
    return stated


def _statement_text(line: str) -> str:
    """``line`` as :func:`rate_statement` reads it: without a comment's ``#`` or ``%``, quotes, and separators at
    its end (a spreadsheet's empty cells)."""
    return line.strip().lstrip("#%").strip().replace('"', "").rstrip(",;\t ")
