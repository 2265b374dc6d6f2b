"""MkDocs hook: pages and figures made from the code and the results when the docs are built.

- reference/config.md and reference/cli.md from the config schema and the argument parser
  (bpsrm.docgen), so that the references cannot drift from the code;
- results.md from results/ (scripts/results_table.py, the script that also fills the README);
- the tutorial's figures and summary: docs/tutorial.py runs on the budget set by
  BPSRM_TUTORIAL_EPOCHS / BPSRM_TUTORIAL_SAMPLES (small by default).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

from bpsrm.docgen import cli_reference, config_reference

REPO = Path(__file__).resolve().parents[2]
_TUTORIAL: dict[str, Path] = {}
SUMMARY_MARK = "<!-- tutorial-summary -->"


def _results_page() -> str:
    spec = importlib.util.spec_from_file_location("results_table", REPO / "scripts" / "results_table.py")
    assert spec and spec.loader
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    return tables.results_page()


def on_pre_build(config, **kwargs):
    out = Path(tempfile.gettempdir()) / f"bpsrm-docs-tutorial-{os.getuid() if hasattr(os, 'getuid') else 0}"
    shutil.rmtree(out, ignore_errors=True)  # one folder, remade by every build
    out.mkdir(parents=True)
    env = dict(os.environ)
    env.setdefault("BPSRM_TUTORIAL_EPOCHS", "2")
    env.setdefault("BPSRM_TUTORIAL_SAMPLES", "2000")
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "tutorial.py"), str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"docs/tutorial.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    _TUTORIAL["folder"] = out
    _TUTORIAL["log"] = out / "log.txt"
    (out / "log.txt").write_text(result.stdout)


def on_files(files, config, **kwargs):
    files.append(File.generated(config, "reference/config.md", content=config_reference()))
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    files.append(File.generated(config, "results.md", content=_results_page()))
    folder = _TUTORIAL["folder"]
    for name in ("learning_curve.png", "raster.png"):
        files.append(File.generated(config, f"generated/tutorial/{name}", abs_src_path=str(folder / name)))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    if SUMMARY_MARK not in markdown:
        return markdown
    summary = json.loads((_TUTORIAL["folder"] / "summary.json").read_text())
    log = _TUTORIAL["log"].read_text().strip()
    text = (
        f"This build ran it for {summary['epochs']} epoch(s) on {summary['train_samples']} training images "
        f"({summary['seconds']} s of training) and printed:\n\n```text\n{log}\n```\n"
    )
    return markdown.replace(SUMMARY_MARK, text)
