"""Training-step time and peak memory of spikeforge against snnTorch, SpikingJelly and Norse.

Usage::

    python benchmarks/peers.py [--quick] [--json FILE] [--steps N] [--nets fc conv]

For each network ((a) FC 784-1000-10, (b) conv 12c5-mp2-LIF-64c5-mp2-LIF-fc1024->10-LIF;
T = 25, batch 128) and input mode (rate-coded: fresh Bernoulli spikes at every step;
direct: the same analog image at every step), every installed library runs in its own
worker process (so peak RSS is per library), configured to the same neuron semantics (see
``peer_models.py``); the workers' output spikes on one batch are compared with spikeforge's.
A training step is forward over all T, cross-entropy on spike counts, backward and Adam.
After warm-up, the workers are timed in interleaved blocks (A B C D A B C D ...) so drift
cancels; each block records the CPU time other processes used meanwhile (from
``/proc/stat``) and is retried when that foreign load exceeds ``--max-load`` cores.
Also measured in the same run: large-matmul FLOP/s and memory-copy bandwidth (the
machine's limits), the fraction of them the step and the fused neuron kernel reach, and
peak RSS as T grows from 8 to 64. Every worker, whatever its library, first keeps freed
memory in its heap for reuse (``spikeforge.heap.keep_freed_memory``, which the ``spikeforge``
command also does; ``--heap default`` keeps glibc's own thresholds), so that no library's
step pays page faults for memory it freed a step earlier. Benchmarks are not tests: no
thresholds, just numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
for p in (str(HERE), str(SRC)):
    if p not in sys.path:
        sys.path.insert(0, p)

from peer_models import BUILDERS, LIBRARIES, model_flops  # noqa: E402

from spikeforge.heap import keep_freed_memory  # noqa: E402  (imports nothing but ctypes)

IMPORT_NAME = {
    "spikeforge": "spikeforge",
    "snntorch": "snntorch",
    "spikingjelly": "spikingjelly",
    "norse": "norse",
}


# ----------------------------------------------------------------------------- machine load
def _cpu_busy_seconds() -> float:
    """Seconds of CPU time all processes spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    """Cores used by *other* processes while a block runs: (busy - own CPU) / wall time."""

    def __enter__(self) -> LoadMeter:
        self.busy0, self.own0, self.t0 = _cpu_busy_seconds(), _own_cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        foreign = (_cpu_busy_seconds() - self.busy0) - (_own_cpu() - self.own0)
        self.foreign_cores = max(0.0, foreign / wall) if wall > 0 else 0.0


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    """Peak RSS of this process image (``VmHWM``; ``ru_maxrss`` would include the parent's,
    as Linux carries it over ``fork``/``exec``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------------------- the worker
def worker(
    lib: str, net: str, mode: str, num_steps: int, batch: int, warmup: int, heap: str
) -> None:
    """Build ``net`` in ``lib``, warm up, then answer ``steps K`` / ``quit`` lines on stdin."""
    if heap == "reuse":
        keep_freed_memory()
    import torch
    import torch.nn.functional as F

    import_rss = _rss_mb()
    __import__(IMPORT_NAME[lib])
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 1, 28, 28, generator=gen)
    rate = (torch.rand(num_steps, batch, 1, 28, 28, generator=gen) < image).float()
    labels = torch.randint(0, 10, (batch,), generator=gen)
    model, run = BUILDERS[lib](net)
    direct = mode == "direct"
    data = image if direct else rate
    with torch.no_grad():
        check = run(rate, num_steps, False).sum(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = run(data, num_steps, direct)
        F.cross_entropy(out.sum(0), labels).backward()
        opt.step()

    for _ in range(warmup):
        step()
    reply = {"ready": True, "counts": check.flatten().tolist(), "import_rss_mb": import_rss}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        times = []
        with LoadMeter() as meter:
            for _ in range(int(cmd[1])):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        print(json.dumps({"times": times, "load": meter.foreign_cores}), flush=True)
    print(json.dumps({"peak_rss_mb": _peak_rss_mb(), "final_rss_mb": _rss_mb()}), flush=True)


class Worker:
    """A worker process driven over pipes."""

    def __init__(
        self, lib: str, net: str, mode: str, num_steps: int, batch: int, warmup: int, heap: str
    ):
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            lib,
            net,
            mode,
            str(num_steps),
            str(batch),
            str(warmup),
            heap,
        ]
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.lib = lib

    def read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"{self.lib} worker exited with code {self.proc.wait()}")

    def send(self, text: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> dict:
        result = self.send("quit")
        self.proc.wait(timeout=60)
        return result


# ----------------------------------------------------------------------------- measurements
@dataclass
class Record:
    library: str
    network: str
    input_mode: str
    ms_per_step: float
    peak_rss_mb: float
    ratio: float = float("nan")  # ms_per_step / spikeforge's
    rss_ratio: float = float("nan")
    flops_per_step: float = 0.0
    fraction_of_matmul_peak: float = 0.0
    foreign_load_cores: float = 0.0
    noisy_blocks: int = 0
    spike_agreement: float = float("nan")
    import_rss_mb: float = 0.0
    steps_timed: int = 0
    all_ms: list[float] = field(default_factory=list)


def measure_config(libs: list[str], net: str, mode: str, args: argparse.Namespace) -> list[Record]:
    """Interleaved timing of every library on one network and input mode."""
    workers = {
        lib: Worker(lib, net, mode, args.T, args.batch, args.warmup, args.heap) for lib in libs
    }
    ready = {lib: w.read() for lib, w in workers.items()}
    times: dict[str, list[float]] = {lib: [] for lib in libs}
    loads: dict[str, list[float]] = {lib: [] for lib in libs}
    noisy = dict.fromkeys(libs, 0)
    while min(len(v) for v in times.values()) < args.steps:
        for lib, w in workers.items():
            best = None
            for _ in range(args.retries + 1):
                block = w.send(f"steps {args.block}")
                if best is None or block["load"] < best["load"]:
                    best = block
                if block["load"] <= args.max_load:
                    break
                noisy[lib] += 1
            times[lib] += best["times"]
            loads[lib].append(best["load"])
    ends = {lib: w.close() for lib, w in workers.items()}
    ref_counts = ready.get("spikeforge", {}).get("counts")
    records = []
    for lib in libs:
        ms = 1e3 * statistics.median(times[lib])
        flops = model_flops(
            net, args.T, args.batch, static_first=(lib == "spikeforge" and mode == "direct")
        )
        counts = ready[lib]["counts"]
        agree = (
            sum(a == b for a, b in zip(counts, ref_counts, strict=True)) / len(counts)
            if ref_counts
            else float("nan")
        )
        records.append(
            Record(
                lib,
                net,
                mode,
                ms,
                ends[lib]["peak_rss_mb"],
                flops_per_step=flops,
                fraction_of_matmul_peak=flops / (ms * 1e-3) / args.matmul_flops,
                foreign_load_cores=statistics.median(loads[lib]),
                noisy_blocks=noisy[lib],
                spike_agreement=agree,
                import_rss_mb=ready[lib]["import_rss_mb"],
                steps_timed=len(times[lib]),
                all_ms=[1e3 * t for t in times[lib]],
            )
        )
    base = next((r for r in records if r.library == "spikeforge"), None)
    for r in records:
        if base is not None:
            r.ratio = r.ms_per_step / base.ms_per_step
            r.rss_ratio = r.peak_rss_mb / base.peak_rss_mb
    return records


def machine_limits(quick: bool) -> dict[str, float]:
    """Large fp32 matmul FLOP/s and memory-copy bandwidth, best of a few runs."""
    import torch

    n = 1024 if quick else 4096
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(3 if quick else 7))
    src = torch.randn((16 if quick else 64) * 2**20 // 4 * 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    copy = min(_timed(lambda: dst.copy_(src)) for _ in range(5 if quick else 10))
    return {"matmul_gflops": 2 * n**3 / best / 1e9, "copy_gb_s": 2 * src.numel() * 4 / copy / 1e9}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def neuron_kernel(num_steps: int, batch: int, n: int, copy_gb_s: float) -> dict[str, float]:
    """Fused LIF forward+backward alone: bytes moved per second against memory copy.

    Bytes counted: forward reads the input and writes spikes and membranes, backward reads
    membranes and spike gradients and writes input gradients (6 float32 per neuron-step).
    """
    import torch

    from spikeforge.neurons import LIF

    layer = LIF(0.9)
    x = (1.5 * torch.rand(num_steps, batch, n)).requires_grad_()
    g = torch.randn(num_steps, batch, n)

    def fwd_bwd() -> None:
        s, _ = layer(x)
        s.backward(g)

    fwd_bwd()
    best = min(_timed(fwd_bwd) for _ in range(10))
    nbytes = 6 * 4 * num_steps * batch * n
    return {
        "shape": [num_steps, batch, n],
        "ms": best * 1e3,
        "gb_s": nbytes / best / 1e9,
        "fraction_of_copy": nbytes / best / 1e9 / copy_gb_s,
    }


def memory_growth(
    libs: list[str], net: str, steps_list: list[int], batch: int, heap: str
) -> dict:
    """Peak RSS of one training step (after one warm-up step) for each T, per library."""
    out: dict[str, dict] = {}
    for lib in libs:
        rss = {}
        for t in steps_list:
            w = Worker(lib, net, "rate", t, batch, 1, heap)
            w.read()
            w.send("steps 1")
            rss[t] = w.close()["peak_rss_mb"]
        ts = sorted(rss)
        slope = (rss[ts[-1]] - rss[ts[0]]) / (ts[-1] - ts[0]) if len(ts) > 1 else 0.0
        out[lib] = {"peak_rss_mb": rss, "mb_per_step": slope}
    return out


# ----------------------------------------------------------------------------- driver
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds")
    p.add_argument("--json", type=Path, help="also write every record to this JSON file")
    p.add_argument(
        "--nets",
        nargs="*",
        default=["fc", "conv"],
        choices=["fc", "conv"],
        help="networks to time (none: only the kernel and memory measurements)",
    )
    p.add_argument("--modes", nargs="+", default=["rate", "direct"], choices=["rate", "direct"])
    p.add_argument("--libs", nargs="+", default=list(LIBRARIES), choices=list(LIBRARIES))
    p.add_argument("--T", type=int, default=25, help="time steps (default 25)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps per library")
    p.add_argument("--warmup", type=int, default=3, help="untimed optimizer steps first")
    p.add_argument("--block", type=int, default=2, help="steps per interleaved block")
    p.add_argument(
        "--max-load",
        type=float,
        default=0.3,
        help="retry a block when other processes used more cores than this",
    )
    p.add_argument("--retries", type=int, default=2)
    p.add_argument(
        "--growth",
        nargs="*",
        type=int,
        default=[8, 16, 32, 64],
        help="T values for the memory-growth measurement (FC, rate; none: skip)",
    )
    p.add_argument(
        "--heap",
        choices=["reuse", "default"],
        default="reuse",
        help="reuse: every worker (every library alike) keeps freed memory in its heap "
        "(spikeforge.heap.keep_freed_memory, as the spikeforge command does); default: "
        "glibc's own thresholds",
    )
    p.add_argument("--worker", nargs=7, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.T, args.batch, args.steps, args.block) < 1 or min(args.warmup, args.retries) < 0:
        p.error("--T, --batch, --steps and --block must be >= 1, --warmup and --retries >= 0")
    if any(t < 1 for t in args.growth):
        p.error("--growth takes time-step counts >= 1")
    if args.quick:
        args.T, args.batch, args.steps, args.warmup, args.block = 4, 16, 2, 1, 1
        args.growth = [4, 8]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        lib, net, mode, t, b, w, heap = args.worker
        worker(lib, net, mode, int(t), int(b), int(w), heap)
        return 0
    if args.heap == "reuse":
        keep_freed_memory()  # for the machine limits and the neuron kernel measured here
    import torch

    libs = [lib for lib in args.libs if importlib.util.find_spec(IMPORT_NAME[lib])]
    missing = [lib for lib in args.libs if lib not in libs]
    if not libs:
        print(
            f"peers.py: error: none of {', '.join(args.libs)} is installed; install them with "
            "pip install torch==2.13.0 snntorch spikingjelly norse",
            file=sys.stderr,
        )
        return 2
    limits = machine_limits(args.quick)
    args.matmul_flops = limits["matmul_gflops"] * 1e9
    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; matmul {limits['matmul_gflops']:.0f} GFLOP/s, "
        f"copy {limits['copy_gb_s']:.1f} GB/s"
    )
    print(f"libraries: {', '.join(libs)}" + (f"; missing: {', '.join(missing)}" if missing else ""))
    print(f"heap: {args.heap} (the same for every library)")
    payload: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            **limits,
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "worker")},
        "missing": missing,
        "records": [],
        "neuron_kernel": None,
        "memory_growth": {},
    }
    for net in args.nets:
        for mode in args.modes:
            recs = measure_config(libs, net, mode, args)
            payload["records"] += [asdict(r) for r in recs]
            _print_table(net, mode, recs)
            _save(args.json, payload)  # after every configuration: a long run keeps its results
    kernel = neuron_kernel(args.T, args.batch, 1000, limits["copy_gb_s"])
    payload["neuron_kernel"] = kernel
    print(
        f"fused LIF kernel {kernel['shape']} fwd+bwd: {kernel['ms']:.2f} ms, "
        f"{kernel['gb_s']:.1f} GB/s = {kernel['fraction_of_copy']:.0%} of memory copy"
    )
    growth = memory_growth(libs, "fc", args.growth, args.batch, args.heap) if args.growth else {}
    payload["memory_growth"] = growth
    for lib, g in growth.items():
        vals = ", ".join(f"T={t}: {v:.0f}" for t, v in g["peak_rss_mb"].items())
        print(f"peak RSS (MB) vs T, {lib}: {vals}; growth {g['mb_per_step']:.2f} MB/step")
    _save(args.json, payload)
    return 0


def _save(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(payload, indent=1, default=str))


def _print_table(net: str, mode: str, recs: list[Record]) -> None:
    print(f"\n{net} / {mode}:")
    print(
        f"  {'library':<13}{'ms/step':>9}{'x sf':>7}{'RSS MB':>8}{'x sf':>7}"
        f"{'matmul%':>9}{'load':>6}{'agree':>7}"
    )
    for r in recs:
        print(
            f"  {r.library:<13}{r.ms_per_step:>9.1f}{r.ratio:>7.2f}{r.peak_rss_mb:>8.0f}"
            f"{r.rss_ratio:>7.2f}{r.fraction_of_matmul_peak:>9.1%}"
            f"{r.foreign_load_cores:>6.2f}{r.spike_agreement:>7.3f}"
        )
    peers = [r for r in recs if r.library != "spikeforge"]
    ours = [r for r in recs if r.library == "spikeforge"]
    if not peers or not ours:
        print("  (no peer library ran here: nothing to compare with)" if ours else "")
        return
    fastest, sf = min(peers, key=lambda r: r.ms_per_step), ours[0]
    floor_ms = sf.ms_per_step * sf.fraction_of_matmul_peak  # = FLOPs / matmul rate
    print(
        f"  spikeforge / fastest peer ({fastest.library}): "
        f"{sf.ms_per_step / fastest.ms_per_step:.2f}x time; spikeforge's "
        f"{sf.flops_per_step / 1e9:.1f} GFLOP/step (dense count) at the measured matmul rate "
        f"would take {floor_ms:.0f} ms = {floor_ms / fastest.ms_per_step:.2f}x the fastest "
        "peer (layers on spikes add instead: above 100 % is possible)"
    )

if __name__ == "__main__":
    sys.exit(main())
