"""Parameter checks shared by the model parameter dataclasses.

Each check raises :class:`~spikeforge.errors.ConfigError` with a one-line message that
names the model, the parameter, the accepted range and the value that came.
"""

from __future__ import annotations

import torch

from spikeforge.errors import ConfigError

Scalar = float | torch.Tensor
"""A parameter value: a Python float or a tensor broadcastable to the batch ``[B]``."""


def _describe(value: Scalar) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor with min {value.min().item():g}" if value.numel() else "an empty tensor"
    return f"{value!r}"


def require_positive(model: str, name: str, value: Scalar, unit: str) -> None:
    """Reject ``value`` unless every element is finite and > 0.

    Args:
        model: model name for the message, e.g. ``"LIF"``.
        name: parameter name, e.g. ``"tau_m"``.
        value: float or tensor (any shape).
        unit: unit for the message, e.g. ``"ms"``.
    """
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.numel() == 0 or not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
        raise ConfigError(
            f"{model}: {name} must be a finite number > 0 {unit}, got {_describe(value)}; "
            f"pass a positive value"
        )


def require_non_negative(model: str, name: str, value: Scalar, unit: str) -> None:
    """Reject ``value`` unless every element is finite and >= 0 (same arguments as above)."""
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.numel() == 0 or not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ConfigError(
            f"{model}: {name} must be a finite number >= 0 {unit}, got {_describe(value)}; "
            f"pass zero or a positive value"
        )


def require_less(model: str, low_name: str, low: Scalar, high_name: str, high: Scalar) -> None:
    """Reject unless ``low < high`` element-wise (e.g. reset below threshold)."""
    if bool((torch.as_tensor(low) >= torch.as_tensor(high)).any()):
        raise ConfigError(
            f"{model}: {low_name} must be below {high_name}, got {_describe(low)} >= "
            f"{_describe(high)}; lower {low_name} or raise {high_name}"
        )
