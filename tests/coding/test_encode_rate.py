"""Rate, Poisson and direct encoders: statistics within exact confidence bounds (fixed seeds)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from spikeforge import encode
from spikeforge.errors import ConfigError

#: Two-sided probability of a false alarm per checked count.
ALPHA = 1e-6


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
def test_rate_counts_within_binomial_bounds(p: float) -> None:
    n, steps = 200, 500
    x = torch.full((n,), p, dtype=torch.float64)
    spikes = encode.rate(x, steps, generator=_gen(1))
    total = int(spikes.sum())
    low, high = stats.binom.interval(1 - ALPHA, n * steps, p)
    assert low <= total <= high
    per_neuron = spikes.sum(0)
    lo1, hi1 = stats.binom.interval(1 - ALPHA / n, steps, p)
    assert bool(((per_neuron >= lo1) & (per_neuron <= hi1)).all())


def test_rate_is_binary_and_reproducible() -> None:
    x = torch.rand(4, 7, generator=_gen(3))
    a = encode.rate(x, 20, generator=_gen(5))
    b = encode.rate(x, 20, generator=_gen(5))
    assert a.shape == (20, 4, 7)
    assert torch.equal(a, b)
    assert bool(((a == 0) | (a == 1)).all())


@pytest.mark.parametrize("hz", [100.0, 500.0, 900.0, 1000.0, 2000.0, 9900.0])
def test_rate_in_hz_saturates_never_drops(hz: float) -> None:
    """Pitfall C14: p = min(1, r dt) per step; 100 neurons x 1000 steps of 1 ms."""
    dt, n, steps = 1.0, 100, 1000
    x = torch.full((n,), hz)
    total = int(encode.rate(x, steps, gain=dt / 1000.0, clamp=True, generator=_gen(2)).sum())
    p = min(1.0, hz * dt / 1000.0)
    if p == 1.0:
        assert total == n * steps
    else:
        low, high = stats.binom.interval(1 - ALPHA, n * steps, p)
        assert low <= total <= high


def test_rate_sweep_in_hz_tracks_min_one_r_dt() -> None:
    """C14 sweep: 0 ... 9900 Hz in steps of 100, 100 neurons x 200 steps of 1 ms; every count
    lies in its binomial bounds, so counts rise with the rate and never drop at high rates."""
    n, steps = 100, 200
    hz = torch.arange(0.0, 10000.0, 100.0, dtype=torch.float64)
    x = hz.repeat_interleave(n)
    spikes = encode.rate(x, steps, gain=1e-3, clamp=True, generator=_gen(11))
    totals = spikes.sum(0).reshape(len(hz), n).sum(1)
    for r, total in zip(hz.tolist(), totals.tolist(), strict=True):
        p = min(1.0, r * 1e-3)
        low, high = stats.binom.interval(1 - ALPHA / len(hz), n * steps, p)
        assert low <= total <= high, (r, total)


def test_rate_gain_scales_probability() -> None:
    n, steps, gain = 100, 400, 0.5
    x = torch.full((n,), 0.8, dtype=torch.float64)
    total = int(encode.rate(x, steps, gain=gain, generator=_gen(4)).sum())
    low, high = stats.binom.interval(1 - ALPHA, n * steps, gain * 0.8)
    assert low <= total <= high


def test_rate_out_of_range_names_encoder_and_range() -> None:
    x = torch.tensor([0.2, 1.5, -0.1])
    with pytest.raises(ConfigError, match=r"rate encoder.*\[0, 1\].*-0\.1.*1\.5"):
        encode.rate(x, 3)
    with pytest.raises(ConfigError, match=r"rate encoder.*NaN"):
        encode.rate(torch.tensor([0.2, math.nan]), 3, clamp=True)
    clamped = encode.rate(x, 50, clamp=True, generator=_gen())
    assert torch.equal(clamped[:, 1], torch.ones(50))
    assert torch.equal(clamped[:, 2], torch.zeros(50))


def test_rate_rejects_integer_input_and_bad_steps() -> None:
    with pytest.raises(ConfigError, match="floating-point"):
        encode.rate(torch.tensor([0, 1]), 3)
    with pytest.raises(ConfigError, match="num_steps"):
        encode.rate(torch.tensor([0.5]), 0)


@pytest.mark.parametrize("hz", [0.0, 50.0, 1000.0, 9900.0])
def test_poisson_counts_within_poisson_bounds(hz: float) -> None:
    """Binned continuous-time process: total count is Poisson(N T r dt), even above 1/dt."""
    n, steps, dt = 50, 400, 0.5
    counts = encode.poisson(torch.full((n,), hz, dtype=torch.float64), steps, dt, generator=_gen(7))
    assert counts.shape == (steps, n)
    assert counts.dtype == torch.float64
    assert bool((counts >= 0).all()) and torch.equal(counts, counts.round())
    mean = n * steps * hz * dt / 1000.0
    low, high = stats.poisson.interval(1 - ALPHA, mean) if mean > 0 else (0, 0)
    assert low <= float(counts.sum()) <= high


def test_poisson_rejects_negative_rates_and_bad_dt() -> None:
    with pytest.raises(ConfigError, match=r"poisson encoder: rate \(Hz\) must lie in \[0, inf\]"):
        encode.poisson(torch.tensor([-1.0, 5.0]), 10, 1.0)
    with pytest.raises(ConfigError, match="dt"):
        encode.poisson(torch.tensor([1.0]), 10, 0.0)
    out = encode.poisson(torch.tensor([-1.0]), 10, 1.0, clamp=True, generator=_gen())
    assert torch.equal(out, torch.zeros(10, 1))


def test_poisson_times_law() -> None:
    """Counts ~ Poisson(r D); given the counts, times are uniform on [0, D) and sorted."""
    n, hz, duration = 400, 40.0, 250.0
    times = encode.poisson_times(
        torch.full((n,), hz, dtype=torch.float64), duration, generator=_gen(9)
    )
    assert times.dtype == torch.float64
    finite = torch.isfinite(times)
    counts = finite.sum(0)
    mean = n * hz * duration / 1000.0
    low, high = stats.poisson.interval(1 - ALPHA, mean)
    assert low <= int(counts.sum()) <= high
    # padding only after the real events, ascending order
    assert bool((finite.int().diff(dim=0) <= 0).all())
    assert bool((times.diff(dim=0)[finite[1:]] >= 0).all())
    vals = times[finite]
    assert bool(((vals >= 0) & (vals < duration)).all())
    # uniform on [0, D): the mean lies within 6 standard errors of D / 2
    se = duration / math.sqrt(12 * vals.numel())
    assert abs(float(vals.mean()) - duration / 2) < 6 * se


def test_poisson_times_silent() -> None:
    times = encode.poisson_times(torch.zeros(3), 100.0, generator=_gen())
    assert times.shape == (0, 3)


def test_direct_is_a_view_and_keeps_dtype() -> None:
    x = torch.randn(2, 3, dtype=torch.float64, generator=_gen())
    out = encode.direct(x, 4)
    assert out.shape == (4, 2, 3) and out.dtype == torch.float64
    assert out.data_ptr() == x.data_ptr()
    assert torch.equal(out[3], x)
    with pytest.raises(ConfigError, match=r"direct encoder.*NaN"):
        encode.direct(torch.tensor([math.nan]), 2)
