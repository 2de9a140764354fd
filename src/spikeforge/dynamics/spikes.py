"""Spike times and their statistics.

Spikes are upward crossings of a threshold; the crossing time is linearly interpolated
between the two samples around it. Times are in the model's time unit (ms for LIF,
Hodgkin–Huxley and Izhikevich; dimensionless for FitzHugh–Nagumo and Hindmarsh–Rose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SpikeTimes:
    """Spike times of ``n_neurons`` neurons observed over ``[0, duration]``.

    Attributes:
        times: ``[N]`` spike times, sorted by neuron then time (differentiable: gradients
            reach them through the interpolated crossing).
        neurons: ``[N]`` int64 neuron index of each spike.
        n_neurons: batch size ``B``.
        duration: observation length (model time unit).
    """

    times: torch.Tensor
    neurons: torch.Tensor
    n_neurons: int
    duration: float

    def per_neuron(self) -> list[torch.Tensor]:
        """Spike times of each neuron: a list of ``B`` tensors ``[n_b]``."""
        counts = spike_count(self).tolist()
        return list(torch.split(self.times, counts))

    def window(self, start: float, stop: float) -> SpikeTimes:
        """The spikes with ``start <= t < stop``, times unchanged, duration ``stop - start``."""
        keep = (self.times >= start) & (self.times < stop)
        return SpikeTimes(self.times[keep], self.neurons[keep], self.n_neurons, stop - start)


def from_events(events: torch.Tensor, offsets: torch.Tensor, dt: float) -> SpikeTimes:
    """Collect per-step spike events into :class:`SpikeTimes`.

    Args:
        events: ``[T, B]`` bool, a spike in step ``k`` (between ``k dt`` and ``(k+1) dt``).
        offsets: ``[T, B]`` time of the crossing after the step start (model time unit).
        dt: step (model time unit).
    """
    steps, n = events.shape
    neuron, step = torch.nonzero(events.T, as_tuple=True)  # sorted by neuron, then time
    times = step.to(offsets.dtype) * dt + offsets[step, neuron]
    return SpikeTimes(times, neuron, n, steps * dt)


def threshold_crossings(
    v: torch.Tensor, threshold: float | torch.Tensor, dt: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upward crossings of ``threshold`` in a sampled trace, linearly interpolated.

    Args:
        v: ``[T+1, B]`` samples at times ``0, dt, ..., T dt``.
        threshold: scalar or ``[B]``.
        dt: sample spacing.

    Returns:
        ``(events [T, B] bool, offsets [T, B])``: step ``k`` holds a spike when
        ``v[k] < threshold <= v[k+1]``; the offset is ``dt (θ - v[k]) / (v[k+1] - v[k])``.
    """
    before, after = v[:-1], v[1:]
    events = (before < threshold) & (after >= threshold)
    denom = torch.where(events, after - before, torch.ones_like(after))
    offsets = torch.where(events, dt * (threshold - before) / denom, torch.zeros_like(after))
    return events, offsets


def detect_spikes(v: torch.Tensor, threshold: float | torch.Tensor, dt: float) -> SpikeTimes:
    """Spike times of a sampled trace ``v [T+1, B]`` (see :func:`threshold_crossings`)."""
    events, offsets = threshold_crossings(v, threshold, dt)
    return from_events(events, offsets, dt)


def spike_count(spikes: SpikeTimes) -> torch.Tensor:
    """Number of spikes per neuron, ``[B]`` int64."""
    return torch.bincount(spikes.neurons, minlength=spikes.n_neurons)


def firing_rate(spikes: SpikeTimes, seconds_per_unit: float = 1e-3) -> torch.Tensor:
    """Mean rate per neuron ``[B]`` in spikes per second (Hz when time is in ms).

    ``seconds_per_unit`` converts the time unit to seconds (1e-3 for ms; 1 for
    dimensionless time, giving spikes per unit time).
    """
    seconds = spikes.duration * seconds_per_unit
    return spike_count(spikes).to(torch.float64) / seconds


def _isis(spikes: SpikeTimes) -> list[torch.Tensor]:
    return [torch.diff(t) for t in spikes.per_neuron()]


def isi_mean(spikes: SpikeTimes) -> torch.Tensor:
    """Mean interspike interval per neuron ``[B]`` (time unit); NaN with fewer than 2 spikes."""
    out = [i.mean().item() if i.numel() else math.nan for i in _isis(spikes)]
    return torch.tensor(out, dtype=torch.float64)


def isi_cv(spikes: SpikeTimes) -> torch.Tensor:
    """Coefficient of variation (std / mean, population std) of the ISIs per neuron ``[B]``;
    NaN with fewer than 2 spikes."""
    out = []
    for i in _isis(spikes):
        out.append((i.std(correction=0) / i.mean()).item() if i.numel() else math.nan)
    return torch.tensor(out, dtype=torch.float64)


def first_spike_latency(spikes: SpikeTimes, onset: float = 0.0) -> torch.Tensor:
    """Time from ``onset`` to the first spike at or after it, per neuron ``[B]``; NaN if none."""
    out = []
    for t in spikes.per_neuron():
        after = t[t >= onset]
        out.append((after[0] - onset).item() if after.numel() else math.nan)
    return torch.tensor(out, dtype=torch.float64)
