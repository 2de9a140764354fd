"""Hodgkin–Huxley oracles: removable singularities, rest, repetitive firing at 10 uA/cm2,
type-II onset, divergence error, gradients, and the C++ fast path against the pure path."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.dynamics import HHParams, Method, hh_initial_state, hh_system, simulate
from spikeforge.dynamics.analysis import hh_gating_curves
from spikeforge.dynamics.hodgkin_huxley import hh_rates, hh_steady_state
from spikeforge.dynamics.simulation import Trajectory
from spikeforge.dynamics.spikes import firing_rate, isi_mean
from spikeforge.errors import ConfigError, SimulationError

P = HHParams()


def _run(current: float | torch.Tensor, duration: float, dt: float, method: Method) -> Trajectory:
    cur = torch.as_tensor(current, dtype=torch.float64).reshape(1, -1)
    y0 = hh_initial_state(P, cur.shape[1])
    with torch.no_grad():
        return simulate(hh_system(P), y0, cur.expand(round(duration / dt), -1), dt, method)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rates_at_removable_singularities(dtype: torch.dtype) -> None:
    v = torch.tensor([-40.0, -55.0], dtype=dtype, requires_grad=True)
    am, _, _, _, an, _ = hh_rates(v)
    # limits: 0.1 (V+40) / (1 - e^{-(V+40)/10}) -> 0.1 * 10; 0.01 (V+55)/(...) -> 0.01 * 10
    assert float(am[0].detach()) == pytest.approx(1.0, rel=1e-6)
    assert float(an[1].detach()) == pytest.approx(0.1, rel=1e-6)
    (am.sum() + an.sum()).backward()
    assert bool(torch.isfinite(v.grad).all())
    # continuity: the values next to the singular points match the closed form
    for v0, k, scale, rate in ((-40.0, 40.0, 0.1, am), (-55.0, 55.0, 0.01, an)):
        x = v0 + 1e-3 + k
        near = hh_rates(torch.tensor([v0 + 1e-3], dtype=torch.float64))
        index = 0 if rate is am else 4
        assert float(near[index][0]) == pytest.approx(scale * x / (1 - math.exp(-x / 10)),
                                                      rel=1e-9)


def test_steady_state_start_and_gating_curves() -> None:
    y0 = hh_initial_state(P, 2)
    am, bm, ah, bh, an, bn = (float(r) for r in hh_rates(torch.tensor(-65.0, dtype=torch.float64)))
    expected = [-65.0, am / (am + bm), ah / (ah + bh), an / (an + bn)]
    assert y0[1].tolist() == pytest.approx(expected, rel=1e-12)
    inf, tau = hh_gating_curves(torch.tensor([-65.0], dtype=torch.float64))
    assert inf[0].tolist() == pytest.approx(expected[1:], rel=1e-12)
    assert tau[0, 0].item() == pytest.approx(1.0 / (am + bm), rel=1e-12)
    assert torch.equal(hh_steady_state(torch.tensor([-65.0], dtype=torch.float64)), inf)


def _resting_potential() -> float:
    """Root of the total ionic current with the gates at steady state (bisection)."""
    def i_ion(v: float) -> float:
        m, h, n = hh_steady_state(torch.tensor(v, dtype=torch.float64)).tolist()
        return (P.g_na * m**3 * h * (v - P.e_na) + P.g_k * n**4 * (v - P.e_k)
                + P.g_l * (v - P.e_l))
    lo, hi = -70.0, -60.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if i_ion(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


def test_rest_stays_within_0p1_mv_for_100_ms() -> None:
    v_rest = _resting_potential()
    assert abs(v_rest - (-65.0)) < 0.1
    v = _run(0.0, 100.0, 0.1, Method.EXP_EULER).variable("v")[:, 0]
    assert float((v - v_rest).abs().max()) < 0.1


def test_repetitive_firing_at_10_ua_matches_literature_rate() -> None:
    """About 68 Hz (docs/dynamics.md); RK4 at dt = 0.05 ms agrees with dt = 0.01 ms to 1e-4
    Hz in the mean rate, so the 1 Hz band is the literature's precision, not ours."""
    traj = _run(10.0, 60.0, 0.05, Method.RK4)
    times = traj.spikes.times
    assert times.numel() >= 4
    steady_rate = 1000.0 / float(torch.diff(times)[-1])
    assert steady_rate == pytest.approx(68.0, abs=1.0)
    assert float(isi_mean(traj.spikes)[0]) == pytest.approx(1000.0 / 68.0, rel=0.02)


