"""The binary convolution's kernels against torch's on one chunk of the peer benchmark's conv net.

Usage::

    python benchmarks/binary_conv_chunk.py [--reps N] [--threads T ...] [--density P]

The chunk is the second convolution of ``benchmarks/peers.py``'s conv net: 640 images of
12 x 12 x 12 spikes (density ``P``, default 0.225, the first LIF layer's rate measured in
the benchmark with direct input) into 64 channels, 5 x 5, followed by a 2 x 2 max pool. For
each thread count, prints the median wall time (ms) of every step of a training pass, the
native kernel and the torch operations it replaces measured interleaved:

- forward: packing the im2col row patterns + the table forward pooled as it is written,
  against ``F.conv2d`` + ``max_pool2d_with_indices``;
- weight gradient: binned from the row patterns and the pooled gradient, against unpooling
  + torch's convolution weight gradient;
- input gradient: straight from the pooled gradient, against unpooling + torch's
  convolution input gradient.

Not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from spikeforge import binary_conv_native as bc  # noqa: E402
from spikeforge import binary_linear_native as bl  # noqa: E402
from spikeforge import pooled_conv_grad_native as pg  # noqa: E402

N, C, OUT, H, KS = 640, 12, 64, 12, 5
ONE, ZERO = (1, 1), (0, 0)
aten = torch.ops.aten


def operations(density: float) -> dict[str, Callable[[], object]]:
    """The timed operations on one random chunk, by name (``native``/``torch`` pairs)."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(N, C, H, H, generator=gen) < density).float()
    w = torch.randn(OUT, C, KS, KS, generator=gen) * 0.1
    b = torch.randn(OUT, generator=gen) * 0.1
    rows = bc.pack(x, w, ONE, ZERO, ONE)
    assert rows is not None, "the chunk is not binary"
    conv_size = bc.output_size(x, w, ONE, ZERO, ONE)
    yp, idx = bc.conv_forward_pooled(rows, w, b, N, conv_size)
    conv = F.conv2d(x, w, b)
    _, tidx = aten.max_pool2d_with_indices(conv, [2, 2], [2, 2], [0, 0], [1, 1], False)
    gp = torch.randn(yp.shape, generator=gen)

    def unpooled() -> torch.Tensor:
        return aten.max_pool2d_with_indices_backward(
            gp, conv, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
        )

    def torch_grad(which: tuple[bool, bool, bool]) -> object:
        return aten.convolution_backward(
            unpooled(), x, w, [OUT], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, list(which)
        )

    return {
        "forward native": lambda: bc.conv_forward_pooled(
            bc.pack(x, w, ONE, ZERO, ONE), w, b, N, conv_size
        ),
        "forward torch": lambda: aten.max_pool2d_with_indices(
            F.conv2d(x, w, b), [2, 2], [2, 2], [0, 0], [1, 1], False
        ),
        "pack alone": lambda: bc.pack(x, w, ONE, ZERO, ONE),
        "weight grad native": lambda: bc.weight_grad_pooled(rows, gp, idx, w.shape, conv_size),
        "weight grad torch": lambda: torch_grad((False, True, False)),
        "input grad native": lambda: pg.input_grad(gp, idx, w, x.shape, ZERO),
        "input grad torch": lambda: torch_grad((True, False, False)),
    }


def measure(density: float, reps: int) -> dict[str, float]:
    """Median milliseconds of every operation, interleaved so drift hits all alike."""
    fns = operations(density)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=15, help="timed calls per operation (>= 1)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--density", type=float, default=0.225, help="spike density, 0 to 1")
    args = ap.parse_args()
    if args.reps < 1 or min(args.threads) < 1 or not 0.0 <= args.density <= 1.0:
        ap.error("--reps and --threads must be >= 1 and --density within 0 to 1")
    if bl._library() is None or pg._NATIVE.load() is None:
        raise SystemExit("error: the native libraries cannot be built (is g++ installed?)")
    print(
        f"chunk: {N} x {C} x {H} x {H} spikes (density {args.density}) -> {OUT} channels, "
        f"{KS}x{KS}, then 2x2 max pool; median of {args.reps} interleaved calls, ms"
    )
    saved = torch.get_num_threads()
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            ms = measure(args.density, args.reps)
            print(f"{threads} thread(s):")
            for part in ("forward", "weight grad", "input grad"):
                nat, ref = ms[f"{part} native"], ms[f"{part} torch"]
                print(f"  {part:12s} native {nat:7.2f}  torch {ref:7.2f}  ({ref / nat:4.1f}x)")
            print(f"  (packing the row patterns alone: {ms['pack alone']:.2f})")
    finally:
        torch.set_num_threads(saved)


if __name__ == "__main__":
    main()
