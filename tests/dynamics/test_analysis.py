"""f-I curve as one batched simulation, onset current, Izhikevich phase plane."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.dynamics import IzhikevichParams, LIFParams, Method, lif_initial_state, lif_system
from spikeforge.dynamics.analysis import fi_curve, izhikevich_phase_portrait, onset_current
from spikeforge.dynamics.spikes import SpikeTimes


def test_lif_fi_curve_matches_closed_form_and_onset() -> None:
    p = LIFParams(tau_m=10.0, r_m=10.0, v_th=15.0, v_reset=0.0, t_ref=2.0)
    currents = torch.tensor([1.0, 1.5, 1.75, 2.5, 4.0], dtype=torch.float64)
    with torch.no_grad():
        curve = fi_curve(lif_system(p), lif_initial_state(p, 5), currents, 300.0, 0.1,
                         Method.EXP_EULER, settle=100.0)
    assert curve.spikes.n_neurons == 5  # one simulation for the whole sweep
    for current, rate in zip(currents.tolist(), curve.rates_hz.tolist(), strict=True):
        ri = 10.0 * current
        expected = 0.0 if ri <= 15.0 else 1000.0 / (10.0 * math.log(ri / (ri - 15.0)) + 2.0)
        assert rate == pytest.approx(expected, rel=1e-4)
    assert onset_current(curve) == 1.75
    silent = type(curve)(currents[:1], torch.zeros(1, dtype=torch.float64),
                         SpikeTimes(torch.zeros(0), torch.zeros(0, dtype=torch.long), 1, 1.0))
    assert math.isnan(onset_current(silent))


def test_izhikevich_phase_plane() -> None:
    p = IzhikevichParams()
    y0 = torch.tensor([[-65.0, -13.0]], dtype=torch.float64)
    pp = izhikevich_phase_portrait(p, 10.0, y0, duration=50.0, dt=0.5)
    v = pp.grid
    assert torch.allclose(pp.nullcline_x, 0.04 * v**2 + 5 * v + 140 + 10.0)
    assert torch.allclose(pp.nullcline_y, 0.2 * v)
    assert pp.trajectories.shape == (101, 1, 2) and pp.labels == ("v", "u")
    assert float(pp.trajectories[:, 0, 0].max()) < 30.0  # reset keeps v below the peak
