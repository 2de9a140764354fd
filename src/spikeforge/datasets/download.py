"""Verified, resumable, atomic downloads of the official dataset files.

A file is fetched into ``<dest>/<name>.part`` (a name no loader reads), resumed with an HTTP
``Range`` request after a dropped connection or an interrupted run, checked against its published
md5 (or, for re-compressed mirrors of IDX files, the sha256 of its decompressed content), and only
then renamed to its final name. ``$SPIKEFORGE_MIRROR`` replaces the official host by a mirror that
serves the files under their official names.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from spikeforge.datasets.sources import OFFICIAL, RemoteFile, describe_file, file_digest
from spikeforge.errors import ConfigError, DataError

__all__ = [
    "MIRROR_VAR",
    "check_download",
    "download_dataset",
    "download_file",
    "mirror_url",
    "source_url",
    "verify_file",
]

#: Environment variable: base URL of a mirror serving the official file names.
MIRROR_VAR = "SPIKEFORGE_MIRROR"

_CHUNK = 1 << 20
_PERMANENT_HTTP = (400, 401, 403, 404, 410)
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError)

#: ``progress(done_bytes, total_bytes_or_None)`` is called after every chunk.
ProgressFn = Callable[[int, int | None], None]


def _is_url(text: str) -> bool:
    """An ``http(s)://host/...`` or ``file:///...`` URL (what ``urlopen`` fetches)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return parts.scheme == "file" and bool(parts.path)


def mirror_url() -> str | None:
    """``$SPIKEFORGE_MIRROR`` (``None`` when unset or empty), checked to be a URL.

    Raises:
        ConfigError: it is set but not an http(s):// or file:// URL.
    """
    mirror = os.environ.get(MIRROR_VAR, "").strip()
    if not mirror:
        return None
    if not _is_url(mirror):
        raise ConfigError(
            f"${MIRROR_VAR} must be an http(s):// or file:// URL of a folder serving the "
            f"official file names, got {mirror!r}; fix it or unset {MIRROR_VAR}"
        )
    return mirror


def source_url(remote: RemoteFile) -> str:
    """The URL to fetch ``remote`` from: ``$SPIKEFORGE_MIRROR/<filename>`` or the official URL."""
    mirror = mirror_url()
    return f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url


def verify_file(path: Path, remote: RemoteFile) -> str | None:
    """Check a fetched file; return how it was verified, or ``None`` if it does not match.

    Returns ``"md5"`` when the bytes match the published md5, ``"content sha256"`` when they do
    not but the decompressed content matches ``remote.content_sha256`` (a re-compressed mirror).
    """
    if file_digest(path, "md5") == remote.md5:
        return "md5"
    if remote.content_sha256 is not None:
        try:
            with gzip.open(path, "rb") as fh:
                h = hashlib.sha256()
                while chunk := fh.read(_CHUNK):
                    h.update(chunk)
        except (OSError, EOFError, zlib.error):
            return None
        if h.hexdigest() == remote.content_sha256:
            return "content sha256"
    return None


def _fetch_once(url: str, part: Path, timeout: float, progress: ProgressFn | None) -> bool:
    """Append the rest of ``url`` to ``part``; return ``True`` when the file is complete."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "spikeforge"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            return True
        raise
    with response:
        if have and response.status != 206:  # the server ignored the range: start again
            have = 0
        elif have and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()  # a range we did not ask for: start again on the next try
            return False
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as fh:
            done = have
            try:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except http.client.IncompleteRead as exc:  # keep what did arrive
                        fh.write(exc.partial)
                        raise
                    if not chunk:
                        break
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            finally:
                fh.flush()
                os.fsync(fh.fileno())
    return total is None or done == total


def download_file(
    remote: RemoteFile,
    dest_dir: Path,
    *,
    url: str | None = None,
    attempts: int = 5,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download ``remote`` into ``dest_dir`` and return the verified final path.

    Args:
        remote: the file and its published checksum.
        dest_dir: target folder (created if needed).
        url: fetch from here instead of :func:`source_url`.
        attempts: connections tried in total; each one resumes where the last stopped.
        timeout: seconds a connection may stall before it counts as dropped.
        progress: show a rich progress bar on stderr.

    Raises:
        DataError: offline, the server failed ``attempts`` times, or the checksum is wrong (the
            bad file is deleted); the message says where to put the file by hand.
    """
    if attempts < 1:
        raise ConfigError(f"attempts must be >= 1, got {attempts}")
    url = url or source_url(remote)
    if not _is_url(url):
        raise ConfigError(f"cannot download from {url!r}: give an http(s):// or file:// URL")
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f"{remote.filename}.part"
    hint = f"download {remote.url} by hand and put it at {dest_dir}: {describe_file(remote)}"
    error: str | None = None
    with _progress_bar(remote.filename, remote.size, enabled=progress) as bar:
        for attempt in range(attempts):
            try:
                if _fetch_once(url, part, timeout, bar):
                    error = None
                    break
                error = "the connection closed before the end of the file"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code} {exc.reason}"
                if exc.code in _PERMANENT_HTTP:
                    break
            except _NETWORK_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < attempts:
                time.sleep(min(0.1 * 2**attempt, 2.0))
    if error is not None:
        kept = f" (the partial download {part.name} is kept and resumed next time)"
        raise DataError(
            f"could not download {url} ({error}); {hint}{kept if part.exists() else ''}"
        )
    if verify_file(part, remote) is None:
        got = file_digest(part, "md5")
        part.unlink()
        raise DataError(
            f"{remote.filename} from {url} has md5 {got}, expected {remote.md5}; the download "
            f"was deleted; {hint}"
        )
    final = dest_dir / remote.filename
    os.replace(part, final)
    return final


def check_download(name: str) -> None:
    """Raise ``ConfigError`` (before anything is written) when dataset ``name`` has no
    official download or ``$SPIKEFORGE_MIRROR`` is not a URL."""
    if name not in OFFICIAL:
        raise ConfigError(
            f"dataset {name!r} has no download; downloadable: {', '.join(sorted(OFFICIAL))}"
        )
    mirror_url()


def download_dataset(name: str, dest_dir: Path, *, progress: bool = True) -> list[Path]:
    """Download every official file of dataset ``name`` into ``dest_dir``; skip verified ones.

    Returns:
        The final paths, in the order of ``sources.OFFICIAL[name]``.

    Raises:
        ConfigError: ``name`` has no official download. DataError: as :func:`download_file`.
    """
    check_download(name)
    paths = []
    for remote in OFFICIAL[name]:
        final = dest_dir / remote.filename
        if final.is_file() and verify_file(final, remote) is not None:
            paths.append(final)
            continue
        paths.append(download_file(remote, dest_dir, progress=progress))
    return paths


@contextlib.contextmanager
def _progress_bar(
    label: str, total: int | None, *, enabled: bool
) -> Iterator[ProgressFn | None]:
    """Yield a ``progress(done, total)`` callback drawing a rich bar, or ``None`` if disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int, size: int | None) -> None:
            bar.update(task, completed=done, total=size)

        yield update
