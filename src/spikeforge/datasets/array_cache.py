"""Decoded arrays cached as ``.npy`` files in the cache folder, written atomically.

``$SPIKEFORGE_DATA/<dataset>/decoded-<key>/<name>.npy``, where the key digests the source files'
absolute paths, sizes and modification times: replacing a source file makes a new key, so a stale
cache is never read. The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from spikeforge.datasets.locate import dataset_cache_dir

__all__ = ["cache_folder", "cached_arrays"]


def cache_folder(dataset: str, sources: Sequence[Path], tag: str) -> Path:
    """The cache folder for arrays decoded from ``sources`` (``tag`` names the format)."""
    h = hashlib.sha256(tag.encode())
    for f in sources:
        st = f.stat()
        h.update(f"|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return dataset_cache_dir(dataset) / f"decoded-{h.hexdigest()[:20]}"


def _load(folder: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The arrays in ``folder``, or ``None`` if any is missing or unreadable."""
    try:
        return {n: np.load(folder / f"{n}.npy", allow_pickle=False) for n in names}
    except (OSError, ValueError, EOFError):
        return None


def _store(folder: Path, arrays: dict[str, np.ndarray], origin: str) -> None:
    """Write ``arrays`` into a temporary folder beside ``folder``, then rename it.

    A failure (read-only cache, full disk, a concurrent writer) leaves no trace and is not an
    error: the next load decodes again.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".decoding-", dir=folder.parent))
    except OSError:
        return
    try:
        for name, array in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as fh:
                np.save(fh, array, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        (tmp / "source.json").write_text(json.dumps({"source": origin}))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_arrays(
    dataset: str,
    sources: Sequence[Path],
    tag: str,
    names: Sequence[str],
    build: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Arrays ``names`` decoded from ``sources``: from the cache, else ``build()`` and cache them.

    Args:
        dataset: cache sub-folder name. sources: the files the arrays are decoded from.
        tag: the decoding format (part of the key). names: the arrays ``build`` returns.
        build: decodes and verifies the sources; called only on a cache miss.
    """
    folder = cache_folder(dataset, sources, tag)
    if folder.is_dir():
        hit = _load(folder, names)
        if hit is not None:
            return hit
        shutil.rmtree(folder, ignore_errors=True)  # damaged: decode again and rewrite it
    arrays = build()
    _store(folder, arrays, ", ".join(str(s) for s in sources[:3]))
    return arrays
