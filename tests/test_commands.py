"""bpsrm.engine.commands: commands of a search run in order, at most ``jobs`` at once; a failure stops further
starts without abandoning the commands already running; a stopped caller stops its commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpsrm.engine.commands import Command, failure_report, run_commands, threads_per_job

# Writes its own flag file, then waits (up to 20 s) for the other command's: exits 0 only if both ran at once.
MEET = """
import pathlib, sys, time
mine, other = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
mine.touch()
for _ in range(200):
    if other.exists():
        print("met", mine.name)
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
"""
# Exits 1 unless the order file holds exactly k characters when it starts (the k commands before it have all
# ended); appends its number k a second later: passes only when the commands run one at a time, in order.
IN_TURN = """
import pathlib, sys, time
order, k = pathlib.Path(sys.argv[-2]), sys.argv[-1]
held = order.read_text() if order.exists() else ""
if len(held) != int(k):
    sys.exit(1)
time.sleep(1)
order.write_text(held + k)
print("ran", k)
"""


def _python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def test_two_jobs_run_at_once_and_append_to_their_own_logs(tmp_path: Path) -> None:
    done: list[str] = []
    (tmp_path / "a.log").write_text("an earlier attempt\n")
    commands = [
        Command(me, _python(MEET, tmp_path / f"{me}.flag", tmp_path / f"{other}.flag"), tmp_path / f"{me}.log",
                done=lambda me=me: done.append(me))
        for me, other in (("a", "b"), ("b", "a"))
    ]  # fmt: skip
    assert run_commands(commands, jobs=2) == []
    assert sorted(done) == ["a", "b"]
    a = (tmp_path / "a.log").read_text().splitlines()
    assert a[0] == "an earlier attempt" and a[1].startswith("=== ") and sys.executable in a[1] and a[-1] == "met a.flag"
    assert (tmp_path / "b.log").read_text().splitlines()[-1] == "met b.flag"


# Touches its flag file (argv[1]), then waits (up to 20 s) for the other's (argv[2]) before it goes on: orders
# commands that run at once without relying on how fast a loaded machine starts them.
WAIT_FOR = """import pathlib, sys, time
pathlib.Path(sys.argv[1]).touch()
for _ in range(200):
    if pathlib.Path(sys.argv[2]).exists():
        break
    time.sleep(0.1)
else:
    sys.exit(1)
