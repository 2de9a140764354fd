"""Time ``load_dataset`` for the real datasets: CIFAR-10 cold (empty cache) and cached, MNIST,
Fashion-MNIST.

Run: ``PYTHONPATH=src python benchmarks/dataset_load.py [DATA_DIR]`` (default ``../shared/data``
relative to the repository). Uses a fresh temporary cache folder; prints seconds per load and
the machine's load average, since a busy machine stretches every figure.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from spikeforge.datasets import load_dataset
from spikeforge.errors import DataError


def timed(name: str, data_dir: Path | None) -> float:
    """Seconds one ``load_dataset(name, data_dir)`` takes."""
    t0 = time.perf_counter()
    load_dataset(name, data_dir)
    return time.perf_counter() - t0


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else repo.parent / "shared" / "data"
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SPIKEFORGE_DATA"] = cache
        print(f"load average {os.getloadavg()[0]:.1f}; data {data}")
        runs = [("cifar10", data, "cold (decode + verify + cache)"), ("cifar10", data, "cached"),
                ("mnist", data, ""), ("fashion-mnist", None, "")]
        for name, where, note in runs:
            try:
                print(f"  {name:14s} {timed(name, where):6.2f} s  {note}")
            except DataError as exc:
                print(f"  {name:14s} skipped: {exc}")
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
