"""Where datasets are looked for, and the user cache.

Search order for a dataset (BP-SRM issue 3): the ``root`` given by the caller,
``$BPSRM_DATA``, the user cache (``$BPSRM_CACHE`` or ``~/.cache/bpsrm``), then
system locations (``/usr/share/datasets``, where Debian's
``dataset-fashion-mnist`` installs). In each place the dataset may lie in the
place itself or in a subfolder named after the dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import DataNotFoundError

__all__ = ["cache_dir", "search_roots", "locate", "locate_without_download"]

SYSTEM_ROOTS = (Path("/usr/share/datasets"),)


def cache_dir() -> Path:
    """The user cache of bpsrm: ``$BPSRM_CACHE`` or ``~/.cache/bpsrm`` (not created here)."""
    env = os.environ.get("BPSRM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bpsrm"


def search_roots(root: str | Path | None = None) -> list[Path]:
    """The places searched, in order: root, $BPSRM_DATA, the user cache, system locations."""
    places: list[Path] = []
    if root is not None:
        places.append(Path(root).expanduser())
    env = os.environ.get("BPSRM_DATA")
    if env:
        places.append(Path(env).expanduser())
    places.append(cache_dir())
    places.extend(SYSTEM_ROOTS)
    return places


def locate(
    dataset: str,
    root: str | Path | None,
    is_complete: Callable[[Path], bool],
    folder_names: Sequence[str],
    how_to_get: str,
) -> Path:
    """The first candidate folder for which ``is_complete(folder)`` holds.

    Candidates: each search root itself, then ``root/<name>`` for each of
    ``folder_names``. Raises :class:`DataNotFoundError` listing every folder tried.
    """
    tried: list[Path] = []
    for place in search_roots(root):
        for folder in [place, *(place / name for name in folder_names)]:
            if folder in tried:
                continue
            tried.append(folder)
            if folder.is_dir() and is_complete(folder):
                return folder.resolve()
    listing = "\n  ".join(str(p) for p in tried)
    raise DataNotFoundError(
        f"{dataset} not found. Looked in:\n  {listing}\n{how_to_get}\n"
        "Name the folder that holds it: data.root=DIR (bpsrm train), --root DIR (bpsrm crossload, eval, data info), "
        "root=DIR (Python), or the environment variable BPSRM_DATA."
    )


def locate_without_download(
    dataset: str,
    root: str | Path | None,
    is_complete: Callable[[Path], bool],
    folder_names: Sequence[str],
    how_to_get: str,
    download: bool,
) -> Path:
    """:func:`locate` for a dataset bpsrm cannot download (no verified checksum of its official files): with
    ``download=True`` the DataNotFoundError says so as well, so that the flag is not silently ignored."""
    try:
        return locate(dataset, root, is_complete, folder_names, how_to_get)
    except DataNotFoundError as exc:
        if not download:
            raise
        raise DataNotFoundError(
            f"{exc}\nAutomatic download is not offered for {dataset} (no verified checksum of the official files is "
            "available): download it by hand as described above."
        ) from None
