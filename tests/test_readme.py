"""Every Python block of the README runs, and the Quickstart is what .ci/run calls."""

from __future__ import annotations

import re

from conftest import REPO


def _blocks(language: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_python_blocks_run() -> None:
    blocks = _blocks("python")
    assert blocks, "the README has Python examples"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_quickstart_has_two_commands_and_ci_runs_the_second() -> None:
    quickstart = _blocks("bash")[0]
    commands = [line for line in quickstart.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "demo" in commands[0]
    assert commands[1] in (REPO / ".ci" / "run").read_text()


def test_results_tables_are_built_from_results() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "results_table.py")], capture_output=True, text=True, check=True
    )
    readme = (REPO / "README.md").read_text()
    for table in result.stdout.split("\n\n"):
        if table.strip():
            assert table.strip() in readme, table[:200]


def test_performance_tables_are_built_from_the_benchmark_results() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_table.py")], capture_output=True, text=True, check=True
    )
    readme = (REPO / "README.md").read_text()
    tables = [t for t in result.stdout.split("\n\n") if t.strip()]
    assert tables
    for table in tables:
        assert table.strip() in readme, table[:200]


def test_relative_links_point_to_files_of_the_repository() -> None:
    text = (REPO / "README.md").read_text()
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:|#", t)]
    assert targets, "the README links files of the repository (plots, docs)"
    missing = [t for t in targets if not (REPO / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
