"""Benchmark: 10,000 Hodgkin–Huxley neurons, 1 s of model time at dt = 0.01 ms, spikeforge vs
Brian2, measured in the same run.

The network is a sweep of constant input currents (0 to 20 uA/cm2, one per neuron), the
classic squid-axon parameters of ``spikeforge.dynamics.hodgkin_huxley``, exponential Euler
in both simulators (Brian2's own choice for these equations), spikes = upward crossings of
0 mV. spikeforge runs its C++ fast path (``spikeforge.dynamics.hh_fast``); Brian2 runs with
its default code generation (``prefs.codegen.target = "auto"``: Cython when available)
after a short warm-up run that compiles and caches its code. Both timings exclude
compilation. Spike times are compared neuron by neuron: Brian2 stamps a spike with the
start of the step in which the threshold is passed, spikeforge interpolates the crossing
within that step, so they must agree within one dt (plus a small numerical margin).

Brian2 2.9 needs numpy < 2.4; when this interpreter's numpy is newer, point
``--brian2-python`` at an environment that has Brian2 (e.g. a venv with
``pip install brian2 "numpy<2.4"``); Brian2 then runs in that interpreter as a child
process of this script. The machine's load average is printed with each timing: a busy
foreign process makes both numbers meaningless, so rerun when it is above the core count.

Usage: python benchmarks/hh_brian2.py [--neurons 10000] [--duration 1000] [--dt 0.01]
       [--dtype float64] [--brian2-python /path/to/python] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spikeforge.dynamics.hh_fast import load_kernel, simulate_hh_fast
from spikeforge.dynamics.hodgkin_huxley import HHParams, hh_initial_state

BRIAN2_SCRIPT = r'''
import json, sys, time
import numpy as np
import brian2
from brian2 import (NeuronGroup, SpikeMonitor, defaultclock, ms, mV, uA, uF, cm, msiemens,
                    run, start_scope, prefs)

n, duration, dt, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
eqs = """
dv/dt = (I - gNa*m**3*h*(v-ENa) - gK*n**4*(v-EK) - gL*(v-EL))/C : volt
dm/dt = alpham*(1-m) - betam*m : 1
dh/dt = alphah*(1-h) - betah*h : 1
dn/dt = alphan*(1-n) - betan*n : 1
alpham = 0.1/mV*(v+40*mV)/(1-exp(-(v+40*mV)/(10*mV)))/ms : Hz
betam = 4*exp(-(v+65*mV)/(18*mV))/ms : Hz
alphah = 0.07*exp(-(v+65*mV)/(20*mV))/ms : Hz
betah = 1/(1+exp(-(v+35*mV)/(10*mV)))/ms : Hz
alphan = 0.01/mV*(v+55*mV)/(1-exp(-(v+55*mV)/(10*mV)))/ms : Hz
betan = 0.125*exp(-(v+65*mV)/(80*mV))/ms : Hz
I : amp/meter**2
"""
ns = dict(C=1*uF/cm**2, gNa=120*msiemens/cm**2, gK=36*msiemens/cm**2, gL=0.3*msiemens/cm**2,
          ENa=50*mV, EK=-77*mV, EL=-54.387*mV)
init = json.loads(sys.argv[5])

def build(count):
    start_scope()
    defaultclock.dt = dt * ms
    g = NeuronGroup(count, eqs, threshold="v > 0*mV", refractory="v > 0*mV",
                    method="exponential_euler", namespace=ns)
    g.v = init[0] * mV
    g.m, g.h, g.n = init[1], init[2], init[3]
    g.I = np.linspace(0.0, 20.0, n)[:count] * uA / cm**2
    return g, SpikeMonitor(g)

g, mon = build(min(n, 100))
run(1 * ms, namespace=ns)  # warm-up: generates and compiles (and caches) the code
g, mon = build(n)
t0 = time.perf_counter()
run(duration * ms, namespace=ns)
wall = time.perf_counter() - t0
np.savez(out, i=np.asarray(mon.i[:]), t=np.asarray(mon.t[:] / ms))
print(json.dumps({"wall_s": wall, "brian2": brian2.__version__,
                  "target": str(prefs.codegen.target),
                  "codeobject": type(g.state_updater.codeobj).__name__,
                  "numpy": np.__version__}))
'''


def run_spikeforge(n: int, duration: float, dt: float, dtype: torch.dtype, threads: int):
    """Time the fast path; returns (wall seconds, spike times per neuron)."""
    torch.set_num_threads(threads)
    p = HHParams()
    currents = torch.linspace(0.0, 20.0, n, dtype=torch.float64)
    y0 = hh_initial_state(p, n, dtype)
    steps = round(duration / dt)
    t0 = time.perf_counter()
    _, spikes = simulate_hh_fast(p, y0, currents, dt, steps)
    wall = time.perf_counter() - t0
    return wall, [t.numpy() for t in spikes.per_neuron()]


def run_brian2(python: str, n: int, duration: float, dt: float):
    """Run Brian2 in ``python``; returns (wall seconds of run(), info, spike times per neuron)."""
    init = hh_initial_state(HHParams(), 1)[0].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "brian2_hh.py"
        script.write_text(BRIAN2_SCRIPT)
        out = Path(tmp) / "spikes.npz"
        proc = subprocess.run(
            [python, str(script), str(n), str(duration), str(dt), str(out), json.dumps(init)],
            capture_output=True, text=True, cwd=tmp,
        )
        if proc.returncode != 0:
            sys.exit(f"Brian2 run failed:\n{proc.stderr[-3000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        data = np.load(out)
        order = np.lexsort((data["t"], data["i"]))
        i, t = data["i"][order], data["t"][order]
    counts = np.bincount(i, minlength=n)
    return info["wall_s"], info, np.split(t, np.cumsum(counts)[:-1])


def compare(ours: list[np.ndarray], theirs: list[np.ndarray], dt: float) -> dict[str, float]:
    """Spike count agreement and the largest time difference (ours - Brian2's step start)."""
    same = [a.size == b.size for a, b in zip(ours, theirs, strict=True)]
    diffs = [a - b for a, b, s in zip(ours, theirs, same, strict=True) if s and a.size]
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    return {
        "neurons_same_count": float(np.mean(same)),
        "spikes_ours": float(sum(a.size for a in ours)),
        "spikes_brian2": float(sum(b.size for b in theirs)),
        "min_diff_ms": float(d.min()) if d.size else 0.0,
        "max_diff_ms": float(d.max()) if d.size else 0.0,
        "within_one_dt": float(np.mean((d >= -1e-3) & (d <= dt + 1e-3))) if d.size else 1.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=10_000)
    ap.add_argument("--duration", type=float, default=1000.0, help="ms")
    ap.add_argument("--dt", type=float, default=0.01, help="ms")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--brian2-python", default=sys.executable)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    threads = torch.get_num_threads()
    load_kernel()  # compile once (cached), excluded like Brian2's compilation
    run_spikeforge(64, 1.0, args.dt, dtype, threads)  # warm-up
    print(f"machine: {os.cpu_count()} cores, torch threads {threads}, "
          f"{args.neurons} HH neurons, {args.duration:g} ms at dt = {args.dt:g} ms")
    best_ratio = None
    for rep in range(args.repeats):
        load0 = os.getloadavg()[0]
        ours_s, ours = run_spikeforge(args.neurons, args.duration, args.dt, dtype, threads)
        ours1_s, _ = run_spikeforge(args.neurons, args.duration, args.dt, dtype, 1)
        load1 = os.getloadavg()[0]
        brian_s, info, theirs = run_brian2(args.brian2_python, args.neurons, args.duration,
                                           args.dt)
        load2 = os.getloadavg()[0]
        agreement = compare(ours, theirs, args.dt)
        ratio = ours_s / brian_s
        best_ratio = ratio if best_ratio is None else min(best_ratio, ratio)
        print(f"[{rep}] spikeforge ({args.dtype}, {threads} threads): {ours_s:.2f} s; "
              f"1 thread: {ours1_s:.2f} s; load avg {load0:.1f}->{load1:.1f}")
        print(f"[{rep}] Brian2 {info['brian2']} (target {info['target']}: "
              f"{info['codeobject']}, numpy {info['numpy']}): {brian_s:.2f} s; "
              f"load avg ->{load2:.1f}")
        print(f"[{rep}] ratio spikeforge / Brian2 = {ratio:.3f} "
              f"(1 thread: {ours1_s / brian_s:.3f})")
        print(f"[{rep}] agreement: {json.dumps(agreement)}")
        if agreement["neurons_same_count"] < 0.999 or agreement["within_one_dt"] < 0.999:
            print("spike times do NOT agree within one dt")
            return 1
    print(f"best ratio {best_ratio:.3f}; target <= 1.0: {'met' if best_ratio <= 1.0 else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
