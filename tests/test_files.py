"""The one atomic-write helper and the one progress helper."""

from __future__ import annotations

import os
import stat

import pytest

from bpsrm.files import atomic_file, atomic_path, progress, write_text_atomic


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path) -> None:
    target = tmp_path / "sub" / "metrics.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("crash in the middle of a write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]  # no temporary file left
    with atomic_file(target, "w", newline="") as handle:
        handle.write("a,b\r\n")
    assert target.read_bytes() == b"a,b\r\n"


def test_atomic_path_keeps_nothing_when_a_check_fails(tmp_path) -> None:
    target = tmp_path / "download.bin"
    with pytest.raises(ValueError), atomic_path(target) as temporary:
        temporary.write_bytes(b"bytes whose checksum is wrong")
        raise ValueError("checksum")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"ok")
    assert target.read_bytes() == b"ok"


def test_an_atomic_write_keeps_the_permissions_a_plain_write_gives(tmp_path) -> None:
    """A new file gets 0666 less the umask, as open() gives it (found: the README rewritten by results_table came
    out 0600, the mode of a temporary file); a file replaced keeps its own mode."""
    old_mask = os.umask(0o027)
    try:
        fresh = write_text_atomic(tmp_path / "new.txt", "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
        (tmp_path / "plain.txt").write_text("x")  # the reference: what open() makes under this umask
        assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o640
    finally:
        os.umask(old_mask)
    for mode in (0o644, 0o600, 0o755):
        kept = tmp_path / f"kept-{mode:o}.txt"
        kept.write_text("old")
        kept.chmod(mode)
        write_text_atomic(kept, "new")
        assert stat.S_IMODE(kept.stat().st_mode) == mode and kept.read_text() == "new"


def test_progress_without_a_bar_gives_the_items_back() -> None:
    items = [1, 2, 3]
    assert progress(items, desc="x", enabled=False) is items
    assert progress(total=3, desc="x", enabled=False) is None
    assert list(progress(items, desc="x")) == items  # a bar (tqdm is installed) or the items: the same values
