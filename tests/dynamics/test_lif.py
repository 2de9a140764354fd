"""LIF oracles: closed-form ISI, exact vs Euler decay (pitfall C11), refractory, same-step spike."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.dynamics import LIFParams, Method, lif_initial_state, lif_system, simulate
from spikeforge.dynamics.lif import lif_isi
from spikeforge.dynamics.spikes import spike_count
from spikeforge.errors import ConfigError

P = LIFParams(tau_m=10.0, r_m=10.0, v_rest=0.0, v_th=15.0, v_reset=0.0, t_ref=2.0)
CURRENT = 2.0  # nA, so R I = 20 mV


def _spike_times(p: LIFParams, dt: float, method: Method, duration: float = 100.0) -> torch.Tensor:
    steps = round(duration / dt)
    with torch.no_grad():
        traj = simulate(lif_system(p), lif_initial_state(p, 1),
                        torch.full((steps, 1), CURRENT, dtype=torch.float64), dt, method)
    return traj.spikes.times


def _isi_formula() -> float:
    ri = P.r_m * CURRENT
    return P.tau_m * math.log((ri - P.v_reset) / (ri - P.v_th)) + P.t_ref


def _interpolation_bound(dt: float) -> float:
    """Largest spike-time error of linear interpolation within a step: the trajectory
    V(t) = RI (1 - e^{-t/tau}) has |V''| = V'/tau, so chord error |V''| dt^2 / 8 divided by
    the slope V' at threshold gives dt^2 / (8 tau)."""
    return dt * dt / (8.0 * P.tau_m)


def test_closed_form_helper() -> None:
    assert lif_isi(P, CURRENT) == pytest.approx(10.0 * math.log(4.0) + 2.0, rel=1e-12)
    assert lif_isi(P, 1.0) == math.inf


@pytest.mark.parametrize("method", [Method.EXP_EULER, Method.RK4])
def test_isi_equals_formula_within_interpolation_error(method: Method) -> None:
    dt = 0.1
    times = _spike_times(P, dt, method)
    isis = torch.diff(times)
    assert isis.numel() >= 5
    # exp-Euler is exact for LIF; RK4's own error at dt/tau = 0.01 is ~1e-12 ms, so only the
    # interpolated crossing (and the first spike measured from t = 0) remain.
    tol = 2.0 * _interpolation_bound(dt)
    assert torch.allclose(isis, torch.full_like(isis, _isi_formula()), atol=tol, rtol=0.0)
    first = P.tau_m * math.log(P.r_m * CURRENT / (P.r_m * CURRENT - P.v_th))
    assert abs(float(times[0]) - first) < tol


def test_isi_euler_error_is_first_order() -> None:
    errors = []
    for dt in (0.1, 0.05):
        isis = torch.diff(_spike_times(P, dt, Method.EULER))
        errors.append(float((isis - _isi_formula()).abs().max()))
    assert 1.6 < errors[0] / errors[1] < 2.4, errors
    assert errors[0] < 0.1  # measured 0.05 ms at dt = 0.1 ms


