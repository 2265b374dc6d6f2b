"""The docs: every code block runs, the references are generated from the code, the site builds
strictly and needs nothing from the network."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpsrm.docgen import cli_reference, config_fields, config_reference
from bpsrm.engine.config import Config
from command_server import CommandServer, served
from conftest import REPO

DOCS = REPO / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "generated" not in p.parts)


def _blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    return env


def _shared_data_available() -> bool:
    return (REPO.parent / "shared" / "data").is_dir()


PAGE_IDS = [str(p.relative_to(DOCS)) for p in PAGES]


def _worktree(tmp_path: Path) -> Path:
    """A view of the checkout for one page's commands: every top-level entry of the repository linked, except
    runs/, which is the view's own empty folder, with ../shared linked beside it. The commands run as from the
    repository root, but their run folders start empty and go with ``tmp_path`` (run in the checkout itself,
    they left runs/docs-* there, and a stale one of an older config failed the next run of the page)."""
    root = tmp_path / "repo"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name != "runs":
            (root / entry.name).symlink_to(entry)
    (root / "runs").mkdir()
    shared = REPO.parent / "shared"
    if shared.exists():
        (tmp_path / "shared").symlink_to(shared)
    return root


@pytest.fixture(scope="module")
def command_server() -> Iterator[CommandServer]:
    server = CommandServer(_env())
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_code_block_of_a_page_runs(page: Path, tmp_path: Path, command_server: CommandServer) -> None:
    """bash blocks run line by line (a trailing backslash continues a line) from the repository root (a view of
    it with its own runs/, :func:`_worktree`); python blocks run in one namespace per page, in order, after the
    page's bash blocks. A line that runs bpsrm or a script of scripts/ runs in a process forked from one that has
    imported them (:mod:`command_server`), any other in bash."""
    if "../shared/data" in page.read_text() and not _shared_data_available():
        pytest.skip("this page's commands read ../shared/data")
    root = _worktree(tmp_path)
    for block in _blocks(page, "bash"):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.strip()
            if not command or command.startswith("#"):
                continue
            if served(command):
                result = command_server.run(command, root, timeout=600)
            else:
                result = subprocess.run(
                    ["bash", "-c", command], cwd=root, env=_env(), capture_output=True, text=True, timeout=600
                )
            assert result.returncode == 0, f"{page.name}: {command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for block in _blocks(page, "python"):
            if block.lstrip().startswith("--8<--"):
                continue  # an included file, run by its own test
            exec(compile(block, str(page), "exec"), namespace)
    finally:
        os.chdir(cwd)


def test_the_python_blocks_of_the_readme_run() -> None:
    """The README's "Use from Python" example, in one namespace (its bash blocks are the set-up and long jobs)."""
    blocks = _blocks(REPO / "README.md", "python")
    assert blocks, "the README has no python block"
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)


def test_pages_have_runnable_examples() -> None:
    runnable = [p for p in PAGES if _blocks(p, "bash") or _blocks(p, "python")]
    assert len(runnable) >= 8


def test_config_reference_lists_every_key_with_its_range() -> None:
    text = config_reference()
    for row in config_fields():
        assert f"`{row['key']}`" in text
    assert "| `model.neuron.tau_m` | float | `4.0` | finite and > 0 | Membrane time constant in steps. |" in text
    assert "`train.batch_size`" in text and "global batch" in text


def test_a_field_added_to_the_schema_appears_in_the_reference() -> None:
    @dataclasses.dataclass(frozen=True)
    class Extended(Config):
        brand_new_option: int = 7
        """A field that exists only in this test."""

    text = config_reference(Extended)
    assert "| `brand_new_option` | int | `7` |  | A field that exists only in this test. |" in text


def test_a_field_without_a_docstring_is_an_error() -> None:
    from bpsrm.errors import BpsrmError

    @dataclasses.dataclass(frozen=True)
    class Undocumented(Config):
        silent: bool = False

    with pytest.raises(BpsrmError, match="config key silent"):
        config_reference(Undocumented)


def test_cli_reference_comes_from_the_parser() -> None:
    import argparse

    from bpsrm.cli import build_parser

    text = cli_reference()
    for command in ("demo", "train", "eval", "predict", "export", "plot", "data info", "data download"):
        assert f"## `bpsrm {command}`" in text
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["train"].add_argument("--brand-new-flag", help="only in this test")
    assert "`--brand-new-flag`" in cli_reference(parser) and "only in this test" in cli_reference(parser)
    # a positional argument of two values named by a tuple metavar: its names, not the tuple's repr
    sub.choices["train"].add_argument("pair", nargs=2, metavar=("LOW", "HIGH"), choices=["1", "2"], help="a pair")
    assert "| `LOW HIGH {1,2}` |" in cli_reference(parser)


