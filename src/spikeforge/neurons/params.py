"""Constrained neuron parameters: a decay in [0, 1] and a threshold > 0, fixed or learnable.

A learnable decay is stored as a logit and used as ``beta = sigmoid(logit)``; a learnable
threshold is stored raw and used as ``theta = THRESHOLD_FLOOR + softplus(raw)``. Both maps
are smooth with non-zero gradient everywhere, so the optimiser can never push the value a
model uses out of range or freeze it at a clamp (pitfall C10). The properties ``beta`` and
``threshold`` of a neuron always return the values its forward pass uses.

Fixed values are registered as buffers, so they are saved in checkpoints and follow
``.to()``/``.double()`` (pitfalls C17, C18).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from spikeforge.errors import ConfigError

__all__ = [
    "THRESHOLD_FLOOR",
    "beta_from_tau",
    "inverse_softplus",
    "make_decay",
    "make_threshold",
    "read_decay",
    "read_threshold",
    "tau_from_beta",
]

#: Smallest threshold a learnable threshold can take (in membrane units).
THRESHOLD_FLOOR = 1e-6


def beta_from_tau(tau: float, dt: float) -> float:
    """Exact discretisation of a leak with time constant ``tau``: ``beta = exp(-dt / tau)``.

    ``tau`` and ``dt`` in the same unit (ms by convention); both must be > 0. Stable for any
    ``dt`` (unlike the Euler factor ``1 - dt / tau``, which is <= 0 for ``dt >= tau``).
    """
    if not (math.isfinite(tau) and tau > 0):
        raise ConfigError(f"tau must be a finite time constant > 0 (ms), got {tau!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt must be a finite time step > 0 (ms), got {dt!r}")
    return math.exp(-dt / tau)


def tau_from_beta(beta: float, dt: float) -> float:
    """Inverse of :func:`beta_from_tau`: ``tau = -dt / ln(beta)`` for ``0 < beta < 1``."""
    if not 0.0 < beta < 1.0:
        raise ConfigError(f"beta must lie in (0, 1) to have a finite time constant, got {beta!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt must be a finite time step > 0 (ms), got {dt!r}")
    return -dt / math.log(beta)


def inverse_softplus(y: Tensor) -> Tensor:
    """``x`` with ``softplus(x) = y`` for ``y > 0`` (stable for large ``y``)."""
    return y + torch.log(-torch.expm1(-y))


def _as_tensor(
    name: str, value: float | Sequence[float] | Tensor, shape: tuple[int, ...]
) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if shape:
        try:
            t = t.expand(shape).clone()
        except RuntimeError:
            raise ConfigError(
                f"{name} of shape {tuple(t.shape)} does not broadcast to the neuron shape {shape}"
            ) from None
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return t


def make_decay(
    module: nn.Module,
    beta: float | Sequence[float] | Tensor,
    *,
    learn: bool,
    shape: tuple[int, ...],
) -> None:
    """Register the decay on ``module`` as buffer ``beta_value`` or parameter ``beta_logit``."""
    t = _as_tensor("beta", beta, shape)
    if learn:
        if not ((t > 0) & (t < 1)).all():
            raise ConfigError(
                f"a learnable beta must lie strictly inside (0, 1), got {beta!r}; "
                "use learn_beta=False for beta = 0 or 1"
            )
        module.register_parameter("beta_logit", nn.Parameter(torch.logit(t)))
    else:
        if not ((t >= 0) & (t <= 1)).all():
            raise ConfigError(f"beta must lie in [0, 1], got {beta!r}")
        module.register_buffer("beta_value", t)


def make_threshold(
    module: nn.Module,
    threshold: float | Sequence[float] | Tensor,
    *,
    learn: bool,
    shape: tuple[int, ...],
) -> None:
    """Register the threshold as buffer ``threshold_value`` or parameter ``threshold_raw``."""
    t = _as_tensor("threshold", threshold, shape)
    if not (t > THRESHOLD_FLOOR).all():
        raise ConfigError(f"threshold must be > {THRESHOLD_FLOOR:g}, got {threshold!r}")
    if learn:
        module.register_parameter(
            "threshold_raw", nn.Parameter(inverse_softplus(t - THRESHOLD_FLOOR))
        )
    else:
        module.register_buffer("threshold_value", t)


def read_decay(module: nn.Module) -> Tensor:
    """The decay ``beta`` the module uses (in [0, 1])."""
    logit = getattr(module, "beta_logit", None)
    return torch.sigmoid(logit) if logit is not None else module.beta_value


def read_threshold(module: nn.Module) -> Tensor:
    """The threshold the module uses (> ``THRESHOLD_FLOOR``)."""
    raw = getattr(module, "threshold_raw", None)
    if raw is not None:
        return THRESHOLD_FLOOR + nn.functional.softplus(raw)
    return module.threshold_value
