"""MNIST and Fashion-MNIST from their official IDX files (gzip or raw), verified by content.

Both datasets are four files, ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``; each is
checked by magic number, dimensions, item count and the sha256 of its decompressed bytes, so
re-compressed copies (Debian's Fashion-MNIST) load while altered content does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikeforge.datasets.base import ImageDataset, register
from spikeforge.datasets.idx import find_idx, read_idx
from spikeforge.datasets.resolve import resolve
from spikeforge.datasets.sources import OFFICIAL

__all__ = ["FASHION_MNIST", "MNIST", "IdxSpec", "idx_paths", "load_fashion_mnist", "load_mnist"]

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


def idx_paths(
    spec: IdxSpec, data_dir: Path | None, download: bool = False, *, progress: bool = True
) -> tuple[str, dict[str, Path]]:
    """Find the four IDX files of ``spec`` in resolution order.

    Returns:
        ``(origin, {base name: path})``, origin being ``"--data-dir"``, ``"cache"``,
        ``"system"`` or ``"download"``.
    """
    loc, paths = resolve(
        spec.name, data_dir, download, lambda d: find_idx(d, _FILES),
        subdirs=spec.subdirs, system_dirs=spec.system_dirs, progress=progress,
    )
    return loc.origin, paths


def _images(path: Path, count: int, sha256: str) -> torch.Tensor:
    """float32 ``[count, 1, 28, 28]`` in ``[0, 1]`` from an IDX image file."""
    raw = read_idx(path, ndim=3, count=count, sha256=sha256)
    return torch.from_numpy(raw.astype(np.float32)).div_(255.0).unsqueeze(1)


def _labels(path: Path, count: int, sha256: str) -> torch.Tensor:
    """int64 ``[count]`` class indices from an IDX label file."""
    raw = read_idx(path, ndim=1, count=count, sha256=sha256)
    return torch.from_numpy(raw.astype(np.int64))


def load_idx_dataset(spec: IdxSpec, data_dir: Path | None, download: bool) -> ImageDataset:
    """Load ``spec`` as float32 ``[N, 1, 28, 28]`` images in ``[0, 1]`` and int64 labels.

    Raises:
        DataError: files missing (with where to put them and their checksums) or corrupt.
    """
    _, paths = idx_paths(spec, data_dir, download)
    sha = spec.content_sha256
    return ImageDataset(
        name=spec.name,
        x_train=_images(paths[_TRAIN_IMAGES], spec.n_train, sha(_TRAIN_IMAGES)),
        y_train=_labels(paths[_TRAIN_LABELS], spec.n_train, sha(_TRAIN_LABELS)),
        x_test=_images(paths[_TEST_IMAGES], spec.n_test, sha(_TEST_IMAGES)),
        y_test=_labels(paths[_TEST_LABELS], spec.n_test, sha(_TEST_LABELS)),
        class_names=spec.class_names,
        source=str(paths[_TRAIN_IMAGES].parent),
    )


@register("mnist")
def load_mnist(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """MNIST: 60,000 + 10,000 grey 28x28 digits as float32 ``[N, 1, 28, 28]`` in ``[0, 1]``."""
    return load_idx_dataset(MNIST, data_dir, download)


@register("fashion-mnist")
def load_fashion_mnist(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """Fashion-MNIST: 60,000 + 10,000 grey 28x28 articles, float32 ``[N, 1, 28, 28]``."""
    return load_idx_dataset(FASHION_MNIST, data_dir, download)
