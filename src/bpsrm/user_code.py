"""Code of one's own named in a config or on a command line: ``package.module:Name`` or ``path/to/file.py:Name``.

Datasets (:func:`bpsrm.data.base.dataset_class`) and surrogates (:func:`bpsrm.neuron.surrogate.surrogate_class`) are
found this way when they are not registered by name. A module is imported as Python would (and from the current
folder, as ``python -m`` would); a ``.py`` file is loaded once per process (whether a dataset or a surrogate of
it is named first) under a name kept in ``sys.modules``, so that pickling finds its classes in this process and
its forks; a process started afresh (spawn) must load the file again, as a run that rebuilds from its config does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from .errors import BpsrmError, ParameterError, shown

__all__ = ["SPEC_FORMS", "check_spec", "load_attribute", "find_class"]

SPEC_FORMS = "'package.module:ClassName' or 'path/to/file.py:ClassName'"
"""The two ways to name code of one's own, as error messages write them."""


def check_spec(spec: str, what: str) -> tuple[str, str]:
    """(module, attribute) of a ``module:attribute`` spec, its form checked and nothing imported (a config names
    code of one's own that only the run that builds the model loads); a ParameterError for any other form."""
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute.isidentifier():
        raise ParameterError(f"{what} {shown(spec)}: expected {SPEC_FORMS}")
    return module_name, attribute


def load_attribute(spec: str, what: str, error: type[BpsrmError]) -> object:
    """The object ``module:attribute`` names (the module may be a .py file's path).

    Args:
        spec: ``package.module:Name`` or ``path/to/file.py:Name``.
        what: what is being loaded ("dataset", "surrogate"), for the messages.
        error: the error raised when the module cannot be imported or lacks the name (a ParameterError is raised
            for a spec of neither form).
    """
    module_name, attribute = check_spec(spec, what)
    try:
        if module_name.endswith(".py"):
            module = _load_file(spec, module_name, what, error)
        else:
            module = _import_module(module_name)
    except BpsrmError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module's own code: any error it raises, sys.exit too
        failure = f"{type(exc).__name__}: {exc}"
        raise error(f"{what} {shown(spec)}: importing {module_name} failed ({failure})") from None
    if not hasattr(module, attribute):
        raise error(f"{what} {shown(spec)}: {module_name} has no {shown(attribute)}")
    return getattr(module, attribute)


def find_class(
    name: str,
    registry: MutableMapping[str, Any],
    group: str,
    what: str,
    base: tuple[type, str],
    error: type[BpsrmError],
) -> type | None:
    """The class ``name`` names: ``registry[name]``, else the class of a ``module:Name`` spec
    (:func:`load_attribute`), else what an installed package offers as ``name`` in the entry-point ``group`` (kept
    in ``registry`` once loaded: a scan of the installed packages takes milliseconds); None when nothing is called
    so (the caller says what was expected). ``base`` is (the class it must derive from, its public name);
    ``error`` is raised, naming ``what``, for code that cannot be loaded."""
    found: object = registry.get(name)
    if found is None and ":" in name:
        found = load_attribute(name, what, error)
    elif found is None:
        from importlib.metadata import entry_points

        for point in entry_points(group=group):
            if point.name == name:
                try:
                    found = point.load()
                except (Exception, SystemExit) as exc:  # the package's own code: any error it raises
                    where = f"{what} {shown(name)} (entry point {point.value})"
                    raise error(f"{where}: cannot be loaded ({exc})") from None
                _check_class(name, found, what, base)
                registry[name] = found
                break
        else:
            return None
    return _check_class(name, found, what, base)


def _check_class(name: str, found: object, what: str, base: tuple[type, str]) -> type:
    if not (isinstance(found, type) and issubclass(found, base[0])):
        raise ParameterError(f"{what} {shown(name)} is {shown(found)}, not a subclass of {base[1]}")
    return found


def _load_file(spec: str, file_name: str, what: str, error: type[BpsrmError]) -> Any:
    """The module of a .py file, loaded once per process (kept in sys.modules: pickling here and in forks finds it)."""
    path = Path(file_name).expanduser().resolve()
    if not path.is_file():
        raise error(f"{what} {shown(spec)}: no such file {path}")
    unique = f"bpsrm_user_code_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"  # one per file
    if unique in sys.modules:
        return sys.modules[unique]
    loader_spec = importlib.util.spec_from_file_location(unique, path)
    assert loader_spec is not None and loader_spec.loader is not None
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[unique] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def _import_module(name: str) -> Any:
    """``importlib.import_module``, also from the current folder as ``python -m`` would (the ``bpsrm``
    command's own search path does not hold it)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != name.split(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(name)