def test_divergence_raises_simulation_error_naming_model_and_time() -> None:
    with pytest.raises(SimulationError) as info:
        _run(10.0, 100.0, 0.5, Method.EULER)
    message = str(info.value)
    assert "Hodgkin-Huxley" in message and "t = " in message and "smaller dt" in message
    assert "\n" not in message


def test_gradient_through_simulation_matches_finite_difference() -> None:
    current = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    dt, steps = 0.05, 40
    y0 = hh_initial_state(P, 1)
    final = simulate(hh_system(P), y0, current.expand(steps, 1), dt, Method.RK4).states[-1, 0, 0]
    final.backward()
    eps = 1e-5
    plus = _run(5.0 + eps, steps * dt, dt, Method.RK4).states[-1, 0, 0]
    minus = _run(5.0 - eps, steps * dt, dt, Method.RK4).states[-1, 0, 0]
    assert float(current.grad) == pytest.approx(float(plus - minus) / (2 * eps), rel=1e-6)


def test_capacitance_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="c_m"):
        HHParams(c_m=0.0)
    with pytest.raises(ConfigError, match="g_k"):
        HHParams(g_k=-1.0)


fast = pytest.importorskip("spikeforge.dynamics.hh_fast")
needs_kernel = pytest.mark.skipif(not fast.kernel_available(),
                                  reason="no C++ compiler for the Hodgkin-Huxley fast path")


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fast_path_matches_pure_exponential_euler(dtype: torch.dtype) -> None:
    currents = torch.linspace(0.0, 20.0, 6, dtype=torch.float64)
    dt, steps = 0.02, 1000
    pure = _run(currents, steps * dt, dt, Method.EXP_EULER)
    final, spikes = fast.simulate_hh_fast(P, hh_initial_state(P, 6, dtype), currents, dt, steps)
    tol = 1e-6 if dtype == torch.float64 else 2e-2
    assert torch.allclose(final.double(), pure.states[-1], atol=tol, rtol=0)
    assert torch.equal(spikes.neurons, pure.spikes.neurons)
    assert torch.allclose(spikes.times, pure.spikes.times, atol=tol * 10, rtol=0)


@needs_kernel
def test_fi_curve_type_ii_onset() -> None:
    """Repetitive firing starts abruptly (type II): from 0 to about 50 Hz between two
    currents 0.05 uA/cm2 apart, near 6.27 uA/cm2 (1 s at dt = 0.01 ms, spikes counted in
    the last 500 ms)."""
    currents = torch.arange(5.0, 8.0001, 0.05, dtype=torch.float64)
    y0 = hh_initial_state(P, currents.numel())
    _, spikes = fast.simulate_hh_fast(P, y0, currents, 0.01, 100_000)
    window = spikes.window(500.0, 1000.0)
    counts = firing_rate(window)
    onset = int(torch.nonzero(counts > 0)[0, 0])
    assert 6.2 <= float(currents[onset]) <= 6.35
    assert float(counts[onset - 1]) == 0.0
    rates = 1000.0 / isi_mean(window)[onset:]  # ISI-based: no 2 Hz counting quantum
    assert float(rates[0]) > 40.0
    assert bool((torch.diff(rates) >= -1e-6).all())  # rises monotonically above onset
