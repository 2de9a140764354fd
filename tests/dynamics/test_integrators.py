"""Integrator oracles: phi1, Dormand–Prince against scipy, convergence orders (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.dynamics import (
    FHNParams,
    HHParams,
    Method,
    Tolerance,
    fhn_initial_state,
    fhn_system,
    hh_initial_state,
    hh_system,
    simulate,
)
from spikeforge.dynamics.integrators import dopri5_integrate, phi1
from spikeforge.dynamics.system import System

TIGHT = Tolerance(rtol=1e-12, atol=1e-12)


def test_phi1_matches_formula_and_limit() -> None:
    z = torch.tensor([-3.0, -1e-3, -1e-5, 0.0, 1e-5, 1e-3, 2.0], dtype=torch.float64)
    expected = [math.expm1(x) / x if x != 0 else 1.0 for x in z.tolist()]
    assert torch.allclose(phi1(z), torch.tensor(expected, dtype=torch.float64), rtol=1e-12)
    z32 = torch.zeros(3, requires_grad=True)
    phi1(z32).sum().backward()
    assert torch.allclose(z32.grad, torch.full((3,), 0.5))  # d/dz phi1 at 0 is 1/2


def test_dopri5_matches_scipy_solve_ivp() -> None:
    scipy_integrate = pytest.importorskip("scipy.integrate")
    p = FHNParams()
    system = fhn_system(p)
    y0 = fhn_initial_state(p, 1)
    current = torch.tensor([0.5], dtype=torch.float64)
    ours, _ = dopri5_integrate(system, y0, current, 10.0, TIGHT)

    def f(_t: float, y: np.ndarray) -> np.ndarray:
        yt = torch.from_numpy(y).reshape(1, 2)
        return system.rhs(yt, current).reshape(2).numpy()

    ref = scipy_integrate.solve_ivp(f, (0.0, 10.0), y0[0].numpy(), method="DOP853",
                                    rtol=1e-12, atol=1e-12)
    assert np.allclose(ours[0].numpy(), ref.y[:, -1], atol=1e-9)


def _final_error(system: System, y0: torch.Tensor, current: float, duration: float,
                 dt: float, method: Method, reference: torch.Tensor) -> float:
    steps = round(duration / dt)
    with torch.no_grad():
        traj = simulate(system, y0, torch.full((steps, 1), current, dtype=torch.float64), dt,
                        method)
    return float((traj.states[-1] - reference).abs().max())


def _orders(system: System, y0: torch.Tensor, current: float, duration: float,
            cases: list[tuple[Method, float, int]]) -> None:
    with torch.no_grad():
        reference, _ = dopri5_integrate(
            system, y0, torch.tensor([current], dtype=torch.float64), duration, TIGHT
        )
    for method, dt, order in cases:
        coarse = _final_error(system, y0, current, duration, dt, method, reference)
        fine = _final_error(system, y0, current, duration, dt / 2, method, reference)
        ratio = coarse / fine
        expected = 2.0**order
        assert 0.85 * expected < ratio < 1.15 * expected, (method, coarse, fine, ratio)


def test_convergence_orders_fitzhugh_nagumo() -> None:
    p = FHNParams()
    _orders(fhn_system(p), fhn_initial_state(p, 1), 0.5, 10.0,
            [(Method.EULER, 0.02, 1), (Method.EXP_EULER, 0.02, 1), (Method.RK4, 0.2, 4)])


def test_convergence_orders_hodgkin_huxley() -> None:
    """Subthreshold response to 1 uA/cm2 over 5 ms: smooth, so the asymptotic regime is
    reached at these steps (through a spike upstroke RK4 needs dt < 0.0125 ms for it)."""
    p = HHParams()
    _orders(hh_system(p), hh_initial_state(p, 1), 1.0, 5.0,
            [(Method.EULER, 0.02, 1), (Method.EXP_EULER, 0.02, 1), (Method.RK4, 0.2, 4)])


def test_dopri5_method_in_simulate_agrees_with_rk4() -> None:
    p = FHNParams()
    y0 = fhn_initial_state(p, 2)
    current = torch.tensor([[0.0, 0.5]], dtype=torch.float64).expand(100, 2)
    with torch.no_grad():
        a = simulate(fhn_system(p), y0, current, 0.1, Method.DOPRI5)
        b = simulate(fhn_system(p), y0, current, 0.1, Method.RK4)
    # RK4 global error at dt = 0.1 is below 1e-5 on this horizon (measured 2e-7)
    assert torch.allclose(a.states, b.states, atol=1e-5)
