"""Reference pages generated from the code itself: every config key, and the command line.

The docs site (``mkdocs build``) writes these pages at build time, so they cannot
drift from the schema or the parser:

- :func:`config_reference`: one row per dotted config key, with its type, default,
  allowed range (the validator's own table) and meaning (the attribute docstring
  written under the field in ``bpsrm/engine/config.py``);
- :func:`cli_reference`: every ``bpsrm`` command with its arguments, from the argparse
  parser that the command line runs.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import typing
from typing import Any

from .errors import BpsrmError

__all__ = ["config_fields", "config_reference", "cli_reference"]


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> the string literal written right under it in the class body."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    docs: dict[str, str] = {}
    statements = getattr(body, "body", [])
    for node, after in itertools.pairwise(statements):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{}" if not value else repr(value)
    return str(value)


def config_fields(config_cls: type | None = None, prefix: str = "") -> list[dict[str, str]]:
    """Every leaf key of the config schema: ``key``, ``type``, ``default``, ``range``, ``meaning``.

    Raises BpsrmError when a field has no attribute docstring: the reference must be complete.
    """
    from .engine.config import Config, range_of, type_name

    cls = config_cls or Config
    hints = typing.get_type_hints(cls)
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's fields, and those it inherits
        if dataclasses.is_dataclass(klass):
            docs.update(_attribute_docs(klass))
    rows: list[dict[str, str]] = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows += config_fields(tp, key + ".")  # type: ignore[arg-type]
            continue
        if f.name not in docs:
            raise BpsrmError(f"config key {key} ({cls.__name__}.{f.name}) has no docstring under its field")
        check = range_of(key)
        rows.append(
            {
                "key": key,
                "type": type_name(tp),
                "default": _yaml_value(_default(f)),
                "range": check[1] if check else "",
                "meaning": docs[f.name],
            }
        )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def config_reference(config_cls: type | None = None) -> str:
    """The config reference page (Markdown)."""
    lines = [
        "# Config reference",
        "",
        "Generated from the schema in `bpsrm/engine/config.py` when the docs are built. Every key is",
        "validated before training starts; a wrong one is an error naming the dotted key. On the command line,",
        "`bpsrm train CONFIG key.sub=value` overrides any key.",
        "",
        "| key | type | default | range | meaning |",
        "|---|---|---|---|---|",
    ]
    for row in config_fields(config_cls):
        lines.append(
            f"| `{row['key']}` | {_cell(row['type'])} | `{_cell(row['default'])}` | {_cell(row['range'])} "
            f"| {_cell(row['meaning'])} |"
        )
    return "\n".join(lines) + "\n"


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        metavar = " ".join(action.metavar) if isinstance(action.metavar, tuple) else action.metavar
        name = ", ".join(action.option_strings) if action.option_strings else metavar or action.dest
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            name += " {" + ",".join(map(str, action.choices)) + "}"
        default = "" if action.default in (None, argparse.SUPPRESS, []) else f"`{action.default}`"
        rows.append(f"| `{_cell(str(name))}` | {default} | {_cell(action.help or '')} |")
    return rows if len(rows) > 2 else []


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The command-line reference page (Markdown), from the parser ``bpsrm`` itself runs."""
    from .cli import build_parser

    parser = parser or build_parser()
    lines = [
        "# Command-line reference",
        "",
        "Generated from the `bpsrm` argument parser when the docs are built.",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        *_arguments(parser),
        "",
    ]

    def walk(sub: argparse.ArgumentParser, path: str) -> None:
        for name, child in _subparsers(sub).items():
            full = f"{path} {name}"
            lines.extend([f"## `{full}`", "", (child.description or _help_of(sub, name) or "").strip(), ""])
            lines.extend(["```text", child.format_usage().strip(), "```", ""])
            args = _arguments(child)
            if args:
                lines.extend([*args, ""])
            walk(child, full)

    walk(parser, "bpsrm")
    return "\n".join(lines)


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""
