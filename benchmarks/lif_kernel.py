"""Wall time and memory throughput of the native fused LIF kernel (forward, backward, both).

Usage::

    python benchmarks/lif_kernel.py [--threads 2] [--repeats 30] [--baseline OLD.cpp]

Times ``kernel_native.forward`` and ``kernel_native.backward`` (outputs allocated by the
kernel, as in training) on float32 ``[T, B, N]`` inputs for three layer sizes, and reports
the median and fastest wall time of each plus the bytes each must move (forward: read x,
write s and u; backward: read u and grad s, write grad x) per second. For reference, the
same run times ``torch.empty(n).fill_(0)`` (a fresh allocation written once: what a kernel
writing new outputs pays at least) and ``dst.copy_(src)`` into an existing tensor (the
machine's copy bandwidth). ``--baseline`` builds another version of ``fused_cpu.cpp`` and
times it interleaved with the current one (A B A B ...), so drift on a shared machine
cancels. Benchmarks are not tests: no thresholds, just numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch

from spikeforge.native import NativeLibrary
from spikeforge.neurons import kernel_native
from spikeforge.neurons.base import Reset
from spikeforge.neurons.kernel_types import FusedConfig, Grads, Needs, Params
from spikeforge.surrogate import Arctan

SHAPES = {"fc 1000": (25, 128, 1000), "conv 12x12x12": (25, 128, 12 * 12 * 12),
          "conv 64x4x4": (25, 128, 64 * 4 * 4)}
CFG = FusedConfig(reset=Reset.SUBTRACT, detach_reset=False, surrogate=Arctan())


def _wall(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cases(shape: tuple[int, int, int]) -> dict[str, Callable[[], object]]:
    """The three timed calls on one shape (fresh outputs on every call, as in training)."""
    t, b, n = shape
    g = torch.Generator().manual_seed(0)
    x = 1.2 * torch.rand(shape, generator=g)
    v0 = torch.zeros(b, n)
    p = Params(torch.full((n,), 0.9), torch.ones(n))
    u = kernel_native.forward(x, t, v0, None, p, CFG).u
    grads = Grads(torch.randn(shape, generator=g), None, None, None)
    needs = Needs(beta=False, theta=False)

    def fwd() -> object:
        return kernel_native.forward(x, t, v0, None, p, CFG)

    def bwd() -> object:
        return kernel_native.backward(t, u, None, v0, p, grads, needs, CFG)

    def both() -> object:
        out = kernel_native.forward(x, t, v0, None, p, CFG)
        return kernel_native.backward(t, out.u, None, v0, p, grads, needs, CFG)

    return {"forward": fwd, "backward": bwd, "fwd+bwd": both}


def _library(source: Path) -> object:
    lib = NativeLibrary(source, kernel_native._NATIVE.flags).load()
    if lib is None:
        raise SystemExit(f"cannot build {source}")
    return kernel_native._bind(lib)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--baseline", type=Path, help="another fused_cpu.cpp to time against")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    libs = {"current": kernel_native._library()}
    if args.baseline is not None:
        libs["baseline"] = _library(args.baseline)
    print(f"threads {args.threads}, repeats {args.repeats}, float32, load {os.getloadavg()}")

    mb = 128 * 2**20 // 4
    src, dst = torch.ones(mb), torch.empty(mb)
    ref = {"fill fresh": lambda: torch.empty(mb).fill_(0), "copy": lambda: dst.copy_(src)}
    for name, fn in ref.items():
        fn()
        ts = [_wall(fn) for _ in range(args.repeats)]
        moved = mb * 4 * (1 if name == "fill fresh" else 2)
        print(f"  {name:10s} 512 MB moved: median {statistics.median(ts) * 1e3:7.2f} ms, "
              f"{moved / statistics.median(ts) / 1e9:5.1f} GB/s (best "
              f"{moved / min(ts) / 1e9:5.1f})")

    for label, shape in SHAPES.items():
        cases = _cases(shape)
        moved = 3 * 4 * shape[0] * shape[1] * shape[2]  # 3 tensors of T*B*N floats each way
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for lib_name, lib in libs.items():
                with mock.patch.object(kernel_native, "_library", lambda lib=lib: lib):
                    for case, fn in cases.items():
                        times.setdefault((lib_name, case), []).append(_wall(fn))
        print(f"[T, B, N] = {list(shape)} ({label}), {moved / 1e6:.1f} MB per pass")
        for (lib_name, case), ts in times.items():
            ts = ts[2:]  # warm-up
            med = statistics.median(ts)
            per_pass = moved * (2 if case == "fwd+bwd" else 1)
            print(f"  {lib_name:8s} {case:9s} median {med * 1e3:6.2f} ms "
                  f"(best {min(ts) * 1e3:6.2f}), {per_pass / med / 1e9:5.1f} GB/s")


if __name__ == "__main__":
    main()
