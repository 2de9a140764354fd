"""Checkpoints: written atomically, read safely, recognised by a format marker.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts saved with
``torch.save``; it is loaded with ``weights_only=True`` so a file can never run code.
Writes go to a temporary file in the same folder, are flushed to disk, then renamed over
the target: a crash or Ctrl-C leaves either the old complete file or the new one.

Every checkpoint carries the SHA-256 of its contents (:func:`content_digest`: every tensor's
dtype, shape and bytes, every other value's type and repr, in order), checked on load:
``torch.load`` does not check the CRCs of the zip archive, so a byte damaged on disk or in
transit inside a stored tensor would otherwise load as different weights without a word.
A file without the digest (written before it existed) loads as before.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from spikeforge.errors import CheckpointError
from spikeforge.runfolder import output_folder  # re-exported: it lived here first

__all__ = [
    "FORMAT",
    "VERSION",
    "atomic_write_bytes",
    "content_digest",
    "load_checkpoint",
    "output_folder",
    "save_checkpoint",
]

FORMAT = "spikeforge-checkpoint"
VERSION = 1


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temp file next to ``path``, fsync, rename over ``path``.

    Raises:
        CheckpointError: writing failed (disk full, read-only, I/O error): one line naming the
            file and the reason; the temp file is removed and a previous ``path`` is intact.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have given
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = _os_error_in(exc)
        if reason is None and isinstance(exc, RuntimeError) and _from_torch_writer(exc):
            reason = OSError(str(exc).splitlines()[0])  # torch's zip writer failed on its own
        if reason is None:
            raise
        raise _write_error(path, reason) from None


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError that caused ``exc`` (itself, or one in its cause/context chain, as when
    ``torch.save`` turns a failed ``write`` into a RuntimeError), else None."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _from_torch_writer(exc: RuntimeError) -> bool:
    return any(k in str(exc) for k in ("inline_container", "StreamWriter"))


def _write_error(path: Path, exc: OSError) -> CheckpointError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = reason[:1].lower() + reason[1:]
    previous = f"the previous {path.name} is unchanged" if path.exists() else "nothing was written"
    return CheckpointError(
        f"cannot write {str(path)!r}: {reason}; {previous}; free space or fix the folder and "
        "try again"
    )


def _umask() -> int:
    """The process umask (read by setting and restoring it, as POSIX offers no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The key of the contents' digest in a checkpoint.
DIGEST_KEY = "sha256"


def content_digest(obj: Any) -> str:
    """Hex SHA-256 of ``obj``: tensors by dtype, shape and bytes; dicts, lists and tuples by
    their items in order; anything else by its type and ``repr``."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for value in obj:
            _feed(h, value)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` (plus the format marker and the digest of it all) to
    ``path``."""
    data = {"format": FORMAT, "version": VERSION, **payload}
    data[DIGEST_KEY] = content_digest(data)
    atomic_write_bytes(Path(path), lambda f: torch.save(data, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        the payload with the format marker and version (the digest removed).

    Raises:
        CheckpointError: missing, unreadable/corrupt (the digest included), or not a
            spikeforge checkpoint.
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
    digest = data.pop(DIGEST_KEY, None)
    if digest is not None and digest != content_digest(data):
        raise CheckpointError(
            f"checkpoint {str(p)!r} is corrupt: its contents do not match the checksum "
            "written with them (damaged on disk or in a copy); use another copy, or a best.pt "
            "or last.pt written by 'spikeforge train'"
        )
    return data
