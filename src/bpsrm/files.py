"""Writing files so that a crash never leaves half of one, and progress bars: one helper each.

:func:`atomic_file` writes to a temporary file beside the target, flushes it to
disk (``fsync``), moves it over the target in one step (``os.replace``) and
syncs the folder: after a crash the target holds either its old content or the
new one, never a mix. Checkpoints, run-folder files, frame caches, downloads and
evaluation reports all go through it. :func:`progress` is the one tqdm wrapper:
a bar where tqdm is installed and output is a terminal, nothing otherwise.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = ["atomic_file", "atomic_path", "write_text_atomic", "refuse_existing", "progress", "TEMPORARY_SUFFIX"]

TEMPORARY_SUFFIX = ".tmp"
"""Temporary files are named ``.<target name>.<random>.tmp`` beside their target."""

T = TypeVar("T")


@contextmanager
def atomic_path(path: str | Path, sync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; it replaces ``path`` in one step when the block ends without
    an error (after an ``fsync`` of its content with ``sync``), and is removed otherwise.

    The new file gets the permissions of the file it replaces, or those of a file made by ``open`` (0666
    less the umask) when there was none: not the 0600 of a temporary file. The folder is made if needed;
    ``OSError`` propagates for the caller to turn into an error naming the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        if sync:
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    finally:
        if temporary.exists():
            temporary.unlink()


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb", newline: str | None = None) -> Iterator[IO[Any]]:
    """A file object whose content replaces ``path`` in one step when the block ends without an error.

    An exception inside the block (a failed check, a full disk) removes the
    temporary file and leaves ``path`` as it was (:func:`atomic_path`).
    """
    with atomic_path(path, sync=False) as temporary:
        with open(temporary, mode) if "b" in mode else open(temporary, mode, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` with :func:`atomic_file`; returns the path."""
    with atomic_file(path, "w") as handle:
        handle.write(text)
    return Path(path)


def refuse_existing(out: str | Path, overwrite: bool, command: str, source: str | Path | None = None) -> None:
    """A :class:`~bpsrm.errors.RunFolderError` when ``out`` exists (or is a link) and ``overwrite`` is false: what
    ``command`` (``"adapt"``, ``"export"``) writes replaces a file only when asked. The message says when ``out``
    is the ``source`` file itself (a checkpoint about to be replaced by what is made from it)."""
    from .errors import RunFolderError

    target = Path(out)
    if overwrite or not (target.exists() or target.is_symlink()):
        return
    same = source is not None and target.exists() and Path(source).exists() and target.samefile(source)
    raise RunFolderError(
        f"{target}: {'is the checkpoint read' if same else 'exists'}; {command} replaces a file only when asked "
        "(give another --out, or --overwrite to replace it; in Python, out= or overwrite=True)"
    )


def _umask() -> int:
    """The process's umask (read by setting it and setting it back: Python has no getter before 3.13)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the system allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def progress(
    items: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    **options: Any,
) -> Any:
    """A tqdm bar over ``items`` (or, without items, a bar of ``total`` steps to ``update``).

    Where tqdm is missing, ``enabled`` is false, or output is not a terminal,
    ``items`` come back as they are (and a bar without items is None).
    """
    bar: Any = None
    if enabled:
        try:
            from tqdm.auto import tqdm

            bar = tqdm
        except ImportError:  # tqdm is an optional extra
            bar = None
    if bar is None:
        return items
    return bar(items, total=total, desc=desc, unit=unit, leave=False, disable=None, **options)