@pytest.mark.slow
def test_site_builds_strictly_and_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One strict build, in this process, with a field added to the config schema: the built config
    reference shows it (the reference is generated, not written), and no page loads anything from the network."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    import bpsrm.engine.config as schema

    @dataclasses.dataclass(frozen=True)
    class Extended(schema.Config):
        brand_new_option: int = 7
        """A field that exists only in this test."""

    monkeypatch.setattr(schema, "Config", Extended)
    monkeypatch.setenv("BPSRM_TUTORIAL_EPOCHS", "2")
    monkeypatch.setenv("BPSRM_TUTORIAL_SAMPLES", "600")
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    monkeypatch.chdir(REPO)
    site = tmp_path / "site"
    build(load_config(str(REPO / "mkdocs.yml"), site_dir=str(site), strict=True))
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 10
    external = re.compile(r"<(?:script|link|img)[^>]+(?:src|href)=\"(?:https?:)?//", re.I)
    for page in pages:
        text = page.read_text(errors="replace")
        match = external.search(text)
        assert match is None, f"{page.relative_to(site)} loads {match.group(0) if match else ''} from the network"
        assert "fonts.googleapis" not in text
    assert (site / "mathjax" / "MathJax.js").is_file()  # the equations render from files in the site
    # opened from disk (file://, no server), the links name the pages' files, not folders
    home = (site / "index.html").read_text()
    assert 'href="tutorial.html"' in home and 'href="tutorial/"' not in home
    # the tutorial's figures are there, made by this build
    assert (site / "generated" / "tutorial" / "raster.png").is_file()
    tutorial = (site / "tutorial.html").read_text()
    assert "raster.png" in tutorial and "learning_curve.png" in tutorial
    # the generated references are in the built site, the added field included
    config_page = (site / "reference" / "config.html").read_text()
    assert "model.neuron.tau_m" in config_page
    assert "brand_new_option" in config_page and "A field that exists only in this test." in config_page
    cli_page = (site / "reference" / "cli.html").read_text()
    assert "bpsrm export" in cli_page
    concepts = (site / "concepts.html").read_text()
    assert 'class="arithmatex"' in concepts


def test_shlex_sanity_of_bash_blocks() -> None:
    """Every bash line parses as shell words (catches unbalanced quotes in the docs)."""
    for page in PAGES:
        for block in _blocks(page, "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                if line.strip() and not line.strip().startswith("#"):
                    shlex.split(line)


def test_the_own_data_page_shows_the_config_files_it_names() -> None:
    """own-data.md shows docs/examples/my-images.yaml, my-recordings.yaml and my-events.yaml as "the config": each
    block is that file (less its comment)."""
    page = DOCS / "howto" / "own-data.md"
    shown = [block for block in _blocks(page, "text") if block.startswith("experiment:")]
    assert len(shown) == 3
    for block, name in zip(shown, ("my-images.yaml", "my-recordings.yaml", "my-events.yaml"), strict=True):
        named = (DOCS / "examples" / name).read_text()
        assert f"[`docs/examples/{name}`](../examples/{name})" in page.read_text()
        assert block == "".join(line for line in named.splitlines(keepends=True) if not line.startswith("#"))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bpsrm train configs/cwru.yaml --out runs/x", True),
        (".venv/bin/bpsrm --version", True),
        ("python scripts/final_runs.py runs/cv/cv.json --seeds 0", True),
        ('bpsrm train configs/cwru.yaml "data.options.load=[0, 1]"', True),
        ("bpsrm adapt runs/x/best.pt ../shared/data/cwru/2HP/*.mat", True),
        ("cat runs/x/matrix.md", False),
        ("bpsrm eval runs/x/best.pt | head", False),
        ("bpsrm eval runs/x/best.pt > out.json", False),
        ("OMP_NUM_THREADS=1 bpsrm demo", False),
        ("bpsrm train $(cat config) --out x", False),
        ("python -c 'print(1)'", False),
        ("bpsrm-other train", False),
    ],
)
def test_the_command_server_takes_only_lines_of_one_program(line: str, expected: bool) -> None:
    assert served(line) is expected


def test_the_answers_of_a_line_that_come_in_one_read_are_both_read() -> None:
    """A quick command's start and end may reach the pipe before the first is read: the second answer is there at
    once, not after the line's timeout (a buffered reader would hold it where select cannot see it)."""
    server = object.__new__(CommandServer)
    read, write = os.pipe()
    try:
        server._answers, server._pending = read, b""
        os.write(write, b'{"pid": 7}\n{"status": 0}\n')
        assert server._answer(time.monotonic() + 5) == {"pid": 7}
        assert server._answer(time.monotonic() + 0.5) == {"status": 0}
        assert server._answer(time.monotonic() + 0.1) is None  # nothing more: the deadline passes
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.slow
def test_a_served_line_ends_as_it_ends_in_bash(tmp_path: Path, command_server: CommandServer) -> None:
    """The same status, output and error as bash's process of its own, for a line that succeeds, one argparse
    refuses, one bpsrm refuses (after bash expanded its glob) and a script's; a line past its timeout is killed."""
    root = _worktree(tmp_path)
    (root / "runs" / "a.pt").write_bytes(b"not a checkpoint")
    lines = [
        "bpsrm --version",
        "bpsrm no-such-command",
        "bpsrm eval runs/*.pt",
        "python scripts/results_table.py --no-such-option",
    ]
    answers = {}
    for line in lines:
        assert served(line)
        in_bash = subprocess.run(["bash", "-c", line], cwd=root, env=_env(), capture_output=True, text=True)
        here = command_server.run(line, root, timeout=120)
        assert (here.returncode, here.stdout, here.stderr) == (in_bash.returncode, in_bash.stdout, in_bash.stderr)
        answers[line] = here
    assert [answers[line].returncode for line in lines] == [0, 2, 1, 2]
    assert "runs/a.pt" in answers["bpsrm eval runs/*.pt"].stderr  # the glob reached bpsrm expanded
    with pytest.raises(subprocess.TimeoutExpired):
        command_server.run("bpsrm train configs/cwru.yaml data.root=../shared/data --out runs/t", root, timeout=1)
    assert command_server.run("bpsrm --version", root, timeout=120).returncode == 0  # it serves on
