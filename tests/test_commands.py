"""bpsrm.engine.commands: commands of a search run in order, at most ``jobs`` at once, and a failure stops
further starts without abandoning the commands already running."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bpsrm.engine.commands import Command, failure_report, run_commands

# Waits (up to 20 s) for the other command's flag file after writing its own: exits 0 only if both ran at once.
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


def _python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def test_two_jobs_run_at_once_and_write_their_own_logs(tmp_path: Path) -> None:
    done: list[str] = []
    commands = [
        Command(_python(MEET, tmp_path / f"{me}.flag", tmp_path / f"{other}.flag"), tmp_path / f"{me}.log",
                lambda me=me: done.append(me))
        for me, other in (("a", "b"), ("b", "a"))
    ]  # fmt: skip
    assert run_commands(commands, jobs=2) == []
    assert sorted(done) == ["a", "b"]
    assert (tmp_path / "a.log").read_text() == "met a.flag\n" and (tmp_path / "b.log").read_text() == "met b.flag\n"


def test_one_job_runs_in_order_and_prints_to_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    done: list[int] = []
    order = tmp_path / "order"
    commands = [
        Command(_python(f"open({str(order)!r}, 'a').write('{k}'); print('ran {k}')"), tmp_path / f"{k}.log",
                lambda k=k: done.append(k))
        for k in range(3)
    ]  # fmt: skip
    assert run_commands(commands) == []
    assert order.read_text() == "012" and done == [0, 1, 2]
    out = capfd.readouterr().out
    assert "ran 0" in out and "ran 2" in out and out.count("+ ") == 3
    assert not any((tmp_path / f"{k}.log").exists() for k in range(3))  # one job: no log files


def test_a_failure_stops_further_starts_and_waits_for_the_running_one(tmp_path: Path) -> None:
    done: list[str] = []
    slow = Command(
        _python(f"import time; time.sleep(1.5); open({str(tmp_path / 'slow')!r}, 'w')"), tmp_path / "slow.log",
        lambda: done.append("slow"),
    )  # fmt: skip
    bad = Command(_python("import sys; print('broken'); sys.exit(3)"), tmp_path / "bad.log", lambda: done.append("bad"))
    never = Command(_python(f"open({str(tmp_path / 'never')!r}, 'w')"), tmp_path / "never.log")
    failed = run_commands([slow, bad, never], jobs=2)
    assert failed == [bad]
    assert done == ["slow"] and (tmp_path / "slow").exists()  # the running one finished and was taken in
    assert not (tmp_path / "never").exists()  # no start after the failure
    assert (tmp_path / "bad.log").read_text() == "broken\n"
    assert str(tmp_path / "bad.log") in failure_report(failed, 2) and "above" in failure_report(failed, 1)


def test_jobs_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        run_commands([], jobs=0)
