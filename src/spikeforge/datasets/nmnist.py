"""N-MNIST (Orchard et al., 2015): MNIST digits recorded by a moving event camera.

Layout, searched in ``--data-dir`` (or the cache folder) and its ``nmnist``/``N-MNIST``
sub-folders: ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` (extracted), or the published
``Train.zip`` and ``Test.zip`` read in place. Each ``.bin`` is one recording in the 40-bit
format of :func:`spikeforge.datasets.events.decode_nmnist` on a 34x34 sensor.

``load_dataset("nmnist")`` returns an :class:`~spikeforge.datasets.base.ImageDataset` whose images
are the time-collapsed event counts ``[N, 2, 34, 34]`` (each recording scaled by its largest
count, so in ``[0, 1]``), for image models, and whose ``events`` field gives the recordings
themselves: ``ds.events.train.spikes(indices, T)`` is a spike tensor ``[T, B, 2, 34, 34]``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikeforge.datasets.array_cache import cached_arrays
from spikeforge.datasets.base import (
    DatasetInfo,
    FileCheck,
    Found,
    ImageDataset,
    register,
    register_info,
)
from spikeforge.datasets.events import (
    NMNIST_SENSOR,
    BinBy,
    SensorSize,
    decode_nmnist,
    frames_by_time,
    to_spike_tensor,
)
from spikeforge.datasets.resolve import locate, resolve
from spikeforge.datasets.sources import OFFICIAL, file_digest
from spikeforge.errors import DataError

__all__ = [
    "EventRecordings",
    "EventSplits",
    "NmnistSource",
    "count_images",
    "find_nmnist",
    "load_nmnist",
]

_SPLITS = ("Train", "Test")
_EXPECTED = {"Train": 60000, "Test": 10000}
_SUBDIRS = ("nmnist", "N-MNIST", "NMNIST")
_MEMBER = re.compile(r"^(?:.*/)?(Train|Test)/([0-9])/[^/]+\.bin$")


class EventRecordings(Sequence[tuple[np.ndarray, int]]):
    """One split of an event dataset, read lazily: ``rec[i]`` is ``(events, label)``.

    Attributes:
        labels: int64 ``[N]`` class of each recording.
        sensor: the sensor size of every recording.
    """

    def __init__(self, archive: Path | None, paths: Sequence[str], labels: Sequence[int],
                 sensor: SensorSize) -> None:
        """``paths`` are files, or members of the zip ``archive`` when it is given."""
        self._archive = archive
        self._paths = tuple(paths)
        self._zip: zipfile.ZipFile | None = None
        self.labels = torch.tensor(list(labels), dtype=torch.int64)
        self.sensor = sensor

    def __len__(self) -> int:
        return len(self._paths)

    def _read(self, i: int) -> bytes:
        if self._archive is None:
            return Path(self._paths[i]).read_bytes()
        if self._zip is None:
            self._zip = zipfile.ZipFile(self._archive)
        return self._zip.read(self._paths[i])

    def events(self, i: int) -> np.ndarray:
        """The events of recording ``i`` (:data:`~spikeforge.datasets.events.EVENT_DTYPE`)."""
        where = f"{self._archive}:{self._paths[i]}" if self._archive else self._paths[i]
        try:
            data = self._read(i)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"cannot read {where}: {exc}") from exc
        return decode_nmnist(data, what=where)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:  # type: ignore[override]
        return self.events(i), int(self.labels[i])

    def spikes(self, indices: Sequence[int], n_bins: int, *, by: BinBy = BinBy.TIME,
               binary: bool = True) -> torch.Tensor:
        """Spike tensor ``[T=n_bins, B=len(indices), 2, 34, 34]`` of the chosen recordings."""
        return to_spike_tensor([self.events(i) for i in indices], self.sensor, n_bins,
                               by=by, binary=binary)

    def close(self) -> None:
        """Close the zip archive, if one is open."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None


@dataclass(frozen=True)
class EventSplits:
    """The recordings behind an event dataset: ``train`` and ``test`` splits."""

    train: EventRecordings
    test: EventRecordings | None


@dataclass(frozen=True)
class NmnistSource:
    """Where N-MNIST was found: ``kind`` ``"dir"`` (extracted) or ``"zip"``, under ``root``."""

    kind: str
    root: Path

    def split_files(self, split: str) -> list[Path]:
        """The zip, or the ``.bin`` files, of ``split`` (``"Train"`` or ``"Test"``)."""
        if self.kind == "zip":
            return [_zip_path(self.root, split)]
        return sorted((self.root / split).glob("[0-9]/*.bin"))

    def recordings(self, split: str) -> EventRecordings:
        """The recordings of ``split``, labelled by their digit folder."""
        if self.kind == "zip":
            archive = _zip_path(self.root, split)
            try:
                with zipfile.ZipFile(archive) as zf:
                    names = zf.namelist()
            except (OSError, zipfile.BadZipFile) as exc:
                raise DataError(f"{archive}: not a readable zip archive ({exc})") from exc
            matches = [(n, m) for n in sorted(names) if (m := _MEMBER.match(n)) and m[1] == split]
            paths, labels = [n for n, _ in matches], [int(m[2]) for _, m in matches]
        else:
            archive = None
            files = self.split_files(split)
            paths, labels = [str(f) for f in files], [int(f.parent.name) for f in files]
        if not paths:
            raise DataError(f"{archive or self.root / split}: no <digit>/*.bin recordings")
        return EventRecordings(archive, paths, labels, NMNIST_SENSOR)


