"""Shared fixtures: where the real data lies (../shared/data beside the repository)."""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Triton kernels run on CPU tensors through Triton's interpreter in the tests (no GPU in CI); the switch is
# read when triton is first imported, so it is set before anything can import it.
os.environ.setdefault("TRITON_INTERPRET", "1")

# bpsrm's user cache (frames of event recordings, keyed by where the data lies) goes to a folder of this test
# process, removed at its end, not to ~/.cache/bpsrm: every tmp_path a test trains from would leave files there.
if "BPSRM_CACHE" not in os.environ:
    os.environ["BPSRM_CACHE"] = tempfile.mkdtemp(prefix="bpsrm-test-cache-")
    atexit.register(shutil.rmtree, os.environ["BPSRM_CACHE"], True)

# Under several pytest-xdist workers, each worker and every process it starts (bpsrm commands, docs pages) gets its
# share of the cores, so that two trainings on two workers do not run four threads on two cores.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
CORES_PER_WORKER = max(1, (os.cpu_count() or 1) // WORKERS)
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(CORES_PER_WORKER))

import pytest  # noqa: E402 (after the environment above)
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def script_module(name: str) -> Any:
    """A script of scripts/ as a module, imported with that folder on sys.path (as the script runs: its sibling
    imports, e.g. run_ablations' ``from results_table import ...``, resolve)."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def fresh_script(name: str) -> Any:
    """A new instance of scripts/<name>.py as a module, registered nowhere: its globals are its own, so a test may
    set them (``RESULTS``) without reaching another test's instance, as :func:`script_module`'s shared one would."""
    spec = importlib.util.spec_from_file_location(f"{name}_fresh", REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script_here(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``python scripts/<script> args`` from the repository root, run in this process (as ``__main__``, by
    runpy) for calls that train nothing: a process of its own spends 3 to 4 s importing torch. A SystemExit gives
    the status (a message: 1, written to stderr, as Python does); any other exception fails the test, as a
    traceback would."""
    monkeypatch.setattr(sys, "argv", [script, *args])
    monkeypatch.setenv("COLUMNS", "80")  # argparse's width, as in a process whose output is a pipe
    monkeypatch.syspath_prepend(str(REPO / "scripts"))  # its sibling imports, as when it runs
    monkeypatch.chdir(REPO)
    code: int | str | None = 0
    try:
        runpy.run_path(str(REPO / "scripts" / script), run_name="__main__")
    except SystemExit as stopped:
        code = stopped.code
    printed = capsys.readouterr()
    stderr = printed.err + (f"{code}\n" if isinstance(code, str) else "")
    status = 1 if isinstance(code, str) else (code or 0)
    return subprocess.CompletedProcess([script, *args], status, printed.out, stderr)


#: Python code that imports every module of bpsrm, the kernels' wrappers included (a bare ``import bpsrm`` loads
#: almost none of them); leading underscores are left out: ``__main__`` runs the command, ``_*.so`` are ctypes
#: libraries. For the tests that check what importing the package does, in a fresh interpreter.
IMPORT_EVERY_MODULE = (
    "import importlib, pkgutil, bpsrm\n"
    "for info in pkgutil.walk_packages(bpsrm.__path__, 'bpsrm.'):\n"
    "    if not info.name.rpartition('.')[2].startswith('_'):\n"
    "        importlib.import_module(info.name)\n"
)


def narrowed_surrogate(name: str) -> Any:
    """The registered surrogate ``name`` with its one width parameter (a, w or k) at 0.7 of its default: the
    kernels' tests use it so that a kernel which assumed the default width, instead of reading the one given,
    would differ from the reference (a fixed width would pass every test that picks a surrogate by name)."""
    from dataclasses import fields

    from bpsrm.neuron.surrogate import SURROGATES

    cls = SURROGATES[name]
    (width,) = fields(cls)
    return cls(**{width.name: 0.7 * getattr(cls(), width.name)})


def even_shares(total: int, parts: int) -> set[int]:
    """The sizes a class of ``total`` samples dealt evenly to ``parts`` folds may have in one fold: floor and
    ceiling of total / parts (a stratified split's folds differ by at most one sample of each class)."""
    return {total // parts, -(-total // parts)}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data; BPSRM_SHARED_DATA overrides the default ../shared/data."""
    root = Path(os.environ.get("BPSRM_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.fail(
            f"the real data folder {root} is missing: clone the project beside shared/ or set BPSRM_SHARED_DATA"
        )
    return root.resolve()  # the datasets report resolved paths; ../shared may be a symbolic link


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    """Seed 0; two threads, or the cores' share of this pytest-xdist worker when several run at once."""
    torch.manual_seed(0)
    torch.set_num_threads(min(2, CORES_PER_WORKER))
