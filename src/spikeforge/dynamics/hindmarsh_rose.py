"""Hindmarsh–Rose model (dimensionless time and variables).

    dx/dt = y - a x^3 + b x^2 - z + I
    dy/dt = c - d x^2 - y
    dz/dt = r (s (x - x_R) - z)

Standard parameters a = 1, b = 3, c = 1, d = 5, s = 4, x_R = -1.6, r = 0.001. The slow
variable z modulates the fast subsystem (x, y), whose nullclines at fixed z are
``y = a x^3 - b x^2 + z - I`` (x-nullcline) and ``y = c - d x^2`` (y-nullcline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeforge.dynamics.system import System
from spikeforge.dynamics.validation import Scalar, require_positive


@dataclass(frozen=True)
class HRParams:
    """Hindmarsh–Rose parameters (dimensionless; floats or tensors broadcastable to ``[B]``).

    Attributes:
        a, b, c, d: fast-subsystem coefficients.
        s: adaptation coupling; x_r: adaptation reference.
        r: slow time scale (> 0).
        x_init, y_init, z_init: initial state (``y_init = c - d x_init^2`` by default).
        spike_threshold: upward crossings of ``x`` through this value count as spikes.
    """

    a: Scalar = 1.0
    b: Scalar = 3.0
    c: Scalar = 1.0
    d: Scalar = 5.0
    s: Scalar = 4.0
    x_r: Scalar = -1.6
    r: Scalar = 0.001
    x_init: Scalar = -1.6
    y_init: Scalar = -11.8
    z_init: Scalar = 0.0
    spike_threshold: float = 1.0

    def __post_init__(self) -> None:
        require_positive("Hindmarsh-Rose", "r", self.r, "(dimensionless time-scale ratio)")


def hr_rhs(y: torch.Tensor, current: torch.Tensor, p: HRParams) -> torch.Tensor:
    """Right-hand side ``[..., 3]`` for the state ``(x, y, z) [..., 3]`` and ``current [...]``."""
    x, yy, z = y.unbind(-1)
    x2 = x * x
    return torch.stack(
        (
            yy - p.a * x2 * x + p.b * x2 - z + current,
            p.c - p.d * x2 - yy,
            p.r * (p.s * (x - p.x_r) - z),
        ),
        dim=-1,
    )


def hr_linear(y: torch.Tensor, current: torch.Tensor, p: HRParams) -> torch.Tensor:
    """Diagonal Jacobian ``[..., 3]``: ``(-3 a x^2 + 2 b x, -1, -r)``."""
    x = y[..., 0]
    zero = torch.zeros_like(x)
    return torch.stack((-3.0 * p.a * x * x + 2.0 * p.b * x, zero - 1.0, zero - p.r), dim=-1)


def hr_fast_nullclines(
    x: torch.Tensor, z: float, current: float, p: HRParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nullclines of the fast subsystem at fixed ``z``: ``(y on the x-nullcline,
    y on the y-nullcline)`` for ``x [N]``."""
    return p.a * x**3 - p.b * x**2 + z - current, p.c - p.d * x**2


def hr_system(p: HRParams) -> System:
    """Bind ``p`` into a :class:`System` (state ``(x, y, z)``, dimensionless time)."""
    return System(
        name="Hindmarsh-Rose",
        variables=("x", "y", "z"),
        rhs=lambda y, i: hr_rhs(y, i, p),
        linear=lambda y, i: hr_linear(y, i, p),
        spike_threshold=p.spike_threshold,
        time_unit="1",
    )


def hr_initial_state(p: HRParams, batch: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Initial state ``[B, 3]`` = ``(x_init, y_init, z_init)``."""
    zero = torch.zeros(batch, dtype=dtype)
    return torch.stack((zero + p.x_init, zero + p.y_init, zero + p.z_init), dim=-1)


def hr_fast_system(p: HRParams, z: float) -> System:
    """The fast subsystem ``(x, y)`` with the slow variable frozen at ``z``."""

    def rhs(y: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        full = torch.cat((y, torch.zeros_like(y[..., :1]) + z), dim=-1)
        return hr_rhs(full, current, p)[..., :2]

    def linear(y: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        full = torch.cat((y, torch.zeros_like(y[..., :1]) + z), dim=-1)
        return hr_linear(full, current, p)[..., :2]

    return System(
        name="Hindmarsh-Rose fast subsystem",
        variables=("x", "y"),
        rhs=rhs,
        linear=linear,
        spike_threshold=p.spike_threshold,
        time_unit="1",
    )
