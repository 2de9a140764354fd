"""Analyses built on :func:`~spikeforge.dynamics.simulation.simulate`: f-I curves, phase
portraits (nullclines and trajectories) and Hodgkin–Huxley gating curves."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikeforge.dynamics.fitzhugh_nagumo import FHNParams, fhn_nullclines, fhn_system
from spikeforge.dynamics.hindmarsh_rose import HRParams, hr_fast_nullclines, hr_fast_system
from spikeforge.dynamics.hodgkin_huxley import hh_rates
from spikeforge.dynamics.integrators import Method
from spikeforge.dynamics.izhikevich import (
    IzhikevichParams,
    izhikevich_nullclines,
    izhikevich_system,
)
from spikeforge.dynamics.simulation import Trajectory, n_steps, simulate
from spikeforge.dynamics.spikes import SpikeTimes, firing_rate, isi_mean, spike_count
from spikeforge.dynamics.system import System


@dataclass(frozen=True)
class FICurve:
    """Firing rate versus constant current.

    Attributes:
        currents: ``[B]`` currents (model current unit).
        rates_hz: ``[B]`` steady rates in ``[settle, duration)`` (see :func:`steady_rate`),
            spikes per second (per unit time for dimensionless models).
        spikes: all spike times of the simulation.
    """

    currents: torch.Tensor
    rates_hz: torch.Tensor
    spikes: SpikeTimes


def fi_curve(
    system: System,
    y0: torch.Tensor,
    currents: torch.Tensor,
    duration: float,
    dt: float,
    method: Method = Method.RK4,
    settle: float | None = None,
) -> FICurve:
    """f-I curve as ONE batched simulation: neuron ``b`` receives ``currents[b]`` throughout.

    Args:
        system: the bound model.
        y0: initial state ``[B, D]`` (one row per current).
        currents: ``[B]`` constant currents.
        duration: simulated time (model time unit).
        dt: step.
        method: integration method.
        settle: spikes before this time are ignored (default: half the duration), so that
            onset transients do not count as repetitive firing.
    """
    steps = n_steps(duration, dt)
    start = duration / 2.0 if settle is None else settle
    traj = simulate(system, y0, currents.reshape(1, -1).expand(steps, -1), dt, method)
    window = traj.spikes.window(start, steps * dt)
    return FICurve(currents, steady_rate(window, system.seconds_per_time_unit), traj.spikes)


def steady_rate(spikes: SpikeTimes, seconds_per_unit: float = 1e-3) -> torch.Tensor:
    """Rate per neuron ``[B]`` (spikes per second): ``1 / mean ISI`` for neurons with at
    least two spikes (no counting quantum of ``1 / duration``), else count / duration."""
    by_isi = 1.0 / (isi_mean(spikes) * seconds_per_unit)
    by_count = firing_rate(spikes, seconds_per_unit)
    return torch.where(spike_count(spikes) >= 2, by_isi, by_count)


def onset_current(curve: FICurve) -> float:
    """Smallest current with a non-zero steady rate (NaN if none fires)."""
    firing = torch.nonzero(curve.rates_hz > 0)
    return float(curve.currents[firing[0, 0]]) if firing.numel() else math.nan


@dataclass(frozen=True)
class PhasePortrait:
    """A 2-D phase plane.

    Attributes:
        labels: names of the horizontal and vertical variables.
        grid: ``[N]`` values of the horizontal variable.
        nullcline_x: ``[N]`` vertical coordinate of the horizontal variable's nullcline.
        nullcline_y: ``[N]`` vertical coordinate of the vertical variable's nullcline.
        trajectories: ``[T+1, K, 2]`` trajectories from ``K`` initial states.
    """

    labels: tuple[str, str]
    grid: torch.Tensor
    nullcline_x: torch.Tensor
    nullcline_y: torch.Tensor
    trajectories: torch.Tensor


def _trajectories(
    system: System, y0: torch.Tensor, current: float, duration: float, dt: float, method: Method
) -> Trajectory:
    steps = n_steps(duration, dt)
    return simulate(system, y0, torch.full((steps, 1), current, dtype=y0.dtype), dt, method)


def fhn_phase_portrait(
    p: FHNParams,
    current: float,
    y0: torch.Tensor,
    duration: float = 200.0,
    dt: float = 0.05,
    method: Method = Method.RK4,
    grid: torch.Tensor | None = None,
) -> PhasePortrait:
    """FitzHugh–Nagumo (v, w) plane: both nullclines and trajectories from ``y0 [K, 2]``."""
    v = torch.linspace(-2.5, 2.5, 201, dtype=torch.float64) if grid is None else grid
    wv, ww = fhn_nullclines(v, current, p)
    traj = _trajectories(fhn_system(p), y0, current, duration, dt, method)
    return PhasePortrait(("v", "w"), v, wv, ww, traj.states)


def hr_fast_phase_portrait(
    p: HRParams,
    current: float,
    z: float,
    y0: torch.Tensor,
    duration: float = 50.0,
    dt: float = 0.01,
    method: Method = Method.RK4,
    grid: torch.Tensor | None = None,
) -> PhasePortrait:
    """Hindmarsh–Rose fast subsystem (x, y) at frozen ``z``: nullclines and trajectories
    from ``y0 [K, 2]``."""
    x = torch.linspace(-2.5, 2.5, 201, dtype=torch.float64) if grid is None else grid
    yx, yy = hr_fast_nullclines(x, z, current, p)
    traj = _trajectories(hr_fast_system(p, z), y0, current, duration, dt, method)
    return PhasePortrait(("x", "y"), x, yx, yy, traj.states)


def izhikevich_phase_portrait(
    p: IzhikevichParams,
    current: float,
    y0: torch.Tensor,
    duration: float = 200.0,
    dt: float = 0.1,
    method: Method = Method.RK4,
    grid: torch.Tensor | None = None,
) -> PhasePortrait:
    """Izhikevich (v, u) plane (mV): nullclines and trajectories (with resets) from
    ``y0 [K, 2]``."""
    v = torch.linspace(-90.0, 35.0, 251, dtype=torch.float64) if grid is None else grid
    uv, uu = izhikevich_nullclines(v, current, p)
    traj = _trajectories(izhikevich_system(p), y0, current, duration, dt, method)
    return PhasePortrait(("v", "u"), v, uv, uu, traj.states)


def hh_gating_curves(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Steady states and time constants of the gates at voltages ``v [N]`` (mV).

    Returns:
        ``(x_inf [N, 3], tau_x [N, 3])`` for ``(m, h, n)``; ``tau`` in ms.
    """
    am, bm, ah, bh, an, bn = hh_rates(v)
    alpha = torch.stack((am, ah, an), dim=-1)
    total = alpha + torch.stack((bm, bh, bn), dim=-1)
    return alpha / total, 1.0 / total
