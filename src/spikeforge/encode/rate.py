"""Analog and rate encoders: direct current, per-step Bernoulli, and Poisson processes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spikeforge.encode._checks import (
    check_finite,
    check_float,
    check_positive,
    check_range,
    check_steps,
)

__all__ = ["direct", "poisson", "poisson_times", "rate"]


def direct(x: Tensor, num_steps: int) -> Tensor:
    """Direct (analog current) encoding: ``x`` presented unchanged at every step.

    Args:
        x: any shape ``[*S]``, finite floating-point values (any range).
        num_steps: ``T >= 1``.

    Returns:
        ``[T, *S]``, a broadcast view of ``x`` (no copy), dtype and device of ``x``.
    """
    check_steps("direct", num_steps)
    check_finite("direct", x)
    return x.unsqueeze(0).expand(num_steps, *x.shape)


def rate(
    x: Tensor,
    num_steps: int,
    *,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
    clamp: bool = False,
) -> Tensor:
    """Rate (Bernoulli) encoding: at each step a spike with probability ``p = gain * x``.

    For a firing rate ``r`` (Hz) and a step ``dt`` (ms), ``rate(r, T, gain=dt / 1000,
    clamp=True)`` spikes with ``p = min(1, r dt)``: the count saturates at ``T`` and never
    drops at high rates (pitfall C14).

    Args:
        x: intensities, any shape ``[*S]``; ``gain * x`` must lie in ``[0, 1]`` unless ``clamp``.
        num_steps: ``T >= 1``.
        gain: multiplies the intensity.
        generator: random source (seeded for reproducibility).
        clamp: clip ``gain * x`` to ``[0, 1]`` instead of raising.

    Returns:
        ``[T, *S]`` with exactly 0.0 and 1.0, dtype and device of ``x``. The count per
        element is Binomial(``T``, ``p``).
    """
    check_steps("rate", num_steps)
    check_float("rate", x)
    p = check_range("rate", x * gain, 0.0, 1.0, clamp=clamp, what="gain * input")
    probs = p.unsqueeze(0).expand(num_steps, *p.shape)
    return torch.bernoulli(probs, generator=generator)


def poisson(
    rates: Tensor,
    num_steps: int,
    dt: float,
    *,
    generator: torch.Generator | None = None,
    clamp: bool = False,
) -> Tensor:
    """Homogeneous Poisson processes in continuous time, counted in bins of ``dt``.

    The number of events of a process of rate ``r`` in a bin of length ``dt`` is
    Poisson(``r dt / 1000``) and bins are independent, so this is exactly the binned
    continuous-time process: the mean count is ``T r dt / 1000`` at every rate (no
    saturation, no lost events; a bin may hold several events).

    Args:
        rates: firing rates in Hz, any shape ``[*S]``, ``>= 0`` (negative values are set
            to 0 with ``clamp``).
        num_steps: number of bins ``T >= 1``.
        dt: bin length in ms (> 0).
        generator: random source.

    Returns:
        ``[T, *S]`` event counts per bin (non-negative integers stored in ``rates``' dtype).
        ``.clamp_max(1)`` gives binary spikes with ``p = 1 - exp(-r dt / 1000)``.
    """
    check_steps("poisson", num_steps)
    dt = check_positive("poisson", "dt", dt)
    r = check_range("poisson", rates, 0.0, math.inf, clamp=clamp, what="rate (Hz)")
    lam = (r * (dt / 1000.0)).unsqueeze(0).expand(num_steps, *r.shape)
    return torch.poisson(lam.contiguous(), generator=generator)


def poisson_times(
    rates: Tensor,
    duration: float,
    *,
    generator: torch.Generator | None = None,
    clamp: bool = False,
) -> Tensor:
    """Event times of homogeneous Poisson processes on ``[0, duration)`` (continuous time).

    The count is drawn from Poisson(``r * duration / 1000``) and, given the count, the
    times are independent uniform draws on ``[0, duration)``, sorted: the exact law of a
    Poisson process.

    Args:
        rates: firing rates in Hz, any shape ``[*S]``, ``>= 0``.
        duration: window length in ms (> 0).
        generator: random source.

    Returns:
        ``[K, *S]`` times in ms, ascending along the first axis, padded with ``+inf``,
        where ``K`` is the largest count over all elements (``K = 0`` when none fires).
    """
    duration = check_positive("poisson_times", "duration", duration)
    r = check_range("poisson_times", rates, 0.0, math.inf, clamp=clamp, what="rate (Hz)")
    counts = torch.poisson((r * (duration / 1000.0)).contiguous(), generator=generator)
    k = int(counts.max().item()) if counts.numel() else 0
    u = torch.rand((k, *r.shape), generator=generator, dtype=r.dtype, device=r.device)
    slot = torch.arange(k, device=r.device).view(k, *([1] * r.dim()))
    times = torch.where(slot < counts, u * duration, torch.full_like(u, math.inf))
    return times.sort(dim=0).values
