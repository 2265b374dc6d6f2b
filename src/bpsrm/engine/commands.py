"""Run training commands of a search one after another, or up to ``jobs`` at once (scripts/cv_select.py,
final_runs.py, run_ablations.py; their ``--threads`` and ``--jobs`` options: :func:`add_job_options`).

With one job a command's output goes to the terminal as it comes. With more, each command appends its output to
its own log file (the terminal would interleave them), after a header line with the time and the command, and
the line printed names that file. After a command fails (or its ``done`` raises) no further command starts;
those already running are waited for (one left to finish is not lost), and every failure is returned. If the
caller itself is stopped (Ctrl-C, SIGTERM, an exception) the running commands get SIGTERM and are waited for
(a bpsrm training stopped so resumes from its last.pt), so that none goes on training unattended.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..options import positive_int, thread_count  # bpsrm's own checks of --jobs and --threads

__all__ = [
    "bpsrm_command",
    "Command",
    "Failure",
    "add_job_options",
    "failure_report",
    "run_commands",
    "thread_options",
    "threads_per_job",
]


def bpsrm_command() -> Path:
    """The ``bpsrm`` command the search scripts train with: the one installed beside the Python that runs them
    (``sys.executable``), so that one choice of environment decides both. scripts/run_experiments.sh and
    run_crossload.sh take the environment scripts/bootstrap.sh made (``$BPSRM_VENV``, default .venv) and its
    ``bpsrm`` the same way; the GPU scripts run ``python -m bpsrm`` with the lent machine's ``$PYTHON``."""
    return Path(sys.executable).with_name("bpsrm")


POLL_SECONDS = 0.2
STOP_SECONDS = 30.0  # how long a command stopped with SIGTERM may take to end before it is killed


@dataclass(frozen=True)
class Command:
    """One command of a search: the name its messages use (its run folder), its argument list, the file its
    output goes to when several run at once, what to do just before it starts (e.g. write selection.json) and
    once it has succeeded (e.g. delete last.pt and read metrics.json), and the folder it runs in (None: this
    process's)."""

    name: str
    argv: list[str]
    log: Path
    before: Callable[[], None] | None = None
    done: Callable[[], None] | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class Failure:
    """A command that failed, and why (its exit code, or what its ``done`` raised)."""

    command: Command
    reason: str


@dataclass
class _Running:
    command: Command
    process: subprocess.Popen
    log: IO[str] | None


def run_commands(commands: Sequence[Command], jobs: int = 1) -> list[Failure]:
    """Run ``commands`` in their order, at most ``jobs`` at a time; return the failures (an empty list: all
    succeeded and each one's ``done`` was called). Raises ``ValueError`` for ``jobs`` < 1."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    waiting = list(commands)
    running: list[_Running] = []
    failed: list[Failure] = []
    with _sigterm_as_exit():
        try:
            while running or (waiting and not failed):
                while waiting and not failed and len(running) < jobs:
                    running.append(_start(waiting.pop(0), jobs))
                ended = [job for job in running if job.process.poll() is not None]
                running = [job for job in running if job.process.returncode is None]
                for failure in filter(None, map(_finish, ended)):
                    failed.append(failure)
                    print(f"{failure.command.name}: {failure.reason}; waiting for the {len(running)} still running",
                          file=sys.stderr, flush=True)  # fmt: skip
                if running:
                    time.sleep(POLL_SECONDS)
        except BaseException:
            _stop(running)
            raise
    return failed


def failure_report(failed: Sequence[Failure], jobs: int) -> str:
    """The failed commands by name and reason, and where their output is (the logs, or the terminal above)."""
    which = "; ".join(f"{f.command.name} ({f.reason})" for f in failed)
    where = "the output is above" if jobs == 1 else "output in " + ", ".join(str(f.command.log) for f in failed)
    return f"{len(failed)} run(s) failed: {which}; {where}"


def threads_per_job(threads: int | None, jobs: int) -> int | None:
    """The ``--threads`` of each command: as given; else, with several jobs, this process's cores shared among
    them (at least 1), so that N trainings do not each take every core; else None (bpsrm's own default)."""
    if threads is not None or jobs == 1:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def thread_options(threads: int | None, jobs: int) -> list[str]:
    """bpsrm's ``--threads`` option for each command (:func:`threads_per_job`), or none (bpsrm's own default)."""
    per_job = threads_per_job(threads, jobs)
    return ["--threads", str(per_job)] if per_job else []


def add_job_options(parser: argparse.ArgumentParser, logs: str) -> None:
    """A search script's ``--threads`` (of each training) and ``--jobs`` (trainings at once), both whole numbers
    >= 1; ``logs`` says where each training's output goes with several jobs."""
    parser.add_argument(
        "--threads", type=thread_count, default=None, help="CPU threads of each training (default: the cores / jobs)"
    )
    parser.add_argument("--jobs", type=positive_int, default=1, help=f"trainings at once (each output to {logs})")


def _start(command: Command, jobs: int) -> _Running:
    if command.before is not None:
        command.before()
    if jobs == 1:
        print("+", " ".join(command.argv), flush=True)
        return _Running(command, subprocess.Popen(command.argv, cwd=command.cwd), None)
    command.log.parent.mkdir(parents=True, exist_ok=True)
    print("+", " ".join(command.argv), ">>", command.log, flush=True)
    log = command.log.open("a")
    log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command.argv)}\n")
    log.flush()
    process = subprocess.Popen(
        command.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=command.cwd
    )
    return _Running(command, process, log)


def _finish(job: _Running) -> Failure | None:
    """Close an ended command's log and call its ``done``; the failure, if it failed or ``done`` raised."""
    if job.log is not None:
        job.log.close()
    code = job.process.returncode
    if code != 0:
        return Failure(job.command, f"exit code {code}")
    if job.command.done is not None:
        try:
            job.command.done()
        except Exception as exc:  # reported with the other failures; the rest are still waited for
            return Failure(job.command, f"ended, but reading it back failed: {exc!r}")
    return None


def _stop(running: list[_Running]) -> None:
    """SIGTERM to every running command, wait for each (killed after STOP_SECONDS), close their logs."""
    for job in running:
        if job.process.poll() is None:
            job.process.terminate()
    for job in running:
        try:
            job.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()
        if job.log is not None:
            job.log.close()


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While inside: SIGTERM raises SystemExit(143) in the main thread, so that ``run_commands`` stops its
    commands instead of dying and leaving them to train unattended; the earlier handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_143)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_143(signum: int, frame: object) -> None:
    raise SystemExit(143)
