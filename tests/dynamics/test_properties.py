"""Properties: a split run equals the whole run (state and refractory time passed on), and
dtypes are kept."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.dynamics import (
    IzhikevichParams,
    LIFParams,
    Method,
    izhikevich_initial_state,
    izhikevich_system,
    lif_initial_state,
    lif_system,
    simulate,
)
from spikeforge.dynamics.system import System

DT = 0.1


def _split_equals_whole(system: System, y0: torch.Tensor, current: torch.Tensor, t1: int,
                        method: Method) -> None:
    whole = simulate(system, y0, current, DT, method)
    first = simulate(system, y0, current[:t1], DT, method)
    second = simulate(system, first.states[-1], current[t1:], DT, method,
                      refractory=first.refractory)
    joined = torch.cat((first.states, second.states[1:]))
    assert torch.allclose(joined, whole.states, atol=1e-9, rtol=0)
    times = torch.cat((first.spikes.times, second.spikes.times + t1 * DT))
    assert torch.allclose(times, whole.spikes.times, atol=1e-9, rtol=0)
    assert torch.allclose(second.refractory, whole.refractory, atol=1e-12, rtol=0)


@settings(max_examples=15, deadline=None)
@given(t1=st.integers(1, 80), t2=st.integers(1, 80), current=st.floats(1.6, 4.0))
def test_lif_split_run_equals_whole_run(t1: int, t2: int, current: float) -> None:
    p = LIFParams(t_ref=2.0)
    cur = torch.full((t1 + t2, 1), current, dtype=torch.float64)
    _split_equals_whole(lif_system(p), lif_initial_state(p, 1), cur, t1, Method.EXP_EULER)


@settings(max_examples=10, deadline=None)
@given(t1=st.integers(1, 150), t2=st.integers(1, 150), current=st.floats(5.0, 15.0),
       t_ref=st.sampled_from([0.0, 0.25, 1.0]))
def test_izhikevich_split_run_equals_whole_run(t1: int, t2: int, current: float,
                                               t_ref: float) -> None:
    p = IzhikevichParams(d=2.0, t_ref=t_ref)
    cur = torch.full((t1 + t2, 1), current, dtype=torch.float64)
    _split_equals_whole(izhikevich_system(p), izhikevich_initial_state(p, 1), cur, t1,
                        Method.RK4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept(dtype: torch.dtype) -> None:
    p = IzhikevichParams()
    traj = simulate(izhikevich_system(p), izhikevich_initial_state(p, 2, dtype),
                    torch.full((50, 1), 10.0), DT, Method.EULER)
    assert traj.states.dtype == dtype and traj.spikes.times.dtype == dtype
    assert traj.states.shape == (51, 2, 2) and traj.refractory.dtype == dtype
