"""FitzHugh–Nagumo model (dimensionless time and voltage).

    dv/dt = v - v^3 / 3 - w + I
    dw/dt = eps (v + a - b w)

Nullclines: ``w = v - v^3/3 + I`` (v-nullcline) and ``w = (v + a) / b`` (w-nullcline).
With the defaults a = 0.7, b = 0.8, eps = 0.08 the model rests for I = 0 and oscillates
on a relaxation limit cycle for I = 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeforge.dynamics.system import System
from spikeforge.dynamics.validation import Scalar, require_positive


@dataclass(frozen=True)
class FHNParams:
    """FitzHugh–Nagumo parameters (dimensionless; floats or tensors broadcastable to ``[B]``).

    Attributes:
        a: recovery offset.
        b: recovery self-coupling (> 0).
        eps: time-scale ratio of the recovery variable (> 0).
        v_init, w_init: initial state.
        spike_threshold: upward crossings of ``v`` through this value count as spikes.
    """

    a: Scalar = 0.7
    b: Scalar = 0.8
    eps: Scalar = 0.08
    v_init: Scalar = -1.0
    w_init: Scalar = -0.5
    spike_threshold: float = 1.0

    def __post_init__(self) -> None:
        require_positive("FitzHugh-Nagumo", "eps", self.eps, "(dimensionless time-scale ratio)")
        require_positive("FitzHugh-Nagumo", "b", self.b, "(dimensionless)")


def fhn_rhs(y: torch.Tensor, current: torch.Tensor, p: FHNParams) -> torch.Tensor:
    """Right-hand side ``[..., 2]`` for ``y = (v, w) [..., 2]`` and ``current [...]``."""
    v, w = y.unbind(-1)
    return torch.stack((v - v * v * v / 3.0 - w + current, p.eps * (v + p.a - p.b * w)), dim=-1)


def fhn_linear(y: torch.Tensor, current: torch.Tensor, p: FHNParams) -> torch.Tensor:
    """Diagonal Jacobian ``[..., 2]``: ``(1 - v^2, -eps b)``."""
    v = y[..., 0]
    return torch.stack((1.0 - v * v, torch.zeros_like(v) - p.eps * p.b), dim=-1)


def fhn_nullclines(
    v: torch.Tensor, current: float, p: FHNParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w on the v-nullcline, w on the w-nullcline)`` at voltages ``v [N]``."""
    return v - v**3 / 3.0 + current, (v + p.a) / p.b


def fhn_system(p: FHNParams) -> System:
    """Bind ``p`` into a :class:`System` (state ``(v, w)``, dimensionless time)."""
    return System(
        name="FitzHugh-Nagumo",
        variables=("v", "w"),
        rhs=lambda y, i: fhn_rhs(y, i, p),
        linear=lambda y, i: fhn_linear(y, i, p),
        spike_threshold=p.spike_threshold,
        time_unit="1",
    )


def fhn_initial_state(p: FHNParams, batch: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Initial state ``[B, 2]`` = ``(v_init, w_init)``."""
    zero = torch.zeros(batch, dtype=dtype)
    return torch.stack((zero + p.v_init, zero + p.w_init), dim=-1)
