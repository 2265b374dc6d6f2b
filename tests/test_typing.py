"""The package's type hints hold, every module's (mypy, configured in pyproject.toml: the package ships py.typed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_mypy_on_the_whole_package() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
    assert "Success" in result.stdout
