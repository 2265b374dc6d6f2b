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
order, k = pathlib.Path(sys.argv[1]), sys.argv[2]
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


def test_one_job_runs_in_order_and_prints_to_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    done: list[int] = []
    before: list[int] = []
    order = tmp_path / "order"
    commands = [
        Command(f"c{k}", _python(IN_TURN, order, k), tmp_path / f"{k}.log", before=lambda k=k: before.append(k),
                done=lambda k=k: done.append(k))
        for k in range(3)
    ]  # fmt: skip
    assert run_commands(commands) == []
    assert order.read_text() == "012" and done == [0, 1, 2] and before == [0, 1, 2]
    out = capfd.readouterr().out
    assert "ran 0" in out and "ran 2" in out and sum(line.startswith("+ ") for line in out.splitlines()) == 3
    assert not any((tmp_path / f"{k}.log").exists() for k in range(3))  # one job: no log files
    # Two at once: the second starts within the first's second, finds the order file empty and fails
    order.unlink()
    failed = run_commands(commands[:2], jobs=2)
    assert [f.command.name for f in failed] == ["c1"] and failed[0].reason == "exit code 1"


def test_a_failure_stops_further_starts_and_waits_for_the_running_one(tmp_path: Path) -> None:
    done: list[str] = []
    slow_code = f"import time; time.sleep(1.5); open({str(tmp_path / 'slow')!r}, 'w')"
    slow = Command("slow", _python(slow_code), tmp_path / "slow.log", done=lambda: done.append("slow"))
    bad = Command("bad", _python("import sys; print('broken'); sys.exit(3)"), tmp_path / "bad.log")
    never = Command("never", _python(f"open({str(tmp_path / 'never')!r}, 'w')"), tmp_path / "never.log")
    failed = run_commands([slow, bad, never], jobs=2)
    assert [(f.command.name, f.reason) for f in failed] == [("bad", "exit code 3")]
    assert done == ["slow"] and (tmp_path / "slow").exists()  # the running one finished and was taken in
    assert not (tmp_path / "never").exists()  # no start after the failure
    assert (tmp_path / "bad.log").read_text().splitlines()[1:] == ["broken"]
    assert failure_report(failed, 2) == f"1 run(s) failed: bad (exit code 3); output in {tmp_path / 'bad.log'}"
    assert failure_report(failed, 1) == "1 run(s) failed: bad (exit code 3); the output is above"


def test_a_done_that_raises_is_a_failure_and_the_others_are_still_waited_for(tmp_path: Path) -> None:
    def unreadable() -> None:
        raise FileNotFoundError("metrics.json")

    quick = Command("quick", _python("pass"), tmp_path / "quick.log", done=unreadable)
    slow_code = f"import time; time.sleep(1.5); open({str(tmp_path / 'slow')!r}, 'w')"
    slow = Command("slow", _python(slow_code), tmp_path / "slow.log")
    failed = run_commands([quick, slow], jobs=2)
    assert [f.command.name for f in failed] == ["quick"] and "metrics.json" in failed[0].reason
    assert (tmp_path / "slow").exists()  # run_commands returned only after the slow one had ended


CALLER = """
import sys, pathlib
from bpsrm.engine.commands import Command, run_commands
child = [sys.executable, "-c", "import os, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"]
child[2] = child[2].replace("sys.argv[1]", repr(sys.argv[1])).replace("import os", "import os, sys")
run_commands([Command("child", child, pathlib.Path(sys.argv[1] + ".log"))], jobs=int(sys.argv[2]))
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_caller_stopped_with_sigterm_stops_its_commands(tmp_path: Path, jobs: int) -> None:
    pid_file = tmp_path / "child.pid"
    caller = subprocess.Popen([sys.executable, "-c", CALLER, str(pid_file), str(jobs)], stdout=subprocess.DEVNULL)
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    caller.send_signal(signal.SIGTERM)
    assert caller.wait(timeout=30) == 143
    for _ in range(100):  # the child was stopped and waited for: gone (or a zombie of init) soon after
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        state = Path(f"/proc/{child}/stat")
        if state.exists() and state.read_text().split(") ")[-1].startswith("Z"):
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail(f"the command (pid {child}) is still running after its caller was stopped")


def test_threads_are_shared_among_jobs_unless_given() -> None:
    cores = len(os.sched_getaffinity(0))
    assert threads_per_job(None, 1) is None and threads_per_job(3, 2) == 3
    assert threads_per_job(None, 2) == max(1, cores // 2) and threads_per_job(None, 10 * cores) == 1


def test_jobs_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        run_commands([], jobs=0)
