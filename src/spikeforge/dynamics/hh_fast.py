"""Fast CPU path for Hodgkin–Huxley populations: the whole exponential-Euler time loop in C++.

The pure-torch path (:func:`spikeforge.dynamics.simulation.simulate`) issues a few hundred
small tensor operations per time step, so for 10,000 neurons and 100,000 steps it is
bound by per-operation overhead. This module compiles ``hh_kernel.cpp`` (plain C++, no
torch headers: about a second with g++) with :mod:`spikeforge.native` (cached, keyed by
source, flags, compiler and CPU) and calls it through ``ctypes``. The kernel runs the time loop with
neurons in blocks of 256 held in L1 cache, the per-block update vectorised with
``#pragma omp simd`` and blocks spread over ``torch.get_num_threads()`` OpenMP threads.
It keeps only the final state and the spike times (no traces) and is not differentiable;
use ``simulate`` for traces and gradients. It computes the same update as
``exp_euler_step`` on ``hh_rhs`` (tested against it).
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path

import torch

from spikeforge.dynamics.hodgkin_huxley import HHParams
from spikeforge.dynamics.spikes import SpikeTimes
from spikeforge.errors import ConfigError, SimulationError
from spikeforge.native import NativeLibrary

_NATIVE = NativeLibrary(
    Path(__file__).with_name("hh_kernel.cpp"), ("-fno-math-errno", "-fno-trapping-math")
)
_PTR = ctypes.c_void_p


@cache
def load_kernel() -> ctypes.CDLL:
    """Compile (first use, about a second) and load the C++ kernel.

    No -ffast-math (see :mod:`spikeforge.native`): these flags only drop errno and trap
    semantics, which keeps IEEE results (and equality with the torch path).

    Raises:
        ConfigError: no C++ compiler, or the build failed.
    """
    lib = _NATIVE.load()
    if lib is None:
        first = ((_NATIVE.error or "").strip().splitlines() or ["unknown error"])[0]
        raise ConfigError(
            f"Hodgkin-Huxley fast path: the C++ kernel did not build: {first}; install g++ "
            "(or set $CXX) or use spikeforge.dynamics.simulation.simulate"
        )
    for name in ("hh_exp_euler_f64", "hh_exp_euler_f32"):
        fn = getattr(lib, name)
        fn.restype = _PTR
        fn.argtypes = [_PTR] * 5 + [ctypes.c_int64] * 3 + [ctypes.c_double, _PTR, ctypes.c_int]
    lib.hh_first_bad.restype = ctypes.c_int64
    lib.hh_first_bad.argtypes = [_PTR]
    lib.hh_spike_counts.restype = ctypes.c_int64
    lib.hh_spike_counts.argtypes = [_PTR, _PTR]
    lib.hh_spike_times.restype = None
    lib.hh_spike_times.argtypes = [_PTR, _PTR]
    lib.hh_free.restype = None
    lib.hh_free.argtypes = [_PTR]
    return lib


def kernel_available() -> bool:
    """True if the C++ kernel builds and loads on this machine."""
    try:
        load_kernel()
    except ConfigError:
        return False
    return True


def _scalar_params(p: HHParams) -> list[float]:
    values = [p.c_m, p.g_na, p.g_k, p.g_l, p.e_na, p.e_k, p.e_l, p.spike_threshold]
    if any(isinstance(x, torch.Tensor) and x.numel() != 1 for x in values):
        raise ConfigError(
            "Hodgkin-Huxley fast path: parameters must be scalars (sweep the current instead); "
            "use spikeforge.dynamics.simulation.simulate for per-neuron parameters"
        )
    return [float(x) for x in values]


def simulate_hh_fast(
    p: HHParams, y0: torch.Tensor, current: torch.Tensor, dt: float, steps: int
) -> tuple[torch.Tensor, SpikeTimes]:
    """Exponential-Euler simulation of ``B`` Hodgkin–Huxley neurons in C++.

    Args:
        p: scalar parameters.
        y0: initial state ``[B, 4]`` = ``(V mV, m, h, n)``, float32 or float64.
        current: ``[B]`` constant or ``[steps, B]`` per-step current (uA/cm2).
        dt: step (ms).
        steps: number of steps.

    Returns:
        ``(final_state [B, 4], spikes)``; spike times in ms (float64).

    Raises:
        ConfigError: bad shapes or dtype, or the kernel cannot be built.
        SimulationError: the voltage became non-finite or exceeded 1e6 mV.
    """
    if not dt > 0 or steps < 0:
        raise ConfigError(
            f"Hodgkin-Huxley fast path: need dt > 0 and steps >= 0, got dt={dt}, steps={steps}"
        )
    if y0.dtype not in (torch.float32, torch.float64) or y0.dim() != 2 or y0.shape[1] != 4:
        raise ConfigError(
            f"Hodgkin-Huxley fast path: y0 must be float32/float64 [B, 4], got "
            f"{y0.dtype} {list(y0.shape)}"
        )
    batch = y0.shape[0]
    cur = current.detach().to(y0.dtype)
    if cur.dim() == 1 and cur.shape[0] == batch:
        cur, stride_t = cur.contiguous(), 0
    elif cur.shape == (steps, batch):
        cur, stride_t = cur.contiguous(), batch
    else:
        raise ConfigError(
            f"Hodgkin-Huxley fast path: current must be [B] or [steps, B] = [{steps}, {batch}], "
            f"got {list(current.shape)}"
        )
    lib = load_kernel()
    state = [y0[:, i].detach().clone().contiguous() for i in range(4)]
    params = (ctypes.c_double * 8)(*_scalar_params(p))
    fn = lib.hh_exp_euler_f64 if y0.dtype == torch.float64 else lib.hh_exp_euler_f32
    handle = fn(
        *(s.data_ptr() for s in state), cur.data_ptr(), stride_t, batch, steps, float(dt),
        params, torch.get_num_threads(),
    )
    try:
        bad = lib.hh_first_bad(handle)
        counts = torch.empty(batch, dtype=torch.int64)
        total = lib.hh_spike_counts(handle, counts.data_ptr())
        times = torch.empty(total, dtype=torch.float64)
        lib.hh_spike_times(handle, times.data_ptr())
    finally:
        lib.hh_free(handle)
    if bad >= 0:
        raise SimulationError(
            f"Hodgkin-Huxley: the voltage became NaN or infinite at t = {bad * dt:.6g} ms "
            f"with method exp_euler and dt = {dt:g}; use a smaller dt"
        )
    neurons = torch.repeat_interleave(torch.arange(batch), counts)
    return torch.stack(state, dim=1), SpikeTimes(times, neurons, batch, steps * dt)
