"""Native 2x2 max pooling against torch's, on the shapes of the peer benchmark's conv net.

Usage::

    python benchmarks/pool_kernel.py [--reps N]

For each input (one chunk of the chunked convolution, ``[640, C, H, W]``, and the whole
folded batch ``[3200, C, H, W]``), prints the median wall time of forward (with the window
positions kept for backward) and backward of ``spikeforge.pool_native`` and of torch's
``max_pool2d_with_indices`` (forward) and its backward, measured interleaved, and the bytes
per second the native forward reaches against a copy of the input. Not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import torch  # noqa: E402

from spikeforge import pool_native  # noqa: E402

SHAPES = [(640, 12, 24, 24), (640, 64, 8, 8), (3200, 12, 24, 24), (3200, 64, 8, 8)]
K = (2, 2)


def measure(shape: tuple[int, ...], reps: int) -> dict[str, float]:
    """Median milliseconds of each operation on a random input of ``shape``, interleaved."""
    aten = torch.ops.aten
    x = torch.randn(shape)
    y, idx = pool_native.forward_indexed(x, K)
    assert idx is not None
    gy = torch.randn_like(y)
    _, tidx = aten.max_pool2d_with_indices(x, K, K, (0, 0), (1, 1), False)
    fns = {
        "fwd torch": lambda: aten.max_pool2d_with_indices(x, K, K, (0, 0), (1, 1), False),
        "fwd native": lambda: pool_native.forward_indexed(x, K),
        "bwd torch": lambda: aten.max_pool2d_with_indices_backward(
            gy, x, K, K, (0, 0), (1, 1), False, tidx
        ),
        "bwd native": lambda: pool_native.backward_indexed(gy, idx, x.shape, K),
        "copy": lambda: x.clone(),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):  # interleaved, so drift hits every column alike
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    moved = x.numel() * 4 + y.numel() * 5  # read x, write y (float32) and idx (uint8)
    ms["native fwd GB/s"] = moved / ms["fwd native"] / 1e6
    return ms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=15, help="timed calls of each (default 15)")
    args = p.parse_args(argv)
    if pool_native.library_path() is None:
        print(f"native pooling unavailable: {pool_native.build_error()}")
        return 1
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median ms of {args.reps}")
    cols = ["fwd torch", "fwd native", "bwd torch", "bwd native", "copy", "native fwd GB/s"]
    print(f"{'input':>22}" + "".join(f"{c:>16}" for c in cols))
    for shape in SHAPES:
        ms = measure(shape, args.reps)
        print(f"{list(shape)!s:>22}" + "".join(f"{ms[c]:>16.2f}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
