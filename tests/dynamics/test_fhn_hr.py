"""FitzHugh–Nagumo and Hindmarsh–Rose behaviour, and their phase portraits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.dynamics import (
    FHNParams,
    HRParams,
    Method,
    fhn_initial_state,
    fhn_system,
    hr_initial_state,
    hr_system,
    simulate,
)
from spikeforge.dynamics.analysis import fhn_phase_portrait, hr_fast_phase_portrait
from spikeforge.dynamics.spikes import spike_count
from spikeforge.errors import ConfigError


def _fhn_fixed_point(p: FHNParams, current: float) -> tuple[float, float]:
    """Intersection of the nullclines: v - v^3/3 + I = (v + a)/b (the real root)."""
    roots = np.roots([-1.0 / 3.0, 0.0, 1.0 - 1.0 / p.b, current - p.a / p.b])
    v = float(roots[np.abs(roots.imag) < 1e-9].real[0])
    return v, (v + p.a) / p.b


def test_fhn_rests_at_zero_current_and_oscillates_at_half() -> None:
    p = FHNParams()
    current = torch.tensor([[0.0, 0.5]], dtype=torch.float64).expand(2000, 2)
    with torch.no_grad():
        traj = simulate(fhn_system(p), fhn_initial_state(p, 2), current, 0.1, Method.RK4)
    v_star, w_star = _fhn_fixed_point(p, 0.0)
    late = traj.states[1000:]
    assert float((late[:, 0, 0] - v_star).abs().max()) < 1e-3
    assert float((late[:, 0, 1] - w_star).abs().max()) < 1e-3
    assert spike_count(traj.spikes).tolist()[0] == 0
    v_osc = late[:, 1, 0]
    assert float(v_osc.max() - v_osc.min()) > 3.0  # relaxation cycle from about -2 to 2
    isis = torch.diff(traj.spikes.per_neuron()[1])
    assert isis.numel() >= 3
    assert float((isis[1:] - isis[-1]).abs().max()) < 1e-3 * float(isis[-1])  # periodic


def test_fhn_phase_portrait_nullclines_cross_at_fixed_point() -> None:
    p = FHNParams()
    y0 = torch.tensor([[-1.0, -0.5], [2.0, 1.0]], dtype=torch.float64)
    pp = fhn_phase_portrait(p, 0.0, y0, duration=20.0, dt=0.1)
    gap = (pp.nullcline_x - pp.nullcline_y).abs()
    v_cross = float(pp.grid[int(torch.argmin(gap))])
    assert v_cross == pytest.approx(_fhn_fixed_point(p, 0.0)[0], abs=pp.grid[1] - pp.grid[0])
    assert pp.trajectories.shape == (201, 2, 2) and pp.labels == ("v", "w")


def test_hr_bursts_at_current_3() -> None:
    """I = 3, r = 0.001, starting with z = 3 (inside the range z visits on the bursting
    attractor, 2.7-3.1): quiescence, a burst, a long silence, the next burst."""
    p = HRParams(z_init=3.0)
    steps = 8000
    with torch.no_grad():
        traj = simulate(hr_system(p), hr_initial_state(p, 1),
                        torch.full((steps, 1), 3.0, dtype=torch.float64), 0.1, Method.RK4)
    times = traj.spikes.times
    isis = torch.diff(times)
    gaps = isis > 150.0
    intra = isis[~gaps]
    assert int(gaps.sum()) >= 1 and float(intra.max()) < 40.0
    first_gap = int(torch.nonzero(gaps)[0, 0])
    assert first_gap + 1 >= 5  # a burst of at least five spikes before the silence
    assert times.numel() - (first_gap + 1) >= 3  # and the next burst after it


def test_hr_fast_subsystem_portrait() -> None:
    p = HRParams()
    y0 = torch.tensor([[-1.6, -11.8]], dtype=torch.float64)
    pp = hr_fast_phase_portrait(p, 3.0, 3.0, y0, duration=5.0, dt=0.05)
    x = pp.grid
    assert torch.allclose(pp.nullcline_y, 1.0 - 5.0 * x**2)
    assert torch.allclose(pp.nullcline_x, x**3 - 3.0 * x**2 + 3.0 - 3.0)
    assert pp.trajectories.shape == (101, 1, 2)


def test_invalid_time_scales() -> None:
    with pytest.raises(ConfigError, match="eps"):
        FHNParams(eps=0.0)
    with pytest.raises(ConfigError, match="r must be"):
        HRParams(r=-0.001)
