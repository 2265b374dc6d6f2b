"""Argument types shared by the ``bpsrm`` command and the search scripts (scripts/cv_select.py, final_runs.py,
run_ablations.py, through :func:`bpsrm.engine.commands.add_job_options`), so that an option such as ``--threads``
accepts the same values everywhere. Only argparse is imported: the command line starts without more."""

from __future__ import annotations

import argparse

__all__ = ["positive_int"]


def positive_int(text: str) -> int:
    """An argparse type: ``text`` as a whole number >= 1, else an ArgumentTypeError that shows it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value
