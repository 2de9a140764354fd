"""CIFAR-10: the binary version (tarball or extracted folder) and the python version.

Formats, searched in this order inside each folder:

- ``cifar-10-batches-bin/`` (or the folder itself) holding ``data_batch_{1..5}.bin`` and
  ``test_batch.bin``: 10,000 records of 3,073 bytes (1 label byte, 1,024 R, 1,024 G, 1,024 B,
  each plane row-major 32x32);
- ``cifar-10-batches-py/`` holding ``data_batch_{1..5}`` and ``test_batch``: pickled dicts with
  ``data`` (uint8 ``[10000, 3072]``, same plane order) and ``labels``, read with a restricted
  unpickler (:mod:`spikeforge.datasets.safe_pickle`);
- ``cifar-10-binary.tar.gz`` / ``cifar-10-python.tar.gz``: the archives, streamed member by member.

The decoded uint8 arrays are verified (record counts, labels, an order-independent content
digest) and cached as ``.npy`` files in ``$SPIKEFORGE_DATA/cifar10/decoded-<key>/``, written
atomically and keyed by the source files' paths, sizes and modification times
(:mod:`spikeforge.datasets.array_cache`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
import zlib
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
from spikeforge.datasets.resolve import locate, resolve
from spikeforge.datasets.safe_pickle import safe_load
from spikeforge.datasets.sources import OFFICIAL, file_digest
from spikeforge.errors import DataError

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CONTENT_DIGEST",
    "PYTHON_ARCHIVE_MD5",
    "CifarArrays",
    "CifarSource",
    "cifar_arrays",
    "content_digest",
    "decode_cifar",
    "find_cifar",
    "load_cifar10",
    "verify_cifar",
]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
#: Per-channel (R, G, B) mean and population std of the 50,000 training images in ``[0, 1]``.
CIFAR10_MEAN = (0.49139969, 0.48215842, 0.44653092)
CIFAR10_STD = (0.24703224, 0.24348513, 0.26158784)

#: Published md5 of the python version's archive (the binary one is in ``sources.OFFICIAL``).
PYTHON_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
_SUBDIRS = ("cifar10", "cifar-10")
_RECORD = 1 + 3 * 32 * 32
_PER_BATCH = 10000
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = ("test_batch",)

#: Order-independent digest of each split (see :func:`content_digest`). Computed from the
#: reference copy in ``../shared/data``, a lossless rebuild of the official 50,000/10,000 split
#: whose records equal the official ones (only their order differs, which the digest ignores).
CONTENT_DIGEST = {
    "train": "55a61f79a40ece2ceda9fb5f9f7078f6ea2fc4952489cef56682bcf92cfcc260",
    "test": "325704b01eb92e1e2a6215ae6a916bb7db7de054af0c496be1c7be2e0fcfbf5f",
}


@dataclass(frozen=True)
class CifarSource:
    """Where CIFAR-10 was found: ``kind`` is ``"bin-dir"``, ``"py-dir"``, ``"bin-tar"`` or
    ``"py-tar"``, ``path`` the folder or archive."""

    kind: str
    path: Path

    def files(self) -> list[Path]:
        """The files whose bytes make up this source (for the cache key and sizes)."""
        if self.kind.endswith("tar"):
            return [self.path]
        suffix = ".bin" if self.kind == "bin-dir" else ""
        return [self.path / f"{b}{suffix}" for b in _TRAIN + _TEST]


@dataclass(frozen=True)
class CifarArrays:
    """Decoded CIFAR-10: uint8 images ``[N, 3, 32, 32]`` and uint8 labels ``[N]`` per split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def find_cifar(folder: Path) -> CifarSource | None:
    """The CIFAR-10 source in ``folder`` (extracted folders first, then archives), or ``None``."""
    for sub in ("", "cifar-10-batches-bin"):
        d = folder / sub
        if all((d / f"{b}.bin").is_file() for b in _TRAIN + _TEST):
            return CifarSource("bin-dir", d)
    for sub in ("", "cifar-10-batches-py"):
        d = folder / sub
        if all((d / b).is_file() for b in _TRAIN + _TEST):
            return CifarSource("py-dir", d)
    for name, kind in (("cifar-10-binary.tar.gz", "bin-tar"), ("cifar-10-python.tar.gz", "py-tar")):
        if (folder / name).is_file():
            return CifarSource(kind, folder / name)
    return None


