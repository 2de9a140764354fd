"""Encoders: direct (analog current every step) and rate (Bernoulli), pitfalls C14 and C16."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge import encode
from spikeforge.errors import ConfigError

F64 = torch.float64
DT = 1e-3  # s (1 ms)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- direct


def test_direct_repeats_the_input_as_a_view(dtype):
    x = torch.randn(3, 2, 2, dtype=dtype)
    y = encode.direct(x, 5)
    assert y.shape == (5, 3, 2, 2) and y.dtype == dtype
    for t in range(5):
        assert torch.equal(y[t], x)
    assert y.data_ptr() == x.data_ptr() and y.stride(0) == 0  # broadcast, no copy


def test_direct_gradient_sums_over_time():
    x = torch.randn(4, dtype=F64, requires_grad=True)
    w = torch.arange(1.0, 7.0, dtype=F64)[:, None]
    (encode.direct(x, 6) * w).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4,), w.sum().item(), dtype=F64))


@pytest.mark.parametrize("encoder", [encode.direct, encode.rate])
@pytest.mark.parametrize("steps", [0, -1, 2.5])
def test_num_steps_must_be_a_positive_integer(encoder, steps):
    with pytest.raises(ConfigError, match="num_steps must be an integer >= 1") as err:
        encoder(torch.full((2,), 0.5), steps)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- rate (C14)


@pytest.mark.parametrize("rate_hz", [100, 500, 900, 1000, 2000, 9900])
def test_c14_rate_totals_match_bernoulli_statistics(rate_hz):
    n, steps = 100, 1000
    p = min(1.0, rate_hz * DT)
    spikes = encode.rate(torch.ones(n), steps, gain=rate_hz * DT, clamp=True, generator=_gen(1))
    total = spikes.sum().item()
    mean = n * steps * p
    sigma = math.sqrt(n * steps * p * (1 - p))
    if p >= 1.0:
        assert total == n * steps  # saturates: exactly T per neuron, never 0
    else:
        assert abs(total - mean) <= 5 * sigma, (total, mean, sigma)


def test_c14_rate_sweep_is_monotone_and_saturates():
    n, steps = 100, 200
    rates = list(range(0, 10_000, 100))
    counts = []
    for i, r in enumerate(rates):
        s = encode.rate(torch.ones(n), steps, gain=r * DT, clamp=True, generator=_gen(i))
        counts.append(s.sum().item())
    assert counts[0] == 0
    for r, c in zip(rates, counts, strict=True):
        p = min(1.0, r * DT)
        if p >= 1:
            assert c == n * steps
        else:
            sigma = math.sqrt(n * steps * p * (1 - p))
            assert abs(c - n * steps * p) <= 5 * sigma + 1e-9
    for i in range(1, len(rates)):
        p0, p1 = min(1.0, rates[i - 1] * DT), min(1.0, rates[i] * DT)
        noise = math.sqrt(n * steps * (p0 * (1 - p0) + p1 * (1 - p1)))
        assert counts[i] >= counts[i - 1] - 5 * noise, (rates[i], counts[i - 1], counts[i])


def test_c14_steps_are_independent_draws():
    s = encode.rate(torch.full((2000,), 0.5), 4, generator=_gen(3))
    same = (s[0] == s[1]).to(F64).mean().item()
    assert abs(same - 0.5) <= 5 * math.sqrt(0.25 / 2000)
    per_neuron = s.sum(0)
    assert per_neuron.min() == 0 and per_neuron.max() == 4  # counts vary across neurons


@pytest.mark.parametrize("value", [1.3, -0.1, math.inf])
def test_c14_probabilities_outside_unit_interval_raise_or_clamp(value):
    x = torch.tensor([0.5, value])
    with pytest.raises(ConfigError, match=r"\[0, 1\].*clamp=True") as err:
        encode.rate(x, 3, generator=_gen())
    assert "\n" not in str(err.value)
    s = encode.rate(x, 50, clamp=True, generator=_gen())
    expected = 1.0 if value > 1 else 0.0
    assert torch.equal(s[:, 1], torch.full((50,), expected))


def test_c14_gain_applies_before_the_range_check():
    with pytest.raises(ConfigError):
        encode.rate(torch.tensor([0.6]), 3, gain=2.0)
    s = encode.rate(torch.tensor([0.6]), 20, gain=2.0, clamp=True, generator=_gen())
    assert torch.equal(s, torch.ones(20, 1))


@pytest.mark.parametrize("clamp", [False, True])
def test_c14_nan_raises(clamp):
    with pytest.raises(ConfigError, match="NaN") as err:
        encode.rate(torch.tensor([0.2, math.nan]), 3, clamp=clamp)
    assert "\n" not in str(err.value)


def test_c14_output_is_binary_with_time_first(dtype):
    x = torch.rand(3, 4, 5, generator=_gen(2), dtype=dtype)
    s = encode.rate(x, 7, generator=_gen(4))
    assert s.shape == (7, 3, 4, 5) and s.dtype == dtype and s.device == x.device
    assert bool(((s == 0) | (s == 1)).all())
    assert torch.equal(encode.rate(x, 7, generator=_gen(4)), s)  # seeded: reproducible
    assert not torch.equal(encode.rate(x, 7, generator=_gen(5)), s)


def test_rate_endpoints_and_empty_input():
    assert torch.equal(encode.rate(torch.zeros(10), 9, generator=_gen()), torch.zeros(9, 10))
    assert torch.equal(encode.rate(torch.ones(10), 9, generator=_gen()), torch.ones(9, 10))
    assert encode.rate(torch.zeros(0), 3).shape == (3, 0)


def test_c16_encoders_keep_float64():
    x = torch.tensor([0.2, 0.8], dtype=F64)
    assert encode.rate(x, 4, generator=_gen()).dtype == F64
    assert encode.direct(x, 4).dtype == F64
