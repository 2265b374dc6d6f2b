"""The one atomic-write helper and the one progress helper."""

from __future__ import annotations

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


def test_progress_without_a_bar_gives_the_items_back() -> None:
    items = [1, 2, 3]
    assert progress(items, desc="x", enabled=False) is items
    assert progress(total=3, desc="x", enabled=False) is None
    assert list(progress(items, desc="x")) == items  # a bar (tqdm is installed) or the items: the same values