def _decay(tau: float, dt: float, steps: int, method: Method,
           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    p = LIFParams(tau_m=tau, v_rest=0.0, v_th=1e9, v_reset=0.0, t_ref=0.0, v_init=1.0)
    traj = simulate(lif_system(p), lif_initial_state(p, 1, dtype),
                    torch.zeros(steps, 1, dtype=dtype), dt, method)
    return traj.states[1:, 0, 0]


@pytest.mark.parametrize("tau", [20.0, 1.0, 0.5, 0.25])
def test_pitfall_c11_exact_decay(tau: float) -> None:
    expected = torch.tensor([math.exp(-k / tau) for k in (1, 2, 3)], dtype=torch.float64)
    assert torch.allclose(_decay(tau, 1.0, 3, Method.EXP_EULER), expected, atol=1e-6, rtol=0)


def test_pitfall_c11_euler_sequence_and_rejection() -> None:
    expected = torch.tensor([0.95, 0.9025, 0.857375], dtype=torch.float64)
    assert torch.allclose(_decay(20.0, 1.0, 3, Method.EULER), expected, atol=1e-12, rtol=0)
    for tau in (1.0, 0.5, 0.25):
        with pytest.raises(ConfigError, match="unstable"):
            _decay(tau, 1.0, 3, Method.EULER)
    with pytest.raises(ConfigError, match="unstable"):
        _decay(0.25, 1.0, 3, Method.RK4)  # dt / tau = 4 is outside RK4's stability interval


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pitfall_c11_no_sign_flip_or_overflow(dtype: torch.dtype) -> None:
    trace = _decay(0.25, 1.0, 100, Method.EXP_EULER, dtype)
    assert bool(torch.isfinite(trace).all()) and bool((trace >= 0).all())
    expected = torch.exp(-4.0 * torch.arange(1, 101, dtype=torch.float64)).to(dtype)
    assert torch.allclose(trace, expected, atol=1e-6, rtol=0)


def test_refractory_holds_reset_and_spike_is_in_crossing_step() -> None:
    p = LIFParams(tau_m=10.0, r_m=10.0, v_th=15.0, v_reset=0.0, t_ref=2.0, v_init=14.99)
    dt = 0.1
    with torch.no_grad():
        traj = simulate(lif_system(p), lif_initial_state(p, 1),
                        torch.full((60, 1), CURRENT, dtype=torch.float64), dt, Method.EXP_EULER)
    t_spike = float(traj.spikes.times[0])
    # crossing within step 0: V(t) = 20 - 5.01 e^{-t/10} reaches 15 at t = 10 ln(5.01/5)
    assert t_spike == pytest.approx(10.0 * math.log(5.01 / 5.0), abs=_interpolation_bound(dt))
    assert t_spike < dt
    v = traj.variable("v")[:, 0]
    held = (traj.t > t_spike) & (traj.t <= t_spike + p.t_ref)
    assert bool((v[held] == 0.0).all())
    after = traj.t[1:][~held[1:]]
    assert float(after[0]) > t_spike + p.t_ref
    assert float(v[round(float(after[0]) / dt)]) > 0.0
    assert int(spike_count(traj.spikes)[0]) == 1


def test_parameter_sweep_is_one_batch() -> None:
    """Per-neuron time constants and currents in one simulation match one-by-one runs."""
    taus = torch.tensor([5.0, 10.0, 20.0], dtype=torch.float64)
    p = LIFParams(tau_m=taus, r_m=10.0, v_th=15.0, v_reset=0.0, t_ref=1.0)
    with torch.no_grad():
        batch = simulate(lif_system(p), lif_initial_state(p, 3),
                         torch.full((500, 3), CURRENT, dtype=torch.float64), 0.1, Method.RK4)
    for b, tau in enumerate(taus.tolist()):
        single = LIFParams(tau_m=tau, r_m=10.0, v_th=15.0, v_reset=0.0, t_ref=1.0)
        ri = 20.0
        expected = tau * math.log(ri / (ri - 15.0)) + 1.0
        isis = torch.diff(batch.spikes.per_neuron()[b])
        assert torch.allclose(isis, torch.full_like(isis, expected), atol=0.01 / (8 * tau) * 2)
        assert lif_isi(single, CURRENT) == pytest.approx(expected)


def test_gradient_of_spike_time_matches_formula() -> None:
    """d t_first / d I through the simulation equals the derivative of
    t = tau ln(RI / (RI - V_th))."""
    current = torch.tensor(CURRENT, dtype=torch.float64, requires_grad=True)
    dt = 0.01
    steps = 1500
    p = LIFParams(tau_m=10.0, r_m=10.0, v_th=15.0, v_reset=0.0, t_ref=2.0)
    traj = simulate(lif_system(p), lif_initial_state(p, 1),
                    current.expand(steps, 1), dt, Method.EXP_EULER)
    traj.spikes.times[0].backward()
    ri = 10.0 * CURRENT
    expected = 10.0 * (1.0 / CURRENT - 10.0 / (ri - 15.0))
    # linear interpolation perturbs the derivative by O(dt^2 / tau^2) relative
    assert float(current.grad) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("field", "value"), [("tau_m", 0.0), ("tau_m", -1.0), ("r_m", 0.0), ("t_ref", -1.0)]
)
def test_invalid_parameters_raise_one_line(field: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        LIFParams(**{field: value})
    assert field in str(info.value) and "\n" not in str(info.value)


def test_reset_must_be_below_threshold() -> None:
    with pytest.raises(ConfigError, match="v_reset"):
        LIFParams(v_reset=20.0, v_th=15.0)