"""
# Reads the order file (argv[2]) before it touches its flag (argv[1]), so that what it read was written before.
READ_THEN_FLAG = """import pathlib, sys
held = pathlib.Path(sys.argv[2]).read_text() if pathlib.Path(sys.argv[2]).exists() else ""
pathlib.Path(sys.argv[1]).touch()
sys.exit(0 if len(held) == int(sys.argv[3]) else 1)
"""


def test_one_job_runs_in_order_and_prints_to_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    done: list[int] = []
    before: list[tuple[int, list[int]]] = []
    order = tmp_path / "order"
    stdin = "import os, sys; sys.exit(0 if os.path.samestat(os.fstat(0), os.stat(os.devnull)) else 5)"
    commands = [
        Command(f"c{k}", _python(IN_TURN, order, k), tmp_path / f"{k}.log",
                before=lambda k=k: before.append((k, list(done))), done=lambda k=k: done.append(k))
        for k in range(3)
    ]  # fmt: skip
    assert run_commands(commands) == []
    assert order.read_text() == "012" and done == [0, 1, 2]
    assert before == [(0, []), (1, [0]), (2, [0, 1])]  # each command's before runs as it starts, not all up front
    out = capfd.readouterr().out
    assert "ran 0" in out and "ran 2" in out and sum(line.startswith("+ ") for line in out.splitlines()) == 3
    assert not any((tmp_path / f"{k}.log").exists() for k in range(3))  # one job: no log files
    # Two at once: c1 starts while c0 waits for c1's flag, finds the order file empty and fails; stdin is closed
    order.unlink()
    first = Command("c0", _python(WAIT_FOR + IN_TURN, tmp_path / "c0.flag", tmp_path / "c1.flag", order, 0),
                    tmp_path / "c0.log")  # fmt: skip
    second = Command("c1", _python(READ_THEN_FLAG, tmp_path / "c1.flag", order, 1), tmp_path / "c1.log")
    closed = Command("stdin", _python(stdin), tmp_path / "stdin.log")
    failed = run_commands([first, second, closed], jobs=2)
    assert [(f.command.name, f.reason) for f in failed] == [("c1", "exit code 1")]
    assert "c1: exit code 1; waiting for the 1 still running" in capfd.readouterr().err  # said when seen
    assert run_commands([closed], jobs=2) == []


def test_a_failure_stops_further_starts_and_waits_for_the_running_one(tmp_path: Path) -> None:
    done: list[str] = []
    started: list[str] = []
    slow_code = WAIT_FOR + f"time.sleep(0.5); open({str(tmp_path / 'slow')!r}, 'w')"
    slow = Command("slow", _python(slow_code, tmp_path / "slow.flag", tmp_path / "bad.flag"), tmp_path / "slow.log",
                   done=lambda: done.append("slow"))  # fmt: skip
    bad_code = "import pathlib, sys; print('broken'); pathlib.Path(sys.argv[1]).touch(); sys.exit(3)"
    bad = Command("bad", _python(bad_code, tmp_path / "bad.flag"), tmp_path / "bad.log")
    never = Command("never", _python("pass"), tmp_path / "never.log", before=lambda: started.append("never"))
    failed = run_commands([slow, bad, never], jobs=2)
    assert [(f.command.name, f.reason) for f in failed] == [("bad", "exit code 3")]
    assert done == ["slow"] and (tmp_path / "slow").exists()  # the running one finished and was taken in
    assert started == []  # no start after the failure, though a slot was free
    assert (tmp_path / "bad.log").read_text().splitlines()[1:] == ["broken"]
    assert failure_report(failed, 2) == f"1 run(s) failed: bad (exit code 3); output in {tmp_path / 'bad.log'}"
    assert failure_report(failed, 1) == "1 run(s) failed: bad (exit code 3); the output is above"


def test_a_done_that_raises_is_a_failure_and_the_others_are_still_waited_for(tmp_path: Path) -> None:
    def unreadable() -> None:
        raise FileNotFoundError("metrics.json")

    started: list[str] = []
    quick_code = "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()"
    quick = Command("quick", _python(quick_code, tmp_path / "quick.flag"), tmp_path / "quick.log", done=unreadable)
    slow_code = WAIT_FOR + f"time.sleep(1); open({str(tmp_path / 'slow')!r}, 'w')"
    slow = Command("slow", _python(slow_code, tmp_path / "slow.flag", tmp_path / "quick.flag"), tmp_path / "slow.log")
    later = Command("later", _python("pass"), tmp_path / "later.log", before=lambda: started.append("later"))
    failed = run_commands([quick, slow, later], jobs=2)
    assert [f.command.name for f in failed] == ["quick"] and "metrics.json" in failed[0].reason
    assert (tmp_path / "slow").exists()  # run_commands returned only after the slow one had ended
    assert started == []


# The child writes its pid, and on SIGTERM takes a second to clean up before it writes "cleaned" and exits: the
# caller must have waited for that, not just signalled it.
CHILD = """
import os, pathlib, signal, sys, time
def stop(signum, frame):
    time.sleep(1)
    pathlib.Path(sys.argv[1] + ".cleaned").touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(60)
"""
CALLER = """
import sys, pathlib
from bpsrm.engine.commands import Command, run_commands
child = [sys.executable, "-c", sys.argv[3], sys.argv[1]]
run_commands([Command("child", child, pathlib.Path(sys.argv[1] + ".log"))], jobs=int(sys.argv[2]))
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_caller_stopped_with_sigterm_stops_its_commands_and_waits_for_them(tmp_path: Path, jobs: int) -> None:
    pid_file = tmp_path / "child.pid"
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, str(pid_file), str(jobs), CHILD], stdout=subprocess.DEVNULL
    )
    for _ in range(400):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    caller.send_signal(signal.SIGTERM)
    try:
        assert caller.wait(timeout=30) == 143
        assert Path(f"{pid_file}.cleaned").exists()  # the child's clean-up had ended when the caller returned
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_threads_are_shared_among_jobs_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads_per_job(None, 1) is None and threads_per_job(3, 2) == 3
    assert threads_per_job(None, 2) == 4 and threads_per_job(None, 3) == 2 and threads_per_job(None, 16) == 1


def test_jobs_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        run_commands([], jobs=0)
