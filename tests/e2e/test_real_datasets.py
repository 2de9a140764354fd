"""End-to-end training on the real MNIST and Fashion-MNIST copies (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import read_json, run_cli

REPO_ROOT = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

QUICK = [
    "--arch",
    "mlp",
    "--hidden",
    "64",
    "--num-steps",
    "4",
    "--epochs",
    "1",
    "--lr",
    "1e-2",
    "--max-train-samples",
    "2000",
    "--batch-size",
    "64",
    "--no-progress",
]


def _train(args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    code, stdout, err = run_cli(["train", *args, *QUICK, "--out", str(out)], capsys)
    assert code == 0, err
    assert "test 10000" in stdout  # the official test split is kept
    return read_json(out / "metrics.json")


def test_mnist_from_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST copy not found at {MNIST_DIR}")
    m = _train(["--dataset", "mnist", "--data-dir", str(MNIST_DIR)], tmp_path / "run", capsys)
    assert m["num_samples"] == 10000
    assert sum(r["support"] for r in m["per_class"].values()) == 10000
    assert m["per_class"]["1"]["support"] == 1135  # official test-set count of ones
    assert m["accuracy"] > 0.7  # 2,000 training images, one epoch


def test_fashion_mnist_from_system_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not FASHION_DIR.is_dir():
        pytest.skip(
            f"Fashion-MNIST not installed at {FASHION_DIR} (apt-get install dataset-fashion-mnist)"
        )
    m = _train(["--dataset", "fashion-mnist"], tmp_path / "run", capsys)
    assert set(m["per_class"]) >= {"T-shirt/top", "Trouser", "Ankle boot"}
    assert all(r["support"] == 1000 for r in m["per_class"].values())
    assert m["accuracy"] > 0.45  # chance is 0.1; one epoch on 2,000 images
