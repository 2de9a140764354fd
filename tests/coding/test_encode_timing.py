"""Latency, delta and population encoders: spike times equal the formulas (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge import encode
from spikeforge.encode import LatencyMapping
from spikeforge.errors import ConfigError

LIN, LOG = LatencyMapping.LINEAR, LatencyMapping.LOG


def _spike_steps(spikes: torch.Tensor) -> list[float]:
    """Step of the (single) spike of each input of ``[T, N]``, ``inf`` if silent."""
    out = []
    for i in range(spikes.shape[1]):
        idx = torch.nonzero(spikes[:, i]).flatten().tolist()
        assert len(idx) <= 1
        out.append(float(idx[0]) if idx else math.inf)
    return out


def _expected(times: list[float], steps: int) -> list[float]:
    ks = [round(t) if math.isfinite(t) else math.inf for t in times]
    return [float(k) if k <= steps - 1 else math.inf for k in ks]


XS = [0.0, 0.05, 0.1, 0.2, 0.33, 0.5, 0.77, 0.9, 1.0]


@pytest.mark.parametrize("threshold", [0.0, 0.1])
@pytest.mark.parametrize("normalize", [False, True])
def test_linear_latency_equals_formula(threshold: float, normalize: bool) -> None:
    steps = 21
    x = torch.tensor(XS, dtype=torch.float64)
    spikes = encode.latency(x, steps, threshold=threshold, normalize=normalize)
    scale = 1.0 / (1.0 - threshold) if normalize else 1.0
    times = [(steps - 1) * (1 - v) * scale if v > threshold else math.inf for v in XS]
    assert _spike_steps(spikes) == _expected(times, steps)
    got = encode.latency_times(x, steps, threshold=threshold, normalize=normalize)
    assert torch.allclose(got, torch.tensor(times, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("threshold", [0.05, 0.2])
@pytest.mark.parametrize("tau", [2.0, 7.5])
def test_log_latency_equals_rc_charging_time(threshold: float, tau: float) -> None:
    """An RC membrane driven to x from rest reaches theta at tau ln(x / (x - theta))."""
    steps = 30
    x = torch.tensor(XS, dtype=torch.float64)
    spikes = encode.latency(x, steps, mapping=LOG, threshold=threshold, tau=tau)
    times = [tau * math.log(v / (v - threshold)) if v > threshold else math.inf for v in XS]
    assert _spike_steps(spikes) == _expected(times, steps)
    # the same time from the RC solution V(t) = x (1 - exp(-t / tau))
    for v, t in zip(XS, times, strict=True):
        if math.isfinite(t):
            assert v * (1 - math.exp(-t / tau)) == pytest.approx(threshold, abs=1e-12)


def test_log_latency_normalized_spans_window() -> None:
    steps, theta = 16, 0.2
    x_m = theta + encode.LOG_NORMALIZE_MARGIN * (1 - theta)
    x = torch.tensor([1.0, x_m, 0.6, theta, 0.1], dtype=torch.float64)
    t = encode.latency_times(x, steps, mapping=LOG, threshold=theta, normalize=True)

    def g(v: float) -> float:
        return math.log(v / (v - theta))

    expected = (steps - 1) * (g(0.6) - g(1.0)) / (g(x_m) - g(1.0))
    assert float(t[0]) == pytest.approx(0.0, abs=1e-12)
    assert float(t[1]) == pytest.approx(steps - 1, abs=1e-9)
    assert float(t[2]) == pytest.approx(expected, abs=1e-12)
    assert math.isinf(float(t[3])) and math.isinf(float(t[4]))


def test_latency_window_shorter_than_sequence() -> None:
    steps, window = 10, 5
    x = torch.tensor(XS, dtype=torch.float64)
    spikes = encode.latency(x, steps, window=window)
    assert spikes.shape == (steps, len(XS))
    times = [(window - 1) * (1 - v) if v > 0 else math.inf for v in XS]
    assert _spike_steps(spikes) == _expected(times, window)
    assert float(spikes[window:].sum()) == 0.0
    with pytest.raises(ConfigError, match="window"):
        encode.latency(x, steps, window=steps + 1)


def test_latency_max_intensity_ties_and_order() -> None:
    x = torch.tensor([1.0, 0.6, 0.6, 0.3, 1.0])
    spikes = encode.latency(x, 11)
    steps = _spike_steps(spikes)
    assert steps[0] == steps[4] == 0.0  # maximal intensity fires at step 0
    assert steps[1] == steps[2]  # equal intensities, same step
    assert steps[0] < steps[1] < steps[3]  # stronger fires earlier
    assert float(spikes.sum()) == 5.0  # one spike each


def test_latency_threshold_is_strict() -> None:
    x = torch.tensor([0.2, 0.2000001, 0.0])
    spikes = encode.latency(x, 5, threshold=0.2)
    assert spikes[:, 0].sum() == 0 and spikes[:, 1].sum() == 1 and spikes[:, 2].sum() == 0


def test_latency_errors_and_clamp() -> None:
    with pytest.raises(ConfigError, match=r"latency encoder: input must lie in \[0, 1\]"):
        encode.latency(torch.tensor([0.5, 1.2]), 4)
    with pytest.raises(ConfigError, match=r"latency encoder.*NaN"):
        encode.latency(torch.tensor([math.nan]), 4)
    with pytest.raises(ConfigError, match="threshold"):
        encode.latency(torch.tensor([0.5]), 4, mapping=LOG, threshold=0.0)
    with pytest.raises(ConfigError, match="tau"):
        encode.latency(torch.tensor([0.5]), 4, mapping=LOG, threshold=0.1, tau=-1.0)
    clamped = encode.latency(torch.tensor([1.7, -0.3]), 4, clamp=True)
    assert clamped[0, 0] == 1 and clamped[:, 1].sum() == 0


def test_delta_hand_made_sequence() -> None:
    x = torch.tensor([0.0, 0.3, 0.6, 0.2, 0.1, 0.05, -0.06], dtype=torch.float64)
    out = encode.delta(x, 0.25)
    assert out.shape == (7, 2) and out.dtype == torch.float64
    # ref: 0 -> 0.3 (ON) -> 0.6 (ON) -> 0.2 (OFF) -> 0.2 -> 0.2 -> -0.06 (OFF, change -0.26)
    assert out[:, 0].tolist() == [0, 1, 1, 0, 0, 0, 0]
    assert out[:, 1].tolist() == [0, 0, 0, 1, 0, 0, 1]


def test_delta_ramp_spikes_every_ceil_threshold_over_slope() -> None:
    slope, theta, steps = 0.1, 0.35, 40
    x = slope * torch.arange(steps, dtype=torch.float64)
    on = encode.delta(x, theta)[:, 0]
    period = math.ceil(theta / slope - 1e-12)
    expected = [1.0 if t > 0 and t % period == 0 else 0.0 for t in range(steps)]
    assert on.tolist() == expected


def test_delta_sign_symmetry_and_shape() -> None:
    x = torch.randn(12, 3, 4, generator=torch.Generator().manual_seed(0))
    out, neg = encode.delta(x, 0.5), encode.delta(-x, 0.5)
    assert out.shape == (12, 3, 4, 2)
    assert torch.equal(out[..., 0], neg[..., 1]) and torch.equal(out[..., 1], neg[..., 0])
    assert not bool((out[..., 0] * out[..., 1]).any())


def test_delta_errors() -> None:
    with pytest.raises(ConfigError, match="delta encoder: threshold"):
        encode.delta(torch.zeros(3), 0.0)
    with pytest.raises(ConfigError, match=r"delta encoder.*infinity"):
        encode.delta(torch.tensor([0.0, math.inf]), 0.1)


def test_population_fields_and_latency() -> None:
    n, low, high = 5, -1.0, 1.0
    x = torch.tensor([-1.0, 0.1, 0.8], dtype=torch.float64)
    a = encode.gaussian_receptive_fields(x, n, low=low, high=high)
    spacing = (high - low) / (n - 1)
    sigma = spacing / 2
    for i, v in enumerate(x.tolist()):
        for j in range(n):
            mu = low + j * spacing
            assert float(a[i, j]) == pytest.approx(math.exp(-((v - mu) ** 2) / (2 * sigma**2)))
    steps = 10
    spikes = encode.population(x, steps, n, low=low, high=high, threshold=0.1)
    assert spikes.shape == (steps, 3, n) and spikes.dtype == torch.float64
    for i in range(3):
        got = _spike_steps(spikes[:, i, :])
        times = [
            (steps - 1) * (1 - float(a[i, j])) if float(a[i, j]) > 0.1 else math.inf
            for j in range(n)
        ]
        assert got == _expected(times, steps)
        assert got[int(a[i].argmax())] == min(got)  # best-tuned neuron first


def test_population_errors() -> None:
    with pytest.raises(ConfigError, match=r"population encoder: input must lie in \[0, 2\]"):
        encode.population(torch.tensor([3.0]), 5, 4, high=2.0)
    with pytest.raises(ConfigError, match="num_neurons"):
        encode.population(torch.tensor([0.5]), 5, 1)
    out = encode.population(torch.tensor([3.0]), 5, 4, high=2.0, clamp=True)
    assert out[0, 0, 3] == 1


ENCODERS = {
    "direct": lambda x, g: encode.direct(x, 3),
    "rate": lambda x, g: encode.rate(x, 3, generator=g),
    "poisson": lambda x, g: encode.poisson(100 * x, 3, 1.0, generator=g),
    "latency": lambda x, g: encode.latency(x, 3),
    "latency-log": lambda x, g: encode.latency(x, 3, mapping=LOG, threshold=0.1, normalize=True),
    "delta": lambda x, g: encode.delta(x, 0.1),
    "population": lambda x, g: encode.population(x, 3, 4),
}


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
    name=st.sampled_from(sorted(ENCODERS)),
    seed=st.integers(0, 2**31 - 1),
)
def test_encoders_keep_dtype_and_shape(
    shape: list[int], dtype: torch.dtype, name: str, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype)
    out = ENCODERS[name](x, g)
    assert out.dtype == dtype
    if name == "delta":
        assert out.shape == (*shape, 2)
    elif name == "population":
        assert out.shape == (3, *shape, 4)
    else:
        assert out.shape == (3, *shape)
    if name == "poisson":
        assert bool((out >= 0).all()) and torch.equal(out, out.round())
    elif name != "direct":
        assert bool(((out == 0) | (out == 1)).all())
