"""The wheel builds from the project's own files and carries the package, its kernel and its data."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bpsrm import __version__
from conftest import REPO

pytestmark = pytest.mark.slow  # compiles the C kernel


def test_wheel_builds_with_version_kernel_and_assets(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the build package (dev extra) is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = tmp_path.glob("bpsrm-*.whl")
    assert wheel.name.startswith(f"bpsrm-{__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(f"bpsrm-{__version__}.dist-info/METADATA"))
    assert metadata["Version"] == __version__  # one place: bpsrm/_version.py
    assert any(r.startswith("torch>=2.2") for r in metadata.get_all("Requires-Dist"))
    for needed in (
        "bpsrm/__init__.py",
        "bpsrm/py.typed",
        "bpsrm/assets/fashion_mnist_demo.npz",
        "bpsrm/deploy/export.py",
    ):
        assert needed in names, needed
    assert any(n.startswith("bpsrm/neuron/kernels/_srm_cpu") and n.endswith(".so") for n in names), "the fused kernel"
    assert any(n.startswith("bpsrm/network/_network_cpu") and n.endswith(".so") for n in names), "pool and TCN"
    assert not any(n.startswith(("tests/", "results/", "benchmarks/")) for n in names)
