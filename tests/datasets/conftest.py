"""Shared fixtures: where the real data copies lie, and an isolated cache folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The shared real data, a sibling of the repository (``../shared/data``).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"
CIFAR_TARBALL = SHARED_DATA / "cifar-10-binary.tar.gz"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def need(path: Path, what: str) -> None:
    """Skip the calling test with a clear reason when ``path`` does not exist."""
    if not path.exists():
        pytest.skip(f"{what} not found at {path}")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``$SPIKEFORGE_DATA`` at an empty folder and clear any mirror setting."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPIKEFORGE_DATA", str(cache))
    monkeypatch.delenv("SPIKEFORGE_MIRROR", raising=False)
    return cache
