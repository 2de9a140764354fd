"""The in-memory dataset record every loader returns, and the registry of loaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from spikeforge.errors import ConfigError, DataError

if TYPE_CHECKING:
    from spikeforge.datasets.nmnist import EventSplits

__all__ = [
    "DatasetInfo",
    "FileCheck",
    "Found",
    "ImageDataset",
    "Loader",
    "data_path",
    "dataset_info",
    "dataset_names",
    "load_dataset",
    "register",
    "register_info",
]


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image dataset held in memory.

    Attributes:
        name: registry name (``"digits"``, ``"mnist"``, ...).
        x_train: float32 ``[N, C, H, W]`` with intensities in ``[0, 1]``.
        y_train: int64 ``[N]`` class indices in ``[0, num_classes)``.
        x_test: float32 ``[M, C, H, W]`` of the official test split, or ``None`` when the
            dataset has none (digits): the trainer then splits a stratified test set off.
        y_test: int64 ``[M]`` or ``None``.
        class_names: one human-readable name per class.
        source: where the data was read from (a path or a package name), for reports.
        events: for event datasets, the recordings behind the images (lazy, see
            :class:`~spikeforge.datasets.nmnist.EventSplits`); ``None`` otherwise.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    class_names: tuple[str, ...]
    source: str
    events: EventSplits | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``(C, H, W)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def __repr__(self) -> str:
        """Name, classes, split sizes and image shape, source: never the tensors themselves."""
        shape = "x".join(str(v) for v in self.input_shape)
        test = "none" if self.y_test is None else f"{len(self.y_test):,}"
        events = "" if self.events is None else ", events=yes"
        return (
            f"ImageDataset(name={self.name!r}, classes={self.num_classes}, "
            f"train={len(self.y_train):,}, test={test}, image={shape} "
            f"{str(self.x_train.dtype).removeprefix('torch.')}, source={self.source!r}{events})"
        )

    def __post_init__(self) -> None:
        if self.x_train.dtype != torch.float32 or self.x_train.dim() != 4:
            raise DataError(
                f"dataset {self.name!r}: x_train must be float32 [N, C, H, W], got "
                f"{self.x_train.dtype} {tuple(self.x_train.shape)}"
            )
        if self.y_train.shape[0] != self.x_train.shape[0]:
            raise DataError(
                f"dataset {self.name!r}: {self.x_train.shape[0]} images but "
                f"{self.y_train.shape[0]} labels"
            )


#: A loader takes the directory chosen by the user (or ``None``) and ``download``.
Loader = Callable[[Path | None, bool], ImageDataset]

_REGISTRY: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    """Decorator that registers ``loader`` under ``name`` (done once at import time)."""

    def deco(loader: Loader) -> Loader:
        _REGISTRY[name] = loader
        return loader

    return deco


def dataset_names() -> tuple[str, ...]:
    """Names accepted by :func:`load_dataset`, sorted."""
    return tuple(sorted(_REGISTRY))


def load_dataset(
    name: str, data_dir: str | Path | None = None, *, download: bool = False
) -> ImageDataset:
    """Load dataset ``name`` from ``data_dir`` (or its default locations).

    Raises:
        ConfigError: unknown name. DataError: files missing or corrupt.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; accepted: {', '.join(dataset_names())}")
    return _REGISTRY[name](data_path(data_dir), download)


def data_path(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` as an expanded :class:`Path` (``None`` stays ``None``).

    Raises:
        DataError: ``data_dir`` is given but is not an existing directory.
    """
    path = Path(data_dir).expanduser() if data_dir is not None else None
    if path is not None and not path.is_dir():
        raise DataError(
            f"--data-dir {str(path)!r} does not exist or is not a directory; "
            "point it at the folder holding the dataset files"
        )
    return path


@dataclass(frozen=True)
class Found:
    """Where a dataset's files were found without loading them.

    Attributes:
        origin: ``"--data-dir"``, ``"cache"``, ``"system"`` or ``"embedded"``.
        path: the folder or archive holding the data.
        files: the data files (their sizes make up the dataset's size on disk).
        format: the on-disk format (``"idx"``, ``"bin-tar"``, ...), for the loader's checks.
    """

    origin: str
    path: str
    files: tuple[Path, ...]
    format: str = ""

    @property
    def size(self) -> int:
        """Total size of :attr:`files` in bytes."""
        return sum(f.stat().st_size for f in self.files)


@dataclass(frozen=True)
class FileCheck:
    """The result of checking one file (or one split) against its known checksums.

    ``ok`` is ``True`` when the content is verified; ``detail`` says how, or what is wrong.
    """

    item: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class DatasetInfo:
    """What the ``datasets`` command shows about a registered dataset.

    Attributes:
        description: one line (size of the splits, image shape).
        class_names: one name per class.
        locate: ``locate(data_dir)`` finds the files without loading or downloading; ``None``
            when absent.
        verify: ``verify(found)`` checks the files' content.
        downloadable: whether ``spikeforge datasets download`` can fetch it.
    """

    description: str
    class_names: tuple[str, ...]
    locate: Callable[[Path | None], Found | None]
    verify: Callable[[Found], list[FileCheck]]
    downloadable: bool


_INFO: dict[str, DatasetInfo] = {}


def register_info(name: str, info: DatasetInfo) -> None:
    """Register what the ``datasets`` command shows for ``name`` (done once at import time)."""
    _INFO[name] = info


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (a placeholder for a loader registered without one).

    Raises:
        ConfigError: unknown name.
    """
    if name in _INFO:
        return _INFO[name]
    if name in _REGISTRY:
        return DatasetInfo(
            description="(no details registered)",
            class_names=(),
            locate=lambda data_dir: None,
            verify=lambda found: [],
            downloadable=False,
        )
    raise ConfigError(f"unknown dataset {name!r}; accepted: {', '.join(dataset_names())}")
