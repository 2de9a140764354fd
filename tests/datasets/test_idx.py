"""IDX reader, MNIST and Fashion-MNIST loaders: real copies, resolution order, bad files."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.datasets import load_dataset
from spikeforge.datasets.idx import read_idx
from spikeforge.datasets.sources import OFFICIAL
from spikeforge.errors import DataError
from tests.datasets.conftest import FASHION_DIR, MNIST_DIR, SHARED_DATA, need

# Published per-class counts of MNIST (LeCun et al.), train and test.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

# sha256 of the decompressed official MNIST files, as listed in ../shared/data/README.md.
MNIST_README_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The README abbreviates the Fashion-MNIST hashes as prefix…suffix. It prints the t10k-labels
# suffix as "7c34"; the decompressed Debian file and independent projects that fetch the official
# GitHub file agree on ...dec38c34 (the README's "7" is a typo), so "8c34" is checked here.
FASHION_README_ABBREV = {
    "train-images-idx3-ubyte": ("c59f468a", "d888"),
    "train-labels-idx1-ubyte": ("bad3541b", "43d9"),
    "t10k-images-idx3-ubyte": ("5b4141f0", "e37b"),
    "t10k-labels-idx1-ubyte": ("0402a96d", "8c34"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (big-endian dims after the magic number)."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_table_matches_shared_readme() -> None:
    table = {f.filename[:-3]: f.content_sha256 for f in OFFICIAL["mnist"]}
    assert table == MNIST_README_SHA256
    for f in OFFICIAL["fashion-mnist"]:
        prefix, suffix = FASHION_README_ABBREV[f.filename[:-3]]
        assert f.content_sha256 is not None
        assert f.content_sha256.startswith(prefix) and f.content_sha256.endswith(suffix)


def test_mnist_real_copy() -> None:
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    ds = load_dataset("mnist", MNIST_DIR)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_train.dtype == torch.float32
    assert ds.x_test is not None and ds.x_test.shape == (10000, 1, 28, 28)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert ds.y_train.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert ds.y_test is not None and ds.y_test.bincount().tolist() == MNIST_TEST_COUNTS
    # content: the tensor maps back to the official decompressed bytes
    raw = np.round(ds.x_test.squeeze(1).numpy() * 255).astype(np.uint8)
    digest = hashlib.sha256(idx_bytes(raw)).hexdigest()
    assert digest == MNIST_README_SHA256["t10k-images-idx3-ubyte"]


def test_mnist_found_in_parent_folder_subdir() -> None:
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    ds = load_dataset("mnist", SHARED_DATA)  # ../shared/data holds mnist/ as a sub-folder
    assert ds.source == str(MNIST_DIR)


def test_fashion_mnist_debian_copy() -> None:
    need(FASHION_DIR, "Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion-mnist")  # found in the system location, no --data-dir
    assert ds.source == str(FASHION_DIR)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.y_train.bincount().tolist() == [6000] * 10
    assert ds.y_test is not None and ds.y_test.bincount().tolist() == [1000] * 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    for f in OFFICIAL["fashion-mnist"]:
        content = gzip.decompress((FASHION_DIR / f.filename).read_bytes())
        assert hashlib.sha256(content).hexdigest() == f.content_sha256


def test_cache_dir_comes_before_system_location(isolated_cache: Path) -> None:
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    target = isolated_cache / "fashion-mnist"
    shutil.copytree(MNIST_DIR, target)  # MNIST content under the fashion-mnist name
    with pytest.raises(DataError, match="sha256 of the decompressed content"):
        load_dataset("fashion-mnist")  # the cache copy is chosen first, and its content checked


def test_missing_data_message_names_files_and_checksums(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "train-images-idx3-ubyte.gz" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert str(tmp_path) in msg and "spikeforge datasets download mnist" in msg


def test_raw_and_gzip_read_the_same(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(array))
    (tmp_path / "b-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array)))
    a = read_idx(tmp_path / "a-idx3-ubyte", ndim=3, count=2)
    b = read_idx(tmp_path / "b-idx3-ubyte.gz", ndim=3, count=2)
    np.testing.assert_array_equal(a, array)
    np.testing.assert_array_equal(b, array)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-7], "truncated or corrupt"),
        (lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number"),
        (lambda b: b[:4] + (9).to_bytes(4, "big") + b[8:], "holds 9 items, expected 2"),
        (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "sha256"),
    ],
    ids=["truncated", "magic", "count", "content"],
)
def test_bad_idx_files_give_clear_errors(tmp_path: Path, mutate, message: str) -> None:
    good = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(DataError, match=message):
        read_idx(path, ndim=3, count=2, sha256=hashlib.sha256(good).hexdigest())


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    for src in MNIST_DIR.iterdir():
        data = src.read_bytes()
        cut = data[: len(data) // 2] if src.name.startswith("t10k-images") else data
        (tmp_path / src.name).write_bytes(cut)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: not a readable gzip"):
        load_dataset("mnist", tmp_path)


def test_explicit_data_dir_is_the_only_place_searched(tmp_path: Path) -> None:
    need(FASHION_DIR, "Debian's dataset-fashion-mnist")
    searched = re.escape(f"searched {tmp_path}, {tmp_path / 'fashion-mnist'}")
    with pytest.raises(DataError, match=searched):
        load_dataset("fashion-mnist", tmp_path)  # no silent fall-back to the system copy


def test_cache_root_follows_env_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spikeforge.datasets.locate import cache_root

    assert cache_root() == tmp_path / "cache"  # $SPIKEFORGE_DATA, set by the autouse fixture
    monkeypatch.delenv("SPIKEFORGE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform not in ("win32", "darwin"):
        assert cache_root() == tmp_path / "xdg" / "spikeforge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if sys.platform not in ("win32", "darwin"):
        assert cache_root() == tmp_path / "home" / ".cache" / "spikeforge"
