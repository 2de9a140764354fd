"""Izhikevich oracles: pitfall C13 one-step values and same-step spike, 1-s spike count,
firing patterns of the presets."""

from __future__ import annotations

import pytest
import torch

from spikeforge.dynamics import (
    IzhikevichParams,
    IzhikevichPreset,
    LIFParams,
    Method,
    izhikevich_initial_state,
    izhikevich_system,
    lif_initial_state,
    lif_system,
    simulate,
)
from spikeforge.dynamics.simulation import Trajectory
from spikeforge.dynamics.spikes import spike_count
from spikeforge.errors import ConfigError

RS = IzhikevichParams.from_preset(IzhikevichPreset.RS)


def _f(v: float, u: float, i: float) -> float:
    return 0.04 * v * v + 5.0 * v + 140.0 - u + i


def _g(v: float, u: float, a: float = 0.02, b: float = 0.2) -> float:
    return a * (b * v - u)


def _one_step(v: float, u: float, method: Method, dt: float = 1.0) -> Trajectory:
    y0 = torch.tensor([[v, u]], dtype=torch.float64)
    return simulate(izhikevich_system(RS), y0, torch.full((1, 1), 10.0, dtype=torch.float64), dt,
                    method)


def test_pitfall_c13_euler_one_step() -> None:
    assert _f(-65.0, -13.0, 10.0) == pytest.approx(7.0)
    traj = _one_step(-65.0, -13.0, Method.EULER)
    v1, u1 = traj.states[1, 0].tolist()
    assert v1 == pytest.approx(-58.0, abs=1e-6)
    assert u1 == pytest.approx(-13.0, abs=1e-6)  # the u update uses the old v
    assert spike_count(traj.spikes).tolist() == [0]


def test_pitfall_c13_rk4_one_step() -> None:
    v, u, h = -65.0, -13.0, 1.0
    k1 = (_f(v, u, 10), _g(v, u))
    k2 = (_f(v + h / 2 * k1[0], u + h / 2 * k1[1], 10), _g(v + h / 2 * k1[0], u + h / 2 * k1[1]))
    k3 = (_f(v + h / 2 * k2[0], u + h / 2 * k2[1], 10), _g(v + h / 2 * k2[0], u + h / 2 * k2[1]))
    k4 = (_f(v + h * k3[0], u + h * k3[1], 10), _g(v + h * k3[0], u + h * k3[1]))
    v1 = v + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
    u1 = u + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    traj = _one_step(v, u, Method.RK4)
    assert traj.states[1, 0].tolist() == pytest.approx([v1, u1], abs=1e-6)


def test_pitfall_c13_same_step_spike_and_reset() -> None:
    """v = 25 would reach 338 >= 30 within the step: the spike belongs to this step, at the
    interpolated crossing; the reset (v = c, u = u + d) is applied there and the rest of the
    step is integrated from the reset state (documented scheme, forward Euler here)."""
    traj = _one_step(25.0, -13.0, Method.EULER)
    f0 = _f(25.0, -13.0, 10.0)
    assert f0 == pytest.approx(313.0)
    theta = (30.0 - 25.0) / f0  # crossing fraction of the step
    u_cross = -13.0 + theta * _g(25.0, -13.0)
    v_reset, u_reset = -65.0, u_cross + 8.0
    assert u_reset == pytest.approx(-5.0, abs=0.01)  # = u + d up to the part-step drift
    rest = 1.0 - theta
    v1 = v_reset + rest * _f(v_reset, u_reset, 10.0)
    u1 = u_reset + rest * _g(v_reset, u_reset)
    assert spike_count(traj.spikes).tolist() == [1]
    assert float(traj.spikes.times[0]) == pytest.approx(theta, abs=1e-12)
    assert traj.states[1, 0].tolist() == pytest.approx([v1, u1], abs=1e-9)


def test_crossing_step_is_spike_step_for_lif_and_izhikevich() -> None:
    izh = _one_step(25.0, -13.0, Method.RK4)
    p = LIFParams(v_init=14.99)
    lif = simulate(lif_system(p), lif_initial_state(p, 1),
                   torch.full((1, 1), 2.0, dtype=torch.float64), 1.0, Method.EXP_EULER)
    assert spike_count(izh.spikes).tolist() == [1] == spike_count(lif.spikes).tolist()
    assert float(izh.spikes.times[0]) < 1.0 and float(lif.spikes.times[0]) < 1.0


@pytest.mark.parametrize("method", [Method.EULER, Method.RK4])
def test_pitfall_c13_one_second_spike_count(method: Method) -> None:
    dt = 0.1
    with torch.no_grad():
        traj = simulate(izhikevich_system(RS), izhikevich_initial_state(RS, 1),
                        torch.full((round(1000 / dt), 1), 10.0, dtype=torch.float64), dt, method)
    assert abs(int(spike_count(traj.spikes)[0]) - 23) <= 1


def test_preset_firing_patterns_in_one_batch() -> None:
    """RS adapts (ISIs grow), CH bursts (short ISIs within bursts, long between), FS fires
    fast and, after a four-spike onset transient (a = 0.1/ms: u settles in ~10 ms), with
    constant ISIs. One batched simulation with per-neuron parameters."""
    presets = [IzhikevichPreset.RS, IzhikevichPreset.CH, IzhikevichPreset.FS]
    a, b, c, d = (torch.tensor(col, dtype=torch.float64) for col in zip(
        *(p.value for p in presets), strict=True))
    p = IzhikevichParams(a=a, b=b, c=c, d=d)
    with torch.no_grad():
        traj = simulate(izhikevich_system(p), izhikevich_initial_state(p, 3),
                        torch.full((3000, 3), 10.0, dtype=torch.float64), 0.1, Method.RK4)
    rs, ch, fs = (torch.diff(t) for t in traj.spikes.per_neuron())
    assert rs.numel() >= 4 and bool((rs[1:] > 1.5 * rs[0]).all())  # ISIs grow, then level off
    long_gaps = ch > 20.0
    assert int(long_gaps.sum()) >= 3 and float(ch[~long_gaps].max()) < 10.0
    fs_steady = fs[4:]
    assert fs.numel() > 3 * rs.numel()
    assert float((fs_steady.max() - fs_steady.min()) / fs_steady.mean()) < 0.01


def test_preset_parameters_and_validation() -> None:
    fs = IzhikevichParams.from_preset(IzhikevichPreset.FS, d=3.0)
    assert (fs.a, fs.b, fs.c, fs.d) == (0.1, 0.2, -65.0, 3.0)
    assert {p.name for p in IzhikevichPreset} == {"RS", "IB", "CH", "FS", "LTS", "RZ", "TC"}
    with pytest.raises(ConfigError, match="a must be"):
        IzhikevichParams(a=0.0)
