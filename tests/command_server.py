"""A process that has imported bpsrm's commands once and forks a child for each command line it is given.

The docs pages' tests run some hundred ``bpsrm ...`` and ``python scripts/....py`` lines; a process of its own
spends 3 to 7 s of each importing torch, torch._dynamo (which every optimiser's construction imports), SciPy and
matplotlib before the command starts. Here one server process imports them once, then each line runs in a child
forked from it: a process of its own (its own stdout, stderr, working directory, signal handlers and exit status,
killed at its timeout), which starts where a new one would be after its imports. The server itself never computes
(a process that forks after OpenMP's threads have started may hang in its children).

A line runs here only where bash would run one program with a list of arguments (no pipe, redirection, command
substitution, variable or ``;``/``&``); bash itself expands it (quotes, globs), so the program gets the argv it
would get from bash. Everything else runs in bash, as before.

Protocol: one JSON object a line on stdin (``argv``, ``cwd``, ``stdout``, ``stderr``: file paths), answered on
stdout by ``{"pid": ...}`` when the child starts and ``{"status": ...}`` when it ends.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import re
import runpy
import select
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

#: What the commands import lazily, imported once by the server (none of it computes at import).
PRELOAD = (
    "bpsrm.cli",
    "bpsrm.engine.trainer",
    "bpsrm.engine.plots",
    "bpsrm.deploy.prediction",
    "bpsrm.deploy.inference",
    "torch._dynamo",
    "matplotlib.backends.backend_agg",
    "matplotlib.figure",
    "scipy.io",
    "scipy.signal",
)

#: A line bash would run as something other than one program with its arguments.
_SHELL_SYNTAX = re.compile(r"[|&;<>$`(){}]|^\s*\w+=")
#: The programs the server runs: the bpsrm command (by name or the venv's path) and the project's scripts.
_PROGRAM = re.compile(r"^\s*(?:bpsrm|\.venv/bin/bpsrm|python3? scripts/[\w.-]+\.py)(?:\s|$)")


def served(line: str) -> bool:
    """Whether ``line`` is one the server runs (see the module docstring)."""
    return bool(_PROGRAM.match(line)) and not _SHELL_SYNTAX.search(line)


class CommandServer:
    """The server process, started with ``env``; :meth:`run` runs one line in a child of it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert self.process.stdout is not None
        self._answers = self.process.stdout.fileno()
        self._pending = b""  # read from the pipe, not yet answered: a line may come with the next one's start

    def _answer(self, deadline: float) -> dict | None:
        """The server's next answer, or None when ``deadline`` passes first. Read from the pipe's descriptor, not a
        buffered file: the child's start and end may come in one read, and a buffered reader would keep the second
        where ``select`` cannot see it."""
        while b"\n" not in self._pending:
            ready, _, _ = select.select([self._answers], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(self._answers, 65536)
            if not chunk:
                raise RuntimeError(f"the command server ended (status {self.process.wait()})")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, line: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``line`` (one :func:`served` says yes to) in ``cwd``: its status and what it printed."""
        expanded = subprocess.run(
            ["bash", "-c", f"printf '%s\\0' {line}"], cwd=cwd, env=self.env, capture_output=True, text=True
        )
        if expanded.returncode != 0:
            return subprocess.CompletedProcess(line, expanded.returncode, "", expanded.stderr)
        argv = expanded.stdout.split("\0")[:-1]
        if argv[0].startswith("python"):  # python scripts/x.py ...: the script is the program
            argv = argv[1:]
        stdout, stderr = cwd.parent / ".served-stdout", cwd.parent / ".served-stderr"
        request = {"argv": argv, "cwd": str(cwd), "stdout": str(stdout), "stderr": str(stderr)}
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        started = self._answer(deadline + 60)
        assert started is not None and "pid" in started, started
        ended = self._answer(deadline)
        if ended is None:
            os.kill(started["pid"], 9)
            self._answer(time.monotonic() + 60)
            raise subprocess.TimeoutExpired(line, timeout)
        printed = stdout.read_text(errors="replace"), stderr.read_text(errors="replace")
        stdout.unlink()
        stderr.unlink()
        return subprocess.CompletedProcess(line, ended["status"], *printed)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _child(request: dict) -> None:
    """In the forked child: become the command (it ends by SystemExit, or by an exception)."""
    os.chdir(request["cwd"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # the process's own, as in a new one
    argv = request["argv"]
    program = argv[0]
    if program.endswith("bpsrm"):  # the installed script's own entry, as it runs beside this Python
        sys.argv = [str(Path(sys.executable).with_name("bpsrm")), *argv[1:]]
        from bpsrm.cli import console

        console()
    sys.argv = list(argv)
    sys.path[0] = str(Path(program).resolve().parent)
    runpy.run_path(program, run_name="__main__")
    raise SystemExit(0)


def _ended(request: dict) -> int:
    """Run the command in the forked child; its exit status, as Python would give it (a SystemExit's code, 1 and
    the traceback for another exception), after its threads were joined, the atexit handlers ran and the output
    was flushed. The child then leaves by ``os._exit``: what Python does at exit after that (tearing down every
    module of torch and SciPy, some 2.5 s) frees memory the child's end frees anyway."""
    try:
        _child(request)
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    threading._shutdown()  # type: ignore[attr-defined]  # what Python's exit does first: join non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return status


def _serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(_ended(request))
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)
    os._exit(0)  # stdin closed: nothing more to serve (without tearing down every module, as a child ends)


if __name__ == "__main__":
    _serve()
