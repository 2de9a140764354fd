"""The "nmnist" dataset from generated recordings in the official layout (folder and zips)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.cli import main
from spikeforge.datasets import load_dataset
from spikeforge.datasets.events import NMNIST_SENSOR, encode_nmnist, to_spike_tensor
from spikeforge.errors import DataError
from tests.datasets.test_events import random_events

PER_CLASS = {"Train": 2, "Test": 1}


def write_layout(root: Path) -> dict[str, list[np.ndarray]]:
    """Write ``Train/<d>/*.bin`` and ``Test/<d>/*.bin``; return the recordings in sorted order."""
    written: dict[str, list[np.ndarray]] = {}
    seed = 0
    for split, k in PER_CLASS.items():
        written[split] = []
        for digit in range(10):
            folder = root / split / str(digit)
            folder.mkdir(parents=True)
            for j in range(k):
                seed += 1
                events = random_events(50 + 10 * digit, 300_000, seed=seed)
                (folder / f"{j:05d}.bin").write_bytes(encode_nmnist(events))
                written[split].append(events)
    return written


def zip_layout(src: Path, dest: Path) -> None:
    """Pack ``src/Train`` and ``src/Test`` into ``dest/Train.zip`` and ``dest/Test.zip``."""
    dest.mkdir()
    for split in PER_CLASS:
        with zipfile.ZipFile(dest / f"{split}.zip", "w") as zf:
            for f in sorted((src / split).rglob("*.bin")):
                zf.write(f, f.relative_to(src).as_posix())


def test_folder_and_zip_layouts_load_the_same(tmp_path: Path) -> None:
    written = write_layout(tmp_path / "extracted")
    zip_layout(tmp_path / "extracted", tmp_path / "zipped")
    a = load_dataset("nmnist", tmp_path / "extracted")
    b = load_dataset("nmnist", tmp_path / "zipped")
    for ds in (a, b):
        assert ds.x_train.shape == (20, 2, 34, 34) and ds.x_train.dtype == torch.float32
        assert ds.x_test is not None and ds.x_test.shape == (10, 2, 34, 34)
        assert float(ds.x_train.amax(dim=(1, 2, 3)).min()) == 1.0 and float(ds.x_train.min()) == 0
        assert ds.y_train.tolist() == [d for d in range(10) for _ in range(2)]
        assert ds.events is not None and len(ds.events.train) == 20
    assert torch.equal(a.x_train, b.x_train)
    # the recordings behind the images give the spike tensor of the events written
    assert a.events is not None and b.events is not None
    expected = to_spike_tensor([written["Train"][3], written["Train"][0]], NMNIST_SENSOR, 6)
    assert torch.equal(a.events.train.spikes([3, 0], 6), expected)
    assert torch.equal(b.events.train.spikes([3, 0], 6), expected)
    b.events.train.close()


def test_count_images_are_cached_and_a_damaged_cache_is_rebuilt(
    tmp_path: Path, isolated_cache: Path
) -> None:
    write_layout(tmp_path)
    first = load_dataset("nmnist", tmp_path)
    cached = list((isolated_cache / "nmnist").glob("decoded-*/x_train.npy"))
    assert len(cached) == 1
    assert torch.equal(load_dataset("nmnist", tmp_path).x_train, first.x_train)
    cached[0].write_bytes(cached[0].read_bytes()[:100])  # a truncated cache file
    assert torch.equal(load_dataset("nmnist", tmp_path).x_train, first.x_train)
    assert np.array_equal(np.load(cached[0]), first.x_train.numpy())  # rewritten whole


def test_truncated_recording_is_a_clear_error(tmp_path: Path) -> None:
    write_layout(tmp_path)
    bad = tmp_path / "Test" / "4" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:-2])
    with pytest.raises(DataError, match=r"Test/4/00000\.bin: \d+ bytes is not a whole number"):
        load_dataset("nmnist", tmp_path)


def test_missing_dataset_names_the_published_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Train\.zip \(md5 20959b8e626244a1b502305a9e6e2031\)"):
        load_dataset("nmnist", tmp_path)


def test_verify_reports_split_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_layout(tmp_path)
    assert main(["datasets", "verify", "nmnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  Train split: 20 recordings, expected 60000" in out
