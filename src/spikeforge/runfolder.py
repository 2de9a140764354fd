"""Output folders: created and checked up front, locked while written, never overwritten.

Every command that writes results into a folder (``train``, ``eval``, ``compare``,
``simulate --out``) claims it with :func:`claimed_folder`:

* the folder is created if needed and must be writable (a temporary file is created and
  removed in it), so a read-only folder fails at once instead of after the work;
* an exclusive advisory lock (``fcntl.flock`` on ``.spikeforge.lock`` in the folder) is held
  until the command ends; the kernel releases it when the process dies, so a killed run can
  be resumed, while a second process on the same folder gets a one-line error;
* folders it created are removed again when the command fails before writing anything.

:func:`refuse_outputs` refuses a folder that already holds files a command would write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spikeforge.errors import ConfigError

__all__ = [
    "COMPARE_OUTPUTS",
    "LOCK_NAME",
    "TRAIN_OUTPUTS",
    "claimed_folder",
    "folder_lock",
    "output_folder",
    "refuse_outputs",
]

#: The lock file every claimed folder holds (empty; it stays after the command).
LOCK_NAME = ".spikeforge.lock"

#: The files ``spikeforge train`` writes into its run folder.
TRAIN_OUTPUTS = (
    "config.json",
    "last.pt",
    "best.pt",
    "history.json",
    "metrics.json",
    "confusion.png",
    "training_curves.png",
    "layer_traces.png",
)

#: The files ``spikeforge compare`` writes into its ``--out`` (besides its ``runs/`` folder).
COMPARE_OUTPUTS = (
    "comparison.json",
    "comparison.md",
    "accuracy_vs_steps.png",
    "compare_options.json",
)


def _reason(exc: OSError) -> str:
    """``exc``'s reason in lower case, e.g. ``read-only file system``."""
    text = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    return text[:1].lower() + text[1:]


def output_folder(path: str | Path, option: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) if needed, check it is writable, return it.

    Raises:
        ConfigError: one line naming ``option`` when it is a file, lies inside a file, cannot
            be created, or cannot be written (no permission, read-only or virtual file system).
    """
    folder = Path(path)
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == folder else f"is inside {p}, which is a file"
                raise ConfigError(
                    f"{option} {str(folder)!r} {what}; give a folder (existing or new)"
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{option} {str(folder)!r}: cannot create this folder ({_reason(exc)}); "
            "give a writable folder"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".spikeforge-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"{option} {str(folder)!r}: cannot write into this folder ({_reason(exc)}); "
            "give a writable folder"
        ) from None
    return folder


@contextmanager
def folder_lock(folder: Path, option: str = "--out") -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` for the ``with`` block.

    Raises:
        ConfigError: another process holds it (one line naming the folder).
    """
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(
            f"{option} {str(folder)!r}: cannot create the lock file {LOCK_NAME} "
            f"({_reason(exc)}); give a writable folder"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            other = f", or choose another {option}" if option == "--out" else ""
            raise ConfigError(
                f"another spikeforge process is writing to {str(folder)!r}; wait for it to "
                f"end (or stop it){other}"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (None: it exists)."""
    missing = None
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing = p
    return missing


def _remove_if_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they hold nothing (but the lock)."""
    if _only_lock(folder):
        (folder / LOCK_NAME).unlink(missing_ok=True)
    p = folder
    while True:
        try:
            p.rmdir()
        except OSError:
            return
        if p == top or p.parent == p:
            return
        p = p.parent


def _only_lock(folder: Path) -> bool:
    try:
        return [e.name for e in os.scandir(folder)] == [LOCK_NAME]
    except OSError:
        return False


@contextmanager
def claimed_folder(
    path: str | Path, option: str = "--out", check: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """Create and check ``path`` (:func:`output_folder`) and hold its lock (:func:`folder_lock`)
    for the ``with`` block; when the block ends, the folders this call created are removed
    again if they hold nothing but the lock file (a command that failed before writing).

    ``check(folder)`` (e.g. :func:`refuse_outputs`) runs before anything is created in an
    existing folder, so a refused folder is left exactly as it was, and again under the lock,
    so a process that wrote there in between is seen too.
    """
    folder = Path(path)
    if check is not None and folder.is_dir():
        check(folder)
    created = _first_missing(folder)
    output_folder(folder, option)
    try:
        with folder_lock(folder, option):
            if check is not None:
                check(folder)
            yield folder
    finally:
        if created is not None:
            _remove_if_empty(folder, created)


def refuse_outputs(
    names: Iterable[str], advice: str, option: str = "--out"
) -> Callable[[Path], None]:
    """A ``check`` for :func:`claimed_folder`: refuse a folder that holds any of ``names``,
    in one line naming the option, the folder and the files, ending with ``advice``."""
    names = tuple(names)

    def check(folder: Path) -> None:
        present = [n for n in names if (folder / n).exists()]
        if present:
            raise ConfigError(
                f"{option} {str(folder)!r} already holds {', '.join(present)}; {advice}"
            )

    return check