def _parse_bin(data: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Records of a binary batch -> (uint8 ``[10000, 3, 32, 32]``, uint8 ``[10000]``)."""
    if len(data) != _RECORD * _PER_BATCH:
        raise DataError(
            f"{what}: {len(data)} bytes, expected {_RECORD * _PER_BATCH} (10,000 records of "
            f"{_RECORD} bytes); the file is truncated or corrupt"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(_PER_BATCH, _RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0]


def _parse_py(data: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A python-version batch (restricted unpickling) -> images ``[10000, 3, 32, 32]``, labels."""
    batch = safe_load(data, what=what)
    if not isinstance(batch, dict):
        raise DataError(f"{what}: expected a pickled dict, got {type(batch).__name__}")
    get = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    images, labels = get.get("data"), get.get("labels")
    if (not isinstance(images, np.ndarray) or images.dtype != np.uint8
            or images.shape != (_PER_BATCH, 3072) or not isinstance(labels, list)
            or len(labels) != _PER_BATCH):
        raise DataError(
            f"{what}: expected 'data' uint8 [10000, 3072] and 10,000 'labels'; not a CIFAR-10 batch"
        )
    return images.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64).astype(np.uint8)


def _read_members(source: CifarSource) -> dict[str, bytes]:
    """Batch name (``data_batch_1``, ..., ``test_batch``) -> raw bytes, streaming archives."""
    wanted = set(_TRAIN + _TEST)
    if not source.kind.endswith("tar"):
        return {Path(p).name.removesuffix(".bin"): p.read_bytes() for p in source.files()}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(source.path, "r|*") as archive:
            for member in archive:
                base = Path(member.name).name.removesuffix(".bin")
                if member.isfile() and base in wanted:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found[base] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{source.path}: corrupt or truncated archive ({exc}); replace it with the "
            "official file"
        ) from exc
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(f"{source.path}: archive lacks {', '.join(missing)}; not CIFAR-10")
    return found


def content_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """Order-independent sha256 of a split: records hashed one by one, digests sorted, hashed.

    A record is the label byte then the 3,072 pixel bytes (R, G, B planes), as in the binary
    version, so both versions and any record order give the same digest.

    Args:
        images: uint8 ``[N, 3, 32, 32]``. labels: uint8 ``[N]``.
    """
    records = np.concatenate([labels.reshape(-1, 1), images.reshape(len(images), -1)], axis=1)
    records = np.ascontiguousarray(records, dtype=np.uint8)
    digests = sorted(hashlib.sha256(row).digest() for row in records)
    return hashlib.sha256(b"".join(digests)).hexdigest()


def decode_cifar(source: CifarSource, *, verify: bool = True) -> CifarArrays:
    """Decode CIFAR-10 from ``source`` into uint8 arrays and check it.

    Checks 50,000/10,000 records, labels in ``[0, 10)``, and (``verify``) the content digest of
    each split against :data:`CONTENT_DIGEST`.

    Raises:
        DataError: wrong sizes, labels, digest, or a corrupt file.
    """
    members = _read_members(source)
    parse = _parse_bin if source.kind.startswith("bin") else _parse_py
    parts = {b: parse(members.pop(b), f"{source.path}:{b}") for b in _TRAIN + _TEST}
    arrays = CifarArrays(
        x_train=np.concatenate([parts[b][0] for b in _TRAIN]),
        y_train=np.concatenate([parts[b][1] for b in _TRAIN]),
        x_test=parts["test_batch"][0].copy(),
        y_test=parts["test_batch"][1].copy(),
    )
    for split, labels in (("train", arrays.y_train), ("test", arrays.y_test)):
        if labels.max(initial=0) >= len(CIFAR10_CLASSES):
            raise DataError(f"{source.path}: {split} labels go up to {labels.max()}, expected 0..9")
    if verify:
        for split in ("train", "test"):
            problem = _digest_problem(arrays, split)
            if problem is not None:
                raise DataError(f"{source.path}: {problem}")
    return arrays


