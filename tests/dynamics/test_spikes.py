"""Spike detection and statistics against hand-computed values."""

from __future__ import annotations

import math

import torch

from spikeforge.dynamics.spikes import (
    SpikeTimes,
    detect_spikes,
    firing_rate,
    first_spike_latency,
    isi_cv,
    isi_mean,
    spike_count,
)


def test_crossing_time_is_linearly_interpolated() -> None:
    # neuron 0 crosses 0 between samples 1 (-1) and 2 (+3): t = 1 + 1/4 steps; a touch from
    # below that reaches the threshold exactly counts (Heaviside(0) = 1); a downward crossing
    # does not; neuron 1 never crosses.
    v = torch.tensor([[-2.0, -5.0], [-1.0, -5.0], [3.0, -5.0], [-1.0, -4.0], [0.0, -5.0]],
                     dtype=torch.float64)
    spikes = detect_spikes(v, 0.0, dt=0.5)
    assert spikes.neurons.tolist() == [0, 0]
    assert spikes.times.tolist() == [0.5 * 1.25, 0.5 * 4.0]
    assert spike_count(spikes).tolist() == [2, 0]
    assert spikes.duration == 2.0


def test_statistics_match_formulas() -> None:
    t0 = [1.0, 3.0, 7.0, 8.0]
    spikes = SpikeTimes(torch.tensor([*t0, 5.0], dtype=torch.float64),
                        torch.tensor([0, 0, 0, 0, 2]), 3, 10.0)
    isis = [2.0, 4.0, 1.0]
    mean = sum(isis) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in isis) / 3)
    assert isi_mean(spikes)[0].item() == mean
    assert math.isclose(isi_cv(spikes)[0].item(), std / mean, rel_tol=1e-12)
    assert math.isnan(isi_mean(spikes)[1].item()) and math.isnan(isi_cv(spikes)[2].item())
    assert firing_rate(spikes).tolist() == [4 / 0.01, 0.0, 1 / 0.01]  # 10 ms window, in Hz
    assert firing_rate(spikes, seconds_per_unit=1.0).tolist() == [0.4, 0.0, 0.1]
    latency = first_spike_latency(spikes, onset=2.0)
    assert latency[0].item() == 1.0 and math.isnan(latency[1].item()) and latency[2].item() == 3.0
    late = spikes.window(2.0, 10.0)
    assert spike_count(late).tolist() == [3, 0, 1] and late.duration == 8.0
