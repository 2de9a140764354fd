"""The decoded-array cache writes atomically and with normal permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from spikeforge.datasets.array_cache import _load, _store


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_store_gives_normal_permissions(tmp_path: Path, mask: int) -> None:
    folder = tmp_path / "cache" / "entry"
    old = os.umask(mask)
    try:
        _store(folder, {"images": np.arange(6, dtype=np.uint8)}, "test")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask  # as mkdir() would make it
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path  # as open() would
    loaded = _load(folder, ["images"])
    assert loaded is not None and np.array_equal(loaded["images"], np.arange(6))
