"""The package's layout: the grouped modules import in the documented direction, the flat names of
earlier versions still import (as the very same module objects), and every module has its row in
docs/architecture.md."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import bpsrm
from conftest import REPO

SRC = REPO / "src" / "bpsrm"

# What each group may import from bpsrm (besides itself): the rules stated in docs/architecture.md.
ALLOWED = {
    "neuron": {"errors", "checks", "user_code"},
    "network": {"errors", "checks", "user_code", "neuron"},
    "data": {"errors", "checks", "files", "user_code"},
}


def _bpsrm_imports(path: Path) -> set[str]:
    """The first-level bpsrm names (``neuron``, ``errors``, ...) that one module imports."""
    module_parts = path.relative_to(SRC.parent).with_suffix("").parts
    package = module_parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "bpsrm":
                target = node.module.split(".")
            else:
                continue
            if len(target) >= 2:
                found.add(target[1])
            else:  # "from .. import x" at the package's top: x is the first-level name
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "bpsrm" and len(parts) >= 2:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("group", sorted(ALLOWED))
def test_a_group_imports_only_what_lies_before_it(group: str) -> None:
    files = sorted((SRC / group).rglob("*.py"))
    assert files, group
    wrong = {
        str(f.relative_to(SRC)): sorted(_bpsrm_imports(f) - ALLOWED[group] - {group})
        for f in files
        if _bpsrm_imports(f) - ALLOWED[group] - {group}
    }
    assert not wrong, f"imports against the layout rules: {wrong}"


def test_the_import_checker_sees_relative_imports_and_imports_inside_functions() -> None:
    assert {"neuron", "errors"} <= _bpsrm_imports(SRC / "network" / "models.py")
    assert "deploy" in _bpsrm_imports(SRC / "engine" / "crossload.py")  # imported inside a function
    assert "neuron" in _bpsrm_imports(SRC / "network" / "__init__.py") | _bpsrm_imports(SRC / "network" / "layers.py")


@pytest.mark.parametrize(("old", "new"), sorted(bpsrm.MOVED_MODULES.items()))
def test_an_old_module_name_is_the_new_module(old: str, new: str) -> None:
    old_module = importlib.import_module(old)
    new_module = importlib.import_module(new)
    assert old_module is new_module
    assert new_module.__name__ == new and new_module.__spec__.name == new
    assert Path(new_module.__file__).is_relative_to(SRC)


def test_every_moved_module_exists_at_its_new_name() -> None:
    for new in bpsrm.MOVED_MODULES.values():
        relative = Path(*new.split(".")[1:])
        assert (SRC / f"{relative}.py").is_file() or (SRC / relative / "__init__.py").is_file(), new


def test_patching_through_an_old_name_reaches_the_code_that_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    calls = []
    import bpsrm.neuron.functional as functional

    real = functional.srm_decays

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("bpsrm.functional.srm_decays", spy)
    bpsrm.srm(torch.ones(2, 1, 3), tau_m=torch.tensor(2.0))  # tensor parameters go through srm_decays
    assert calls


def _fresh_python(code: str) -> list[str]:
    """The words ``code`` prints when run in a fresh interpreter (nothing imported before it)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_old_names_work_in_a_fresh_interpreter_without_importing_bpsrm_first() -> None:
    code = (
        "from bpsrm.kernels.cpu import available\n"
        "import bpsrm.models, bpsrm.network.models\n"
        "from bpsrm.neuron import SRMNeuron\n"
        "from bpsrm.functional import srm\n"
        "assert bpsrm.models is bpsrm.network.models\n"
        "print(SRMNeuron.__module__, srm.__module__)\n"
    )
    assert _fresh_python(code) == ["bpsrm.neuron.module", "bpsrm.neuron.functional"]


def test_an_unknown_old_style_name_still_fails_to_import() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("bpsrm.no_such_module")


def test_every_module_has_a_row_in_the_architecture_page() -> None:
    page = (REPO / "docs" / "architecture.md").read_text()
    missing = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if not path.name.startswith("_") and f"`{path.name}`" not in page and f"{path.stem}.py" not in page
    ]
    assert not missing, f"modules without a row in docs/architecture.md: {missing}"


def test_no_function_of_the_engine_is_longer_than_60_lines() -> None:
    """The engine reads as steps (issue 19): set-up, epoch, step, checkpoint, finish; plots one panel at a time."""
    long = []
    for path in sorted((SRC / "engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert not long, long


def test_import_bpsrm_and_the_help_of_the_command_do_not_load_torch() -> None:
    # `bpsrm --help` took 1.5 s when the package imported PyTorch eagerly.
    code = (
        "import sys, contextlib, io\n"
        "import bpsrm\n"
        "from bpsrm.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(sorted(name for name in ('torch', 'numpy') if name in sys.modules))\n"
    )
    assert _fresh_python(code) == ["[]"]


def test_every_public_name_is_reachable_from_the_package_and_is_the_object_of_its_home() -> None:
    code = (
        "import importlib, bpsrm\n"
        "for name in [*bpsrm.__all__, *bpsrm.LAZY_NAMES]:\n"
        "    value = getattr(bpsrm, name)\n"
        "    source = bpsrm.LAZY_NAMES.get(name)\n"
        "    if source is not None:\n"
        "        home = importlib.import_module(source)\n"
        "        assert value is (home if source.endswith('.' + name) else getattr(home, name)), name\n"
        "namespace = {}\n"
        "exec('from bpsrm import *', namespace)\n"
        "assert set(bpsrm.__all__) <= set(namespace), set(bpsrm.__all__) - set(namespace)\n"
        "assert set(bpsrm.LAZY_NAMES) <= set(dir(bpsrm))\n"
        "assert bpsrm.network.encoding is bpsrm.encoding  # a bare `import bpsrm` reaches the subpackages\n"
        "print('ok')\n"
    )
    assert _fresh_python(code) == ["ok"]
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        bpsrm.no_such_name  # noqa: B018


def test_only_the_entry_point_and_the_reference_page_import_the_command_line() -> None:
    """docs/architecture.md's rule: only __main__.py and docgen.py import cli.py (the engine once took the CLI's
    whole-number check from it; that type lives in bpsrm.options now)."""
    importers = sorted(
        str(f.relative_to(SRC)) for f in SRC.rglob("*.py") if f.name != "cli.py" and "cli" in _bpsrm_imports(f)
    )
    assert importers == ["__main__.py", "docgen.py"], importers
