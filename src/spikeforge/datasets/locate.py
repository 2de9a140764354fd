"""Where dataset files are looked for: the resolution order and the cache directory.

Resolution order (first match wins):

1. an explicit ``--data-dir`` (then *only* there: a folder the user names and that lacks the
   files is an error, not a reason to read some other copy);
2. the cache directory: ``$SPIKEFORGE_DATA/<name>``, default ``<user cache>/spikeforge/<name>``;
3. known system locations (Debian's ``/usr/share/datasets/fashion-mnist``);
4. a download into ``--data-dir`` or else the cache directory, only when allowed.

Inside a folder ``D`` the files may lie in ``D`` itself or in ``D/<subdir>`` for the dataset's
usual sub-folder names (``mnist``, ``cifar-10-batches-bin``, ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

__all__ = [
    "ENV_VAR",
    "Location",
    "cache_root",
    "dataset_cache_dir",
    "find_first",
    "search_locations",
]

#: Environment variable naming the cache directory (holds ``<name>/`` sub-folders).
ENV_VAR = "SPIKEFORGE_DATA"

T = TypeVar("T")


def cache_root() -> Path:
    """The cache directory: ``$SPIKEFORGE_DATA`` or the platform's user cache dir + ``spikeforge``.

    Linux: ``$XDG_CACHE_HOME/spikeforge`` (default ``~/.cache/spikeforge``); macOS:
    ``~/Library/Caches/spikeforge``; Windows: ``%LOCALAPPDATA%/spikeforge``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "spikeforge"


def dataset_cache_dir(name: str) -> Path:
    """The cache folder of dataset ``name`` (may not exist yet)."""
    return cache_root() / name


@dataclass(frozen=True)
class Location:
    """A folder to search, and how it was chosen (``"--data-dir"``, ``"cache"``, ``"system"``)."""

    path: Path
    origin: str


def search_locations(
    name: str,
    data_dir: Path | None,
    subdirs: Sequence[str] = (),
    system_dirs: Sequence[str] = (),
) -> list[Location]:
    """Folders to search for dataset ``name``, in resolution order.

    With ``data_dir`` only that folder (and its ``subdirs``) is searched; otherwise the cache
    folder (and its ``subdirs``) then each of ``system_dirs``.
    """
    def expand(base: Path, origin: str) -> list[Location]:
        return [Location(base, origin)] + [Location(base / s, origin) for s in subdirs]

    if data_dir is not None:
        return expand(data_dir, "--data-dir")
    found = expand(dataset_cache_dir(name), "cache")
    for d in system_dirs:
        found.append(Location(Path(d), "system"))
    return found


def find_first(
    locations: Sequence[Location], probe: Callable[[Path], T | None]
) -> tuple[Location, T] | None:
    """Return the first location where ``probe(path)`` is not ``None``, with that result."""
    for loc in locations:
        if loc.path.is_dir():
            hit = probe(loc.path)
            if hit is not None:
                return loc, hit
    return None
