"""Checkpoints: written atomically, read safely, recognised by a format marker.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts saved with
``torch.save``; it is loaded with ``weights_only=True`` so a file can never run code.
Writes go to a temporary file in the same folder, are flushed to disk, then renamed over
the target: a crash or Ctrl-C leaves either the old complete file or the new one.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from spikeforge.errors import CheckpointError, ConfigError

__all__ = [
    "FORMAT",
    "VERSION",
    "atomic_write_bytes",
    "load_checkpoint",
    "output_folder",
    "save_checkpoint",
]

FORMAT = "spikeforge-checkpoint"
VERSION = 1


def output_folder(path: str | Path, option: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) if needed and return it.

    Raises:
        ConfigError: one line naming ``option`` when it is a file, lies inside a file, or
            cannot be created (no permission, read-only or virtual file system).
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
            f"{option} {str(folder)!r}: cannot create this folder ({exc.strerror or exc}); "
            "give a writable folder"
        ) from None
    return folder


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temp file next to ``path``, fsync, rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have given
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (read by setting and restoring it, as POSIX offers no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` (plus the format marker) to ``path``."""
    data = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write_bytes(Path(path), lambda f: torch.save(data, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing, unreadable/corrupt, or not a spikeforge checkpoint.
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(
            f"checkpoint {str(p)!r} is a directory; give the .pt file inside it, e.g. "
            f"{str(p / 'best.pt')!r}"
        )
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist; give the path of a .pt file")
    try:
        # A file pickled with another protocol (e.g. a plain ``pickle.dump``) makes torch warn
        # before it fails or loads; the error below or the result says all, so the warning is
        # silenced for this call only (the caller's filters are restored on exit).
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Detected pickle protocol", category=UserWarning
            )
            data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception:  # any unpickling failure means a bad file
        kind = "empty" if p.stat().st_size == 0 else "corrupt or not a torch checkpoint file"
        raise CheckpointError(
            f"checkpoint {str(p)!r} is {kind}; use a best.pt or last.pt written by "
            "'spikeforge train'"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(p)!r} is not a spikeforge checkpoint (no {FORMAT!r} marker); "
            "use a best.pt or last.pt written by 'spikeforge train'"
        )
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {str(p)!r} has format version {data.get('version')!r}; this spikeforge "
            f"reads version {VERSION}"
        )
    return data