def _digest_problem(arrays: CifarArrays, split: str) -> str | None:
    """``None`` when ``split``'s content digest is the published data's, else what differs."""
    x, y = (arrays.x_train, arrays.y_train) if split == "train" else (arrays.x_test, arrays.y_test)
    got = content_digest(x, y)
    if got == CONTENT_DIGEST[split]:
        return None
    return (f"the {split} images' content digest is {got}, expected {CONTENT_DIGEST[split]}; "
            "the data is not CIFAR-10 as published")


def cifar_arrays(source: CifarSource) -> CifarArrays:
    """Decoded, verified arrays of ``source``, from the cache when it holds them."""
    arrays = cached_arrays(
        "cifar10", source.files(), source.kind, ("x_train", "y_train", "x_test", "y_test"),
        lambda: dataclasses.asdict(decode_cifar(source)),
    )
    return CifarArrays(**arrays)


def _to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, 3, 32, 32]`` -> float32 in ``[0, 1]``."""
    return torch.from_numpy(images).to(torch.float32).div_(255.0)


@register("cifar10")
def load_cifar10(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """CIFAR-10: 50,000 + 10,000 colour 32x32 images as float32 ``[N, 3, 32, 32]`` in ``[0, 1]``.

    Raises:
        DataError: not found (with where to put which file), corrupt, or not CIFAR-10.
    """
    _, source = resolve("cifar10", data_dir, download, find_cifar, subdirs=_SUBDIRS)
    arrays = cifar_arrays(source)
    return ImageDataset(
        name="cifar10",
        x_train=_to_float(arrays.x_train),
        y_train=torch.from_numpy(arrays.y_train.astype(np.int64)),
        x_test=_to_float(arrays.x_test),
        y_test=torch.from_numpy(arrays.y_test.astype(np.int64)),
        class_names=CIFAR10_CLASSES,
        source=str(source.path),
    )


def _locate(data_dir: Path | None) -> Found | None:
    """Where CIFAR-10 is (no download), as a :class:`Found` whose format is the source kind."""
    hit = locate("cifar10", data_dir, find_cifar, subdirs=_SUBDIRS)
    if hit is None:
        return None
    loc, source = hit
    return Found(loc.origin, str(source.path), tuple(source.files()), source.kind)


def verify_cifar(found: Found) -> list[FileCheck]:
    """Check CIFAR-10 at ``found``: the archive's md5 (informative) and each split's digest."""
    source = CifarSource(found.format, Path(found.path))
    checks = []
    if source.kind.endswith("tar"):
        published = OFFICIAL["cifar10"][0].md5 if source.kind == "bin-tar" else PYTHON_ARCHIVE_MD5
        same = file_digest(source.path, "md5") == published
        checks.append(FileCheck(source.path.name, True, (
            "md5 identical to the published archive" if same else
            "md5 differs from the published archive (repacked copy; the content decides)")))
    try:
        arrays = decode_cifar(source, verify=False)
    except DataError as exc:
        return [*checks, FileCheck(source.path.name, False, str(exc))]
    for split, n in (("train", len(arrays.y_train)), ("test", len(arrays.y_test))):
        problem = _digest_problem(arrays, split)
        checks.append(FileCheck(f"{split} split", problem is None,
                                problem or f"{n} records, content digest ok"))
    return checks


register_info("cifar10", DatasetInfo(
    description="50,000 + 10,000 colour 32x32 images (binary or python version)",
    class_names=CIFAR10_CLASSES,
    locate=_locate,
    verify=verify_cifar,
    downloadable=True,
))
