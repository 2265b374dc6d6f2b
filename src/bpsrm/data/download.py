"""Verified downloads and safe archive extraction.

A download goes to a temporary file beside its destination, is checked against
its sha256 and only then moved into place with an atomic ``os.replace``: a
partial or corrupted download is never used. Only ``https://`` URLs are
fetched. Archives are extracted only inside their target folder: a member
whose path is absolute, climbs out with ``..``, or is a link, is refused.
"""

from __future__ import annotations

import hashlib
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from ..errors import ChecksumError, DataError
from ..files import atomic_path, progress

__all__ = ["fetch", "sha256_of", "extract", "UrlOpener"]

UrlOpener = Callable[[str], BinaryIO]
_CHUNK = 1 << 20


def _default_opener(url: str) -> BinaryIO:
    response = urllib.request.urlopen(url, timeout=60)
    final = response.geturl()
    if not final.startswith("https://"):
        response.close()
        raise DataError(f"refusing {url}: it redirected to {final}, which is not https://")
    return response


def sha256_of(path: str | Path) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: str | Path,
    sha256: str | Iterable[str],
    *,
    opener: UrlOpener | None = None,
    progress: bool = True,
    digest: Callable[[Path], str] = sha256_of,
) -> Path:
    """Download ``url`` to ``dest`` if its digest is one of ``sha256``; returns ``dest``.

    ``digest`` computes the checked sha256 from the downloaded file (by default
    of its bytes; Fashion-MNIST checks the decompressed content, since
    recompressed copies of the same data exist). An existing ``dest`` with a
    matching digest is kept without a download.
    """
    accepted = {sha256} if isinstance(sha256, str) else set(sha256)
    dest = Path(dest)
    if not url.startswith("https://"):
        raise DataError(f"refusing to download {url!r}: only https:// URLs are fetched")
    if dest.is_file() and digest(dest) in accepted:
        return dest
    open_url = opener or _default_opener
    with atomic_path(dest) as temporary:  # moved into place only if the checksum below holds
        with open(temporary, "wb") as out:
            try:
                response = open_url(url)
            except OSError as exc:
                raise DataError(f"download of {url} failed: {exc}") from None
            bar = bar_of(_content_length(response), dest.name, progress)
            with response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            if bar is not None:
                bar.close()
        got = digest(temporary)
        if got not in accepted:
            raise ChecksumError(
                f"download of {url} to {dest}: sha256 {got} does not match the expected "
                f"{' or '.join(sorted(accepted))}; the file was not kept"
            )
    return dest


def _content_length(response: object) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    return int(value) if value and str(value).isdigit() else None


def bar_of(total: int | None, name: str, enabled: bool):
    """A byte-counting progress bar for one download (None without tqdm)."""
    return progress(total=total, desc=f"downloading {name}", unit="B", enabled=enabled, unit_scale=True)


def _safe_member(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in path.parts:
        raise DataError(f"{archive}: member {name!r} climbs out of the target folder with '..'; refusing to extract")
    return path


def _copy_out(src: IO[bytes], path: Path) -> Path:
    """Copy an archive member's stream to ``path`` (its folders created) in 1 MiB chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as dst:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            dst.write(chunk)
    return path


def extract(archive: str | Path, target: str | Path) -> list[Path]:
    """Extract a zip or tar archive inside ``target``; returns the files written.

    Every member is checked before anything is written: absolute paths, ``..``
    and links are refused with a DataError naming the archive and the member.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _safe_member(info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DataError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
            for info in infos:
                path = target / _safe_member(info.filename, archive)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                else:
                    with zf.open(info) as src:
                        written.append(_copy_out(src, path))
        return written
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{archive}: not a zip or tar archive ({exc})") from None
    with tf:
        members = tf.getmembers()
        for member in members:
            _safe_member(member.name, archive)
            if member.issym() or member.islnk():
                raise DataError(f"{archive}: member {member.name!r} is a link; refusing to extract")
            if not (member.isfile() or member.isdir()):
                raise DataError(f"{archive}: member {member.name!r} is not a regular file; refusing to extract")
        for member in members:
            path = target / _safe_member(member.name, archive)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            stream = tf.extractfile(member)
            if stream is None:
                raise DataError(f"{archive}: member {member.name!r} cannot be read")
            with stream:
                written.append(_copy_out(stream, path))
    return written
