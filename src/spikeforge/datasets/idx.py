"""Reader of the IDX format (MNIST, Fashion-MNIST), gzip-compressed or raw, verified by content."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from spikeforge.errors import DataError

__all__ = ["find_idx", "read_idx", "read_idx_bytes"]

_UBYTE = 0x08


def read_idx_bytes(path: Path) -> bytes:
    """The decompressed bytes of IDX file ``path`` (``.gz`` is gunzipped in memory).

    Raises:
        DataError: unreadable file or corrupt/truncated gzip stream.
    """
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: not a readable gzip IDX file ({exc}); replace it with the official file"
        ) from exc


def read_idx(
    path: Path, *, ndim: int, count: int | None = None, sha256: str | None = None
) -> np.ndarray:
    """Read an unsigned-byte IDX file and check its header, size and content.

    Args:
        path: ``*-idx{1,3}-ubyte`` or the same with ``.gz``.
        ndim: expected number of dimensions (1 for labels, 3 for images).
        count: expected first dimension (number of items), or ``None``.
        sha256: expected sha256 (hex) of the decompressed bytes, or ``None``.

    Returns:
        uint8 array of shape given by the header, e.g. ``[60000, 28, 28]`` or ``[60000]``.

    Raises:
        DataError: wrong magic number, dimensions, item count, size or checksum.
    """
    data = read_idx_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE or data[3] != ndim:
        raise DataError(
            f"{path}: IDX magic number is {data[:4].hex() or 'missing'}, expected "
            f"000008{ndim:02x} (unsigned bytes, {ndim} dims); not an IDX file of this kind"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if count is not None and dims[0] != count:
        raise DataError(f"{path}: holds {dims[0]} items, expected {count}")
    expected_len = header + int(np.prod(dims))
    if len(data) != expected_len:
        raise DataError(
            f"{path}: {len(data)} bytes after decompression, expected {expected_len} for "
            f"dims {dims}; the file is truncated or corrupt, replace it with the official file"
        )
    if sha256 is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise DataError(
                f"{path}: sha256 of the decompressed content is {got}, expected {sha256}; "
                "replace it with the official file"
            )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def find_idx(folder: Path, names: tuple[str, ...]) -> dict[str, Path] | None:
    """Map each IDX base name (without ``.gz``) to ``folder/name`` or ``folder/name.gz``.

    Returns ``None`` unless every name is present in one form (raw preferred).
    """
    found: dict[str, Path] = {}
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found