def _zip_path(folder: Path, split: str) -> Path:
    """``folder/Train.zip`` (the published name), or ``folder/train.zip`` (tonic's name)."""
    upper = folder / f"{split}.zip"
    lower = folder / f"{split.lower()}.zip"
    return lower if not upper.is_file() and lower.is_file() else upper


def find_nmnist(folder: Path) -> NmnistSource | None:
    """N-MNIST in ``folder`` (extracted ``Train/``+``Test/`` first, then the zips), or ``None``."""
    if all((folder / s).is_dir() for s in _SPLITS):
        return NmnistSource("dir", folder)
    if all(_zip_path(folder, s).is_file() for s in _SPLITS):
        return NmnistSource("zip", folder)
    return None


def count_images(recordings: EventRecordings) -> np.ndarray:
    """Time-collapsed event counts per recording, each scaled by its maximum.

    Returns:
        float32 ``[N, P, H, W]`` in ``[0, 1]`` (an empty recording gives zeros).
    """
    w, h, c = recordings.sensor
    out = np.zeros((len(recordings), c, h, w), dtype=np.float32)
    for i in range(len(recordings)):
        counts = frames_by_time(recordings.events(i), recordings.sensor, n_bins=1)[0].numpy()
        peak = counts.max()
        out[i] = counts / peak if peak > 0 else counts
    return out


@register("nmnist")
def load_nmnist(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """N-MNIST as count images ``[N, 2, 34, 34]`` in ``[0, 1]`` plus lazy ``events`` splits.

    The count images are cached in the cache folder (decoding all recordings takes a while).

    Raises:
        DataError: not found (with where to put ``Train.zip``/``Test.zip`` and their md5), or a
            corrupt recording.
    """
    _, source = resolve("nmnist", data_dir, download, find_nmnist, subdirs=_SUBDIRS)
    train, test = source.recordings("Train"), source.recordings("Test")
    files = source.split_files("Train") + source.split_files("Test")
    arrays = cached_arrays(
        "nmnist", files, source.kind, ("x_train", "x_test"),
        lambda: {"x_train": count_images(train), "x_test": count_images(test)},
    )
    return ImageDataset(
        name="nmnist",
        x_train=torch.from_numpy(arrays["x_train"]),
        y_train=train.labels,
        x_test=torch.from_numpy(arrays["x_test"]),
        y_test=test.labels,
        class_names=tuple(str(i) for i in range(10)),
        source=str(source.root),
        events=EventSplits(train, test),
    )


def _locate(data_dir: Path | None) -> Found | None:
    """Where N-MNIST is (no download)."""
    hit = locate("nmnist", data_dir, find_nmnist, subdirs=_SUBDIRS)
    if hit is None:
        return None
    loc, source = hit
    files = tuple(source.split_files("Train") + source.split_files("Test"))
    return Found(loc.origin, str(source.root), files, source.kind)


def verify_nmnist(found: Found) -> list[FileCheck]:
    """Check the zips' published md5 (or every recording's format) and the split sizes."""
    source = NmnistSource(found.format, Path(found.path))
    checks = []
    published = {r.filename: r.md5 for r in OFFICIAL["nmnist"]}
    for split in _SPLITS:
        try:
            rec = source.recordings(split)
            if source.kind == "zip":
                zip_path = _zip_path(source.root, split)
                same = file_digest(zip_path, "md5") == published[f"{split}.zip"]
                checks.append(FileCheck(zip_path.name, same, "md5 identical to the published "
                                        "archive" if same else "md5 differs from the published"))
            else:
                for i in range(len(rec)):
                    rec.events(i)
            n_ok = len(rec) == _EXPECTED[split]
            checks.append(FileCheck(f"{split} split", n_ok,
                                    f"{len(rec)} recordings, expected {_EXPECTED[split]}"))
        except DataError as exc:
            checks.append(FileCheck(split, False, str(exc)))
    return checks


register_info("nmnist", DatasetInfo(
    description="60,000 + 10,000 event recordings of MNIST digits, 34x34 sensor, 2 polarities",
    class_names=tuple(str(i) for i in range(10)),
    locate=_locate,
    verify=verify_nmnist,
    downloadable=True,
))
