"""Argument checks shared by the encoders (one error message style for all of them)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spikeforge.errors import ConfigError

__all__ = ["check_finite", "check_float", "check_positive", "check_range", "check_steps"]


def check_steps(name: str, num_steps: int) -> None:
    """Reject a number of steps that is not an integer ``>= 1``."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ConfigError(f"{name} encoder: num_steps must be an integer >= 1, got {num_steps!r}")


def check_positive(name: str, option: str, value: float) -> float:
    """Return ``value`` as a float if it is finite and ``> 0``, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} encoder: {option} must be a number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} encoder: {option} must be a finite number > 0, got {value!r}")
    return float(value)


def check_float(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(
            f"{name} encoder: input must be a floating-point tensor, got {got}; "
            "convert it first (e.g. x.float() / 255 for 8-bit images)"
        )


def check_finite(name: str, x: Tensor) -> None:
    """Reject a non-float input or one containing NaN or infinity."""
    check_float(name, x)
    if torch.isnan(x).any():
        raise ConfigError(f"{name} encoder: input contains NaN; clean or impute it first")
    if torch.isinf(x).any():
        raise ConfigError(f"{name} encoder: input contains infinity; inputs must be finite")


def check_range(
    name: str, x: Tensor, low: float, high: float, *, clamp: bool, what: str = "input"
) -> Tensor:
    """``x`` if all its values lie in ``[low, high]``; clipped to it if ``clamp``.

    NaN is always an error (there is no sensible value to clamp it to).

    Raises:
        ConfigError: naming the encoder, the accepted range and the range found.
    """
    check_float(name, x)
    if torch.isnan(x).any():
        raise ConfigError(f"{name} encoder: {what} contains NaN; clean or impute it first")
    if clamp:
        return x.clamp(low, high)
    if x.numel() and (x.min() < low or x.max() > high):
        raise ConfigError(
            f"{name} encoder: {what} must lie in [{low:g}, {high:g}], got range "
            f"[{x.min().item():.4g}, {x.max().item():.4g}]; rescale it or pass clamp=True"
        )
    return x
