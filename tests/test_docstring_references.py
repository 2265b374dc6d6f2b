"""Every Sphinx cross-reference in the package's source (``:func:`name```, ``:class:``, ``:mod:``,
``:attr:``, ``:meth:``, ``:data:``, ``:exc:``) names something that exists, so a docstring does not send a
reader to a function that was renamed or moved.

A reference resolves as Sphinx would look it up from the module it stands in: a full dotted path
(``bpsrm.data.splits.drop_overlapping``), a name of the module's namespace (``Recording.channels``), or
a member of one of the module's classes (``:meth:`forward``` in a class docstring). A class attribute
counts when the class declares it (dataclass field, annotation) or its methods assign ``self.<name>``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import bpsrm

ROLE = re.compile(r":(?:func|class|mod|attr|meth|data|exc|obj|const):`~?([^`]+)`")
# __main__ runs the command line when imported; the two compiled helpers are loaded with ctypes, not imported.
NOT_IMPORTED = ("bpsrm.__main__", "bpsrm.network._network_cpu", "bpsrm.neuron.kernels._srm_cpu")


def _modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(bpsrm.__path__, "bpsrm.") if info.name not in NOT_IMPORTED]


@functools.cache
def _class_source(cls: type) -> str:
    """A class's source text ('' for builtins and classes without one), read once for every reference."""
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return ""


def _member(obj: object, name: str) -> tuple[bool, object]:
    """(found, value) of ``obj.name``; a class's declared but unset attribute is found with value None."""
    if hasattr(obj, name):
        return True, getattr(obj, name)
    if inspect.isclass(obj):
        assigned = re.compile(rf"\bself\.{re.escape(name)}\s*(?::[^=]+)?=")
        for cls in obj.__mro__:
            if name in getattr(cls, "__annotations__", {}) or assigned.search(_class_source(cls)):
                return True, None
    return False, None


def _walk(obj: object, path: list[str]) -> bool:
    for part in path:
        found, obj = _member(obj, part)
        if not found:
            return False
    return True


def _dotted(name: str) -> bool:
    """``name`` as a full dotted path: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        return _walk(module, parts[cut:])
    return False


def resolves(target: str, module: ModuleType) -> bool:
    """Whether a reference's target, as written in ``module``, names something that exists."""
    name = target.split("<")[-1].rstrip(">").strip().removesuffix("()")  # "text <target>" and "f()" forms
    if _dotted(name):
        return True
    head, *rest = name.split(".")
    if hasattr(module, head):
        return _walk(getattr(module, head), rest)
    classes = [c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__]
    return any(_walk(cls, [head, *rest]) for cls in classes)


def _references() -> list[tuple[str, str]]:
    found = []
    for name in _modules():
        source = inspect.getsource(importlib.import_module(name))
        found.extend((name, match.group(1)) for match in ROLE.finditer(source))
    return found


REFERENCES = _references()


def test_the_package_has_references_to_check() -> None:
    assert len(REFERENCES) > 200, len(REFERENCES)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("bpsrm.data.splits.drop_overlapping", True),
        ("~bpsrm.errors.DataError", True),
        ("bpsrm.engine.plots.PlotReport.skipped", True),  # a dataclass field without a default
        ("bpsrm.engine.trainer.model_record", False),  # named in run_folder.py until it was caught
        ("PlotReport.skipped", False),  # not in run_folder's namespace
        ("bpsrm.engine.run_folder", True),
        ("bpsrm.engine.no_such_module", False),
    ],
)
def test_the_resolver_tells_real_from_missing(target: str, expected: bool) -> None:
    module = importlib.import_module("bpsrm.engine.run_folder")
    assert resolves(target.lstrip("~"), module) is expected


@pytest.mark.parametrize(("module", "target"), REFERENCES, ids=[f"{m}:{t}" for m, t in REFERENCES])
def test_reference_resolves(module: str, target: str) -> None:
    assert resolves(target, importlib.import_module(module)), f"{module} refers to {target!r}, which does not exist"


DOC_NAME = re.compile(r"`(bpsrm(?:\.[A-Za-z_]\w*)+)")
# Names the docs mention that are not importable Python objects: the entry-point group of dataset plug-ins.
NOT_PYTHON = {"bpsrm.datasets"}


def _doc_names() -> list[tuple[str, str]]:
    root = Path(bpsrm.__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    found = {(str(page.relative_to(root)), m.group(1)) for page in pages for m in DOC_NAME.finditer(page.read_text())}
    return sorted(found)


DOC_NAMES = _doc_names()


def test_the_docs_have_names_to_check() -> None:
    """The list of names that are not Python stays true: each is still in the docs and still does not import."""
    names = {name for _, name in DOC_NAMES}
    assert len(names) > 20, names
    assert NOT_PYTHON <= names and not any(_dotted(name) for name in NOT_PYTHON)


CHECKED = [(page, name) for page, name in DOC_NAMES if name not in NOT_PYTHON]


@pytest.mark.parametrize(("page", "name"), CHECKED, ids=[f"{p}:{n}" for p, n in CHECKED])
def test_a_dotted_name_in_the_docs_exists(page: str, name: str) -> None:
    assert _dotted(name), f"{page} names `{name}`, which does not import"
