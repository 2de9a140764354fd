"""CIFAR-10: the real tarball, extracted binary and python versions, the cache, bad files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.datasets import load_dataset
from spikeforge.datasets.cifar import (
    CIFAR10_CLASSES,
    CifarArrays,
    cifar_arrays,
    decode_cifar,
    find_cifar,
)
from spikeforge.datasets.safe_pickle import safe_load
from spikeforge.errors import DataError
from tests.datasets.conftest import CIFAR_TARBALL, need

# Per-channel means of the CIFAR-10 training images as commonly published (R, G, B), to 8 places
# (the blue one is cut rather than rounded, hence the tolerance of 2e-8).
PUBLISHED_MEANS = (0.49139968, 0.48215841, 0.44653091)
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.fixture(scope="session")
def cifar_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by this session's CIFAR tests (the tarball is decoded once)."""
    return tmp_path_factory.mktemp("cifar-cache")


@pytest.fixture(scope="session")
def cifar_arrays_real(cifar_cache: Path) -> CifarArrays:
    """The real CIFAR-10 as uint8 arrays, decoded (and cached in ``cifar_cache``) once."""
    need(CIFAR_TARBALL, "CIFAR-10 binary tarball (../shared/data/cifar-10-binary.tar.gz)")
    source = find_cifar(CIFAR_TARBALL.parent)
    assert source is not None and source.kind == "bin-tar"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPIKEFORGE_DATA", str(cifar_cache))
        return cifar_arrays(source)


def batches(arrays: CifarArrays) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split arrays into the official six batches of 10,000 (images, labels)."""
    out = {
        b: (
            arrays.x_train[i * 10000 : (i + 1) * 10000],
            arrays.y_train[i * 10000 : (i + 1) * 10000],
        )
        for i, b in enumerate(TRAIN)
    }
    out["test_batch"] = (arrays.x_test, arrays.y_test)
    return out


def write_bin_dir(folder: Path, arrays: CifarArrays) -> Path:
    """Write the binary version's batch files (label byte + R, G, B planes per record)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in batches(arrays).items():
        records = np.concatenate([y.reshape(-1, 1), x.reshape(len(x), -1)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.astype(np.uint8).tobytes())
    return folder


@pytest.fixture(scope="session")
def cifar_bin_dir(tmp_path_factory: pytest.TempPathFactory, cifar_arrays_real: CifarArrays) -> Path:
    """The real data written once as an extracted binary version (``cifar-10-batches-bin``)."""
    return write_bin_dir(
        tmp_path_factory.mktemp("cifar-bin") / "cifar-10-batches-bin", cifar_arrays_real
    )


def assert_same(a: CifarArrays, b: CifarArrays) -> None:
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_real_tarball_loads_and_matches_published_statistics(
    cifar_cache: Path, cifar_arrays_real: CifarArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPIKEFORGE_DATA", str(cifar_cache))
    ds = load_dataset("cifar10", CIFAR_TARBALL.parent)
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_train.dtype == torch.float32
    assert ds.x_test is not None and ds.x_test.shape == (10000, 3, 32, 32)
    assert ds.y_train.bincount().tolist() == [5000] * 10
    assert ds.y_test is not None and ds.y_test.bincount().tolist() == [1000] * 10
    assert ds.class_names == CIFAR10_CLASSES and ds.class_names[:2] == ("airplane", "automobile")
    means = ds.x_train.double().mean(dim=(0, 2, 3)).tolist()
    assert means == pytest.approx(PUBLISHED_MEANS, abs=2e-8)
    # the tensors are the decoded bytes scaled by 1/255
    assert torch.equal(ds.x_test, torch.from_numpy(cifar_arrays_real.x_test).float() / 255)
    decoded = list((cifar_cache / "cifar10").glob("decoded-*/x_train.npy"))
    assert len(decoded) == 1  # decoded once, by the fixture; this load read the cache


def test_extracted_binary_folder(cifar_bin_dir: Path, cifar_arrays_real: CifarArrays) -> None:
    source = find_cifar(cifar_bin_dir.parent)
    assert source is not None and (source.kind, source.path) == ("bin-dir", cifar_bin_dir)
    assert_same(decode_cifar(source), cifar_arrays_real)  # decode_cifar checks the digests


def test_python_version_with_restricted_unpickler(
    tmp_path: Path, cifar_arrays_real: CifarArrays
) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, (x, y) in batches(cifar_arrays_real).items():
        batch = {
            b"batch_label": name.encode(),
            b"labels": y.astype(int).tolist(),
            b"data": x.reshape(len(x), -1).copy(),
            b"filenames": [b"x.png"] * len(y),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    source = find_cifar(tmp_path)
    assert source is not None and (source.kind, source.path) == ("py-dir", folder)
    assert_same(decode_cifar(source), cifar_arrays_real)  # same records, same digests


class _Exploit:
    """Unpickling this runs ``os.system`` under the plain unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_malicious_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Exploit(marker)}, protocol=2)
    with pytest.raises(DataError, match=r"refused to load (posix|os|nt)\.system"):
        safe_load(payload, what="data_batch_1")
    assert not marker.exists()
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [*TRAIN, "test_batch"]:
        (folder / name).write_bytes(payload)
    with pytest.raises(DataError, match="refused to load"):
        load_dataset("cifar10", tmp_path)
    assert not marker.exists()


def test_truncated_pickle_is_a_clear_error() -> None:
    good = pickle.dumps({b"labels": [1, 2, 3]}, protocol=2)
    with pytest.raises(DataError, match="corrupt or truncated pickle"):
        safe_load(good[: len(good) // 2], what="test_batch")


def test_truncated_tarball_is_a_clear_error(tmp_path: Path) -> None:
    need(CIFAR_TARBALL, "CIFAR-10 binary tarball (../shared/data/cifar-10-binary.tar.gz)")
    with open(CIFAR_TARBALL, "rb") as fh:
        (tmp_path / CIFAR_TARBALL.name).write_bytes(fh.read(3_000_000))
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        load_dataset("cifar10", tmp_path)


def test_bad_batches_give_clear_errors(tmp_path: Path, cifar_bin_dir: Path) -> None:
    good = cifar_bin_dir
    short, altered = tmp_path / "short", tmp_path / "altered"
    for folder in (short, altered):
        folder.mkdir()
        for f in good.iterdir():
            (folder / f.name).symlink_to(f)
    one = (good / "data_batch_3.bin").read_bytes()
    (short / "data_batch_3.bin").unlink()
    (short / "data_batch_3.bin").write_bytes(one[:-3073])
    with pytest.raises(DataError, match="data_batch_3: 30726927 bytes, expected 30730000"):
        load_dataset("cifar10", short)
    (altered / "test_batch.bin").unlink()
    test = bytearray((good / "test_batch.bin").read_bytes())
    test[500] ^= 0xFF  # one pixel of the first test image
    (altered / "test_batch.bin").write_bytes(bytes(test))
    with pytest.raises(DataError, match="test images' content digest"):
        load_dataset("cifar10", altered)
