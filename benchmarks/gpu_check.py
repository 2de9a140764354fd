"""GPU check of the fused Triton kernels: equality with the reference, then speed vs SpikingJelly.

Usage (on a machine with a CUDA GPU and ``pip install triton``)::

    python benchmarks/gpu_check.py [--steps 500] [--neurons 16384] [--batch 16]

1. Equality: every neuron family, reset mode, detach setting and surrogate, float64 on
   the GPU (Triton) against the reference loop on the CPU: spikes and membranes must be
   bitwise equal, gradients equal to 1e-10 relative. Prints one line per configuration
   and exits with code 1 on any mismatch.
2. Speed (the issue's GPU target): a Linear(N, N) + LIF layer, batch 16, 500 steps,
   forward + backward, float32; spikeforge's Triton kernel against every SpikingJelly
   multi-step LIF backend that runs here (``triton``, ``cupy``, ``torch``), all on the
   same weights; median of 10 runs after warm-up, with CUDA synchronisation.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "src", ROOT / "tests" / "speed"):
    sys.path.insert(0, str(p))


def equality() -> bool:
    """Run the float64 equality cases of the test-suite on the GPU; True when all pass."""
    from helpers import KINDS, Case
    from test_fused import SURROGATES, compare

    from spikeforge.neurons import Backend, Reset

    ok = True
    for kind, reset, detach, surrogate in itertools.product(
        KINDS, Reset, (True, False), SURROGATES
    ):
        case = Case(kind, reset, detach, surrogate)
        for static in (False, True):
            try:
                compare(case, Backend.TRITON, static=static, device="cuda")
                status = "ok"
            except AssertionError as exc:
                ok, status = False, f"MISMATCH {exc}"
            print(
                f"{kind:5} {reset.value:9} detach={detach!s:5} "
                f"{type(surrogate).__name__:12} static={static!s:5} {status}"
            )
    return ok


def _time(fn, repeats: int = 10) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def speed(steps: int, neurons: int, batch: int) -> None:
    """Linear + LIF over ``steps`` steps, forward and backward, float32, per implementation."""
    from spikeforge.neurons import LIF, Backend

    dev = "cuda"
    fc = torch.nn.Linear(neurons, neurons).to(dev)
    x = (torch.rand(steps, batch, neurons, device=dev) < 0.1).float()
    results = {}

    for backend in (Backend.TRITON, Backend.TORCH, Backend.REFERENCE):
        lif = LIF(0.9, backend=backend).to(dev)

        def run(lif=lif) -> None:
            s, _ = lif(fc(x))
            s.sum().backward()

        results[f"spikeforge {backend.value}"] = _time(run)

    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError:
        print("SpikingJelly is not installed: no peer timing")
    else:
        for sj_backend in ("triton", "cupy", "torch"):
            try:
                node = neuron.LIFNode(
                    tau=10.0,
                    decay_input=False,
                    v_reset=None,
                    detach_reset=True,
                    surrogate_function=surrogate.ATan(),
                    step_mode="m",
                    backend=sj_backend,
                ).to(dev)

                def run_sj(node=node) -> None:
                    s = node(fc(x))
                    s.sum().backward()
                    functional.reset_net(node)

                results[f"spikingjelly {sj_backend}"] = _time(run_sj)
            except Exception as exc:  # a backend that is not installed or not supported
                print(
                    f"spikingjelly backend {sj_backend}: unavailable ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''})"
                )
    base = results["spikeforge triton"]
    print(
        f"\nLinear({neurons},{neurons}) + LIF, batch {batch}, {steps} steps, fwd+bwd, "
        f"{torch.cuda.get_device_name()}:"
    )
    for name, ms in sorted(results.items(), key=lambda kv: kv[1]):
        print(f"  {name:<24}{ms:9.2f} ms  {ms / base:6.2f}x spikeforge triton")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--neurons", type=int, default=16384)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--skip-equality", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "no CUDA device: this check needs a GPU (tests/speed/test_triton.py runs the "
            "kernels interpreted on the CPU)"
        )
        return 2
    ok = True if args.skip_equality else equality()
    speed(args.steps, args.neurons, args.batch)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
