"""MkDocs hook: copy the MathJax 2.7 files of the jupyter-server-mathjax package into the site.

The equations then render with no request to any other host. find_spec locates the package
without importing it (its __init__ would import jupyter_server).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path


def _mathjax_folder() -> Path:
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the docs need jupyter-server-mathjax (pip install -e '.[docs]', or only its files: "
            "pip install --no-deps jupyter-server-mathjax)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def on_post_build(config, **kwargs):
    shutil.copytree(_mathjax_folder(), Path(config["site_dir"]) / "mathjax", dirs_exist_ok=True)
