"""Run training commands of a search one after another, or up to ``jobs`` at once (scripts/cv_select.py,
scripts/final_runs.py).

With one job a command's output goes to the terminal as it comes. With more, each command writes its output to
its own log file (the terminal would interleave them) and the line printed names that file. After a command
fails no further command starts; those already running are waited for (a training stopped half-way is
resumable anyway, but one left to finish is not lost), and every failure is returned.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Command", "failure_report", "run_commands"]

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Command:
    """One command of a search: its argument list, the file its output goes to when several run at once, and
    what to do once it has succeeded (e.g. delete last.pt and read metrics.json)."""

    argv: list[str]
    log: Path
    done: Callable[[], None] | None = None


def run_commands(commands: Sequence[Command], jobs: int = 1) -> list[Command]:
    """Run ``commands`` in their order, at most ``jobs`` at a time; return those that failed (an empty list:
    all succeeded and each one's ``done`` was called). Raises ``ValueError`` for ``jobs`` < 1."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    waiting = list(commands)
    running: list[tuple[Command, subprocess.Popen, object]] = []
    failed: list[Command] = []
    while waiting or running:
        while waiting and not failed and len(running) < jobs:
            command = waiting.pop(0)
            running.append(_start(command, jobs))
        still = []
        for command, process, log in running:
            code = process.poll()
            if code is None:
                still.append((command, process, log))
                continue
            if log is not None:
                log.close()
            if code == 0:
                if command.done is not None:
                    command.done()
            else:
                failed.append(command)
        running = still
        if failed and not running:
            break
        if running:
            time.sleep(POLL_SECONDS)
    return failed


def failure_report(failed: Sequence[Command], jobs: int) -> str:
    """Where the output of the failed commands is: their log files with several jobs, else the terminal."""
    if jobs == 1:
        return f"{len(failed)} command(s) failed (the output is above)"
    return f"{len(failed)} command(s) failed (the output is in {', '.join(str(c.log) for c in failed)})"


def _start(command: Command, jobs: int) -> tuple[Command, subprocess.Popen, object]:
    if jobs == 1:
        print("+", " ".join(command.argv), flush=True)
        return command, subprocess.Popen(command.argv), None
    command.log.parent.mkdir(parents=True, exist_ok=True)
    print("+", " ".join(command.argv), ">", command.log, flush=True)
    log = command.log.open("a")
    return command, subprocess.Popen(command.argv, stdout=log, stderr=subprocess.STDOUT), log
