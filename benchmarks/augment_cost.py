"""Cost of the CIFAR-10 augmentation pipeline per batch of 128, against a per-image loop.

Run: ``PYTHONPATH=src python benchmarks/augment_cost.py [--threads N]``. Prints the fastest and
the median time per batch of each transform and of the whole pipeline (crop 4 + flip + cutout 8 +
normalise), the same pipeline written as a Python loop over images (the usual torchvision-style
per-sample transform) measured in the same run, their ratio, and the machine's load average
during the run (a busy machine inflates the medians; the fastest times are the robust figure).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from spikeforge.augment import Augmentation, cutout, horizontal_flip, normalize, random_crop
from spikeforge.datasets.cifar import CIFAR10_MEAN, CIFAR10_STD


def per_image_loop(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The same pipeline, one image at a time (the reference a vectorised version must beat)."""
    out = torch.empty_like(x)
    mean = torch.tensor(CIFAR10_MEAN)[:, None, None]
    std = torch.tensor(CIFAR10_STD)[:, None, None]
    for i in range(len(x)):
        img = F.pad(x[i], (4, 4, 4, 4))
        dy, dx = (int(v) for v in torch.randint(0, 9, (2,), generator=g))
        img = img[:, dy:dy + 32, dx:dx + 32]
        if float(torch.rand(1, generator=g)) < 0.5:
            img = img.flip(-1)
        cy, cx = (int(v) for v in torch.randint(0, 32, (2,), generator=g))
        img = img.clone()
        img[:, max(cy - 4, 0):cy + 4, max(cx - 4, 0):cx + 4] = 0
        out[i] = (img - mean) / std
    return out


def timings_ms(fn: Callable[[], object], reps: int = 60, warmup: int = 5) -> tuple[float, float]:
    """Fastest and median wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    torch.set_num_threads(parser.parse_args().threads)
    torch.manual_seed(0)
    x = torch.rand(128, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    pipeline = Augmentation(4, 0.5, 8, CIFAR10_MEAN, CIFAR10_STD)
    load_before = os.getloadavg()[0]
    rows = {
        "random_crop(pad 4)": timings_ms(lambda: random_crop(x, 4, g)),
        "horizontal_flip": timings_ms(lambda: horizontal_flip(x, 0.5, g)),
        "cutout(8)": timings_ms(lambda: cutout(x, 8, g)),
        "normalize": timings_ms(lambda: normalize(x, CIFAR10_MEAN, CIFAR10_STD)),
        "pipeline (batched)": timings_ms(lambda: pipeline(x, g)),
        "pipeline (per-image loop)": timings_ms(lambda: per_image_loop(x, g), reps=15),
    }
    load_after = os.getloadavg()[0]
    print(f"batch [128, 3, 32, 32] float32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load_before:.1f} -> {load_after:.1f}")
    print(f"  {'':28s} {'fastest':>9s} {'median':>9s}")
    for name, (best, med) in rows.items():
        print(f"  {name:28s} {best:6.3f} ms {med:6.3f} ms")
    ratio = rows["pipeline (per-image loop)"][0] / rows["pipeline (batched)"][0]
    print(f"  batched pipeline (fastest runs) is {ratio:.1f}x faster than the per-image loop")


if __name__ == "__main__":
    main()
