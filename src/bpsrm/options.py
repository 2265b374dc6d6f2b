"""Argument types shared by the ``bpsrm`` command and the search scripts (scripts/cv_select.py, final_runs.py,
run_ablations.py, through :func:`bpsrm.engine.commands.add_job_options`), so that an option such as ``--threads``
accepts the same values everywhere. Only argparse is imported: the command line starts without more."""

from __future__ import annotations

import argparse
import os

from .errors import shown

__all__ = ["positive_int", "thread_count", "MAX_THREADS"]

# More threads than this is a typo, not a setting: a CPU thread pool of 100,000 crashed the process (libgomp), and
# one beyond 2^31 overflowed torch.set_num_threads. Four times the cores leaves room for oversubscription on purpose.
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


def positive_int(text: str) -> int:
    """An argparse type: ``text`` as a whole number >= 1, else an ArgumentTypeError that shows it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {shown(text)}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {shown(text)}")
    return value


def thread_count(text: str) -> int:
    """An argparse type for ``--threads``: a whole number from 1 to :data:`MAX_THREADS`, else an
    ArgumentTypeError that shows it and the bound."""
    value = positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_THREADS} threads on this machine of {os.cpu_count()} cores, got {shown(text)}"
        )
    return value
