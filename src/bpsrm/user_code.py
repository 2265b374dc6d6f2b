"""Code of one's own named in a config or on a command line: ``package.module:Name`` or ``path/to/file.py:Name``.

Datasets (:func:`bpsrm.data.dataset_class`) and surrogates (:func:`bpsrm.neuron.surrogate.surrogate_class`) are
found this way when they are not registered by name. A module is imported as Python would (and from the current
folder, as ``python -m`` would); a ``.py`` file is loaded once per process under a name kept in ``sys.modules``,
so that pickling finds its classes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from .errors import BpsrmError, ParameterError, shown

__all__ = ["SPEC_FORMS", "load_attribute"]

SPEC_FORMS = "'package.module:ClassName' or 'path/to/file.py:ClassName'"
"""The two ways to name code of one's own, as error messages write them."""


def load_attribute(spec: str, what: str, error: type[BpsrmError]) -> object:
    """The object ``module:attribute`` names (the module may be a .py file's path).

    Args:
        spec: ``package.module:Name`` or ``path/to/file.py:Name``.
        what: what is being loaded ("dataset", "surrogate"), for the messages.
        error: the error raised when the module cannot be imported or lacks the name (a ParameterError is raised
            for a spec of neither form).
    """
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute.isidentifier():
        raise ParameterError(f"{what} {shown(spec)}: expected {SPEC_FORMS}")
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


def _load_file(spec: str, file_name: str, what: str, error: type[BpsrmError]) -> Any:
    """The module of a .py file, loaded once per process (kept in sys.modules, so that pickling finds it)."""
    path = Path(file_name).expanduser().resolve()
    if not path.is_file():
        raise error(f"{what} {shown(spec)}: no such file {path}")
    unique = f"bpsrm_user_{what}_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
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
