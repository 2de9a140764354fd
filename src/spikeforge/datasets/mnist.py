"""MNIST and Fashion-MNIST from their official IDX files (gzip or raw), verified by content.

Both datasets are four files, ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``; each is
checked by magic number, dimensions, item count and the sha256 of its decompressed bytes, so
re-compressed copies (Debian's Fashion-MNIST) load while altered content does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from spikeforge.datasets.base import (
    DatasetInfo,
    FileCheck,
    Found,
    ImageDataset,
    register,
    register_info,
)
from spikeforge.datasets.idx import find_idx, read_idx
from spikeforge.datasets.resolve import locate, resolve
from spikeforge.datasets.sources import OFFICIAL, file_digest
from spikeforge.errors import DataError

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "IdxSpec",
    "idx_paths",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "read_member",
    "verify_idx",
]

_TRAIN_IMAGES, _TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
_TEST_IMAGES, _TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
_FILES = (_TRAIN_IMAGES, _TRAIN_LABELS, _TEST_IMAGES, _TEST_LABELS)


@dataclass(frozen=True)
class IdxSpec:
    """An IDX dataset: its name, classes, where else to look, and its 60,000/10,000 split."""

    name: str
    class_names: tuple[str, ...]
    subdirs: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    n_train: int = 60000
    n_test: int = 10000

    def content_sha256(self, base: str) -> str:
        """Expected sha256 of the decompressed file ``base`` (from ``sources.OFFICIAL``)."""
        for remote in OFFICIAL[self.name]:
            if remote.filename == f"{base}.gz" and remote.content_sha256 is not None:
                return remote.content_sha256
        raise KeyError(base)


MNIST = IdxSpec("mnist", tuple(str(i) for i in range(10)), ("mnist", "MNIST/raw"))
FASHION_MNIST = IdxSpec(
    "fashion-mnist",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
    ("/usr/share/datasets/fashion-mnist",),
)


def _probe(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (raw or ``.gz``), or ``None``."""
    return find_idx(folder, _FILES)


def idx_paths(
    spec: IdxSpec, data_dir: Path | None, download: bool = False, *, progress: bool = True
) -> tuple[str, dict[str, Path]]:
    """Find the four IDX files of ``spec`` in resolution order (downloading if allowed).

    Returns:
        ``(origin, {base name: path})``, origin being ``"--data-dir"``, ``"cache"``,
        ``"system"`` or ``"download"``.
    """
    loc, paths = resolve(
        spec.name, data_dir, download, _probe,
        subdirs=spec.subdirs, system_dirs=spec.system_dirs, progress=progress,
    )
    return loc.origin, paths


def read_member(spec: IdxSpec, path: Path, base: str) -> np.ndarray:
    """Read IDX file ``base`` of ``spec`` with its expected dims, count and content sha256.

    Returns:
        uint8 ``[N, 28, 28]`` for image files, ``[N]`` for label files.
    """
    count = spec.n_train if base.startswith("train") else spec.n_test
    ndim = 3 if "images" in base else 1
    return read_idx(path, ndim=ndim, count=count, sha256=spec.content_sha256(base))


def load_idx_dataset(spec: IdxSpec, data_dir: Path | None, download: bool) -> ImageDataset:
    """Load ``spec`` as float32 ``[N, 1, 28, 28]`` images in ``[0, 1]`` and int64 labels.

    Raises:
        DataError: files missing (with where to put them and their checksums) or corrupt.
    """
    _, paths = idx_paths(spec, data_dir, download)
    raw = {base: read_member(spec, path, base) for base, path in paths.items()}

    def images(base: str) -> torch.Tensor:
        return torch.from_numpy(raw[base].astype(np.float32)).div_(255.0).unsqueeze(1)

    def labels(base: str) -> torch.Tensor:
        return torch.from_numpy(raw[base].astype(np.int64))

    return ImageDataset(
        name=spec.name,
        x_train=images(_TRAIN_IMAGES),
        y_train=labels(_TRAIN_LABELS),
        x_test=images(_TEST_IMAGES),
        y_test=labels(_TEST_LABELS),
        class_names=spec.class_names,
        source=str(paths[_TRAIN_IMAGES].parent),
    )


def verify_idx(spec: IdxSpec, found: Found) -> list[FileCheck]:
    """Check each IDX file of ``found``: header, count, decompressed sha256, published md5."""
    checks = []
    published = {r.filename.removesuffix(".gz"): r.md5 for r in OFFICIAL[spec.name]}
    for path in found.files:
        base = path.name.removesuffix(".gz")
        try:
            read_member(spec, path, base)
        except DataError as exc:
            checks.append(FileCheck(path.name, False, str(exc)))
            continue
        if path.suffix != ".gz":
            how = "uncompressed"
        elif file_digest(path, "md5") == published[base]:
            how = "gzip file identical to the published one (md5)"
        else:
            how = "re-compressed copy (md5 differs from the published file; content counts)"
        checks.append(FileCheck(path.name, True, f"header, count, content sha256 ok; {how}"))
    return checks


def _locate(spec: IdxSpec, data_dir: Path | None) -> Found | None:
    """Where ``spec``'s files are (no download), as a :class:`Found`."""
    hit = locate(spec.name, data_dir, _probe, subdirs=spec.subdirs, system_dirs=spec.system_dirs)
    if hit is None:
        return None
    loc, paths = hit
    files = tuple(paths[b] for b in _FILES)
    return Found(loc.origin, str(files[0].parent), files, "idx")


@register("mnist")
def load_mnist(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """MNIST: 60,000 + 10,000 grey 28x28 digits as float32 ``[N, 1, 28, 28]`` in ``[0, 1]``."""
    return load_idx_dataset(MNIST, data_dir, download)


@register("fashion-mnist")
def load_fashion_mnist(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """Fashion-MNIST: 60,000 + 10,000 grey 28x28 articles, float32 ``[N, 1, 28, 28]``."""
    return load_idx_dataset(FASHION_MNIST, data_dir, download)


for _spec, _what in ((MNIST, "handwritten digits"), (FASHION_MNIST, "Zalando article images")):
    register_info(_spec.name, DatasetInfo(
        description=f"60,000 + 10,000 grey 28x28 {_what} (IDX files)",
        class_names=_spec.class_names,
        locate=partial(_locate, _spec),
        verify=partial(verify_idx, _spec),
        downloadable=True,
    ))
