"""Find a dataset's files in resolution order, downloading them only when allowed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from spikeforge.datasets.locate import Location, dataset_cache_dir, find_first, search_locations
from spikeforge.datasets.sources import OFFICIAL, manual_hint
from spikeforge.errors import DataError

__all__ = ["locate", "resolve"]

T = TypeVar("T")


def locate(
    name: str,
    data_dir: Path | None,
    probe: Callable[[Path], T | None],
    *,
    subdirs: Sequence[str] = (),
    system_dirs: Sequence[str] = (),
) -> tuple[Location, T] | None:
    """The first folder in resolution order where ``probe`` finds dataset ``name``, or ``None``.

    Never downloads; see :func:`resolve` for the arguments.
    """
    return find_first(search_locations(name, data_dir, subdirs, system_dirs), probe)


def resolve(
    name: str,
    data_dir: Path | None,
    download: bool,
    probe: Callable[[Path], T | None],
    *,
    subdirs: Sequence[str] = (),
    system_dirs: Sequence[str] = (),
    progress: bool = True,
) -> tuple[Location, T]:
    """Locate dataset ``name``: ``--data-dir``, else cache then system folders, else download.

    Args:
        name: registry name; its official files are listed in ``sources.OFFICIAL``.
        data_dir: the user's explicit folder, or ``None``.
        download: fetch the official files (into ``data_dir`` or the cache folder) when the
            search finds nothing.
        probe: returns what a folder holds for this dataset (paths, a format tag), or ``None``.
        subdirs: usual sub-folder names searched inside each folder.
        system_dirs: known system locations, searched after the cache.
        progress: show a progress bar while downloading.

    Returns:
        ``(location, probe result)`` of the first folder that holds the dataset.

    Raises:
        DataError: not found and download not allowed (or not possible); the message says which
            files to put where, with their checksums.
    """
    hit = locate(name, data_dir, probe, subdirs=subdirs, system_dirs=system_dirs)
    if hit is not None:
        return hit
    target = data_dir if data_dir is not None else dataset_cache_dir(name)
    if download and name in OFFICIAL:
        from spikeforge.datasets.download import download_dataset

        download_dataset(name, target, progress=progress)
        hit = find_first([Location(target, "download")], probe)
        if hit is not None:
            return hit
    locations = search_locations(name, data_dir, subdirs, system_dirs)
    searched = ", ".join(dict.fromkeys(str(loc.path) for loc in locations))
    how = f", or run `spikeforge datasets download {name}`" if name in OFFICIAL else ""
    raise DataError(
        f"dataset {name!r} not found (searched {searched}); {manual_hint(name, target)}{how}"
    )
