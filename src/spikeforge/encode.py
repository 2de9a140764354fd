"""Encoders: turn static inputs into time-major sequences ``[T, *input.shape]``.

Pure functions; stochastic ones take a ``torch.Generator`` so runs are reproducible.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikeforge.errors import ConfigError

__all__ = ["direct", "rate"]


def _check_steps(name: str, num_steps: int) -> None:
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ConfigError(f"{name} encoder: num_steps must be an integer >= 1, got {num_steps!r}")


def direct(x: Tensor, num_steps: int) -> Tensor:
    """Direct (analog current) encoding: ``x`` presented unchanged at every step.

    Args:
        x: any shape ``[*S]``.
        num_steps: ``T >= 1``.

    Returns:
        ``[T, *S]``, a broadcast view of ``x`` (no copy).
    """
    _check_steps("direct", num_steps)
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

    Args:
        x: intensities, any shape ``[*S]``; ``gain * x`` must lie in ``[0, 1]`` unless ``clamp``.
        num_steps: ``T >= 1``.
        gain: multiplies the intensity (e.g. ``r * dt`` for a rate ``r``).
        generator: random source (seeded for reproducibility).
        clamp: clip ``gain * x`` to ``[0, 1]`` instead of raising.

    Returns:
        ``[T, *S]`` with exactly 0.0 and 1.0, dtype and device of ``x``. The expected count
        per element is ``T * p``.
    """
    _check_steps("rate", num_steps)
    p = x * gain
    if torch.isnan(p).any():
        raise ConfigError("rate encoder: input contains NaN; clean or impute it first")
    if clamp:
        p = p.clamp(0.0, 1.0)
    elif p.numel() and (p.min() < 0 or p.max() > 1):
        raise ConfigError(
            f"rate encoder: gain * input must lie in [0, 1], got range "
            f"[{p.min().item():.4g}, {p.max().item():.4g}]; rescale the input or pass clamp=True"
        )
    probs = p.unsqueeze(0).expand(num_steps, *p.shape)
    return torch.bernoulli(probs, generator=generator)
