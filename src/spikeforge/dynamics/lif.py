"""Leaky integrate-and-fire neuron in continuous time.

    tau_m dV/dt = -(V - V_rest) + R I

with a reset to ``V_reset`` when ``V`` reaches ``V_th`` (crossing time interpolated within
the step) and an absolute refractory period ``t_ref`` during which ``V`` is held at
``V_reset``. Units: V in mV, t in ms, R in MΩ, I in nA (so R I is in mV).

For constant input with ``R I > V_th - V_rest`` and rest 0 the interspike interval is
``tau_m ln((R I - V_reset) / (R I - V_th)) + t_ref``.

Exponential Euler is exact for this linear system (decay factor ``exp(-dt / tau_m)``);
forward Euler uses ``1 - dt / tau_m``, which flips sign for ``dt > tau_m``, so
:func:`check_step` rejects Euler with ``dt >= tau_m`` and RK4 outside its stability
interval (pitfall C11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikeforge.dynamics.integrators import Method
from spikeforge.dynamics.system import Reset, System
from spikeforge.dynamics.validation import (
    Scalar,
    require_less,
    require_non_negative,
    require_positive,
)
from spikeforge.errors import ConfigError

#: Largest ``dt / tau`` for which RK4's amplification factor of ``y' = -y / tau`` stays in [0, 1).
RK4_STABLE_RATIO = 2.785


@dataclass(frozen=True)
class LIFParams:
    """Parameters of :mod:`spikeforge.dynamics.lif` (floats or tensors broadcastable to ``[B]``).

    Attributes:
        tau_m: membrane time constant (ms, > 0).
        r_m: membrane resistance (MΩ, > 0).
        v_rest: resting potential (mV).
        v_th: firing threshold (mV).
        v_reset: reset potential (mV, below ``v_th``).
        t_ref: absolute refractory period (ms, >= 0).
        v_init: initial potential (mV).
    """

    tau_m: Scalar = 10.0
    r_m: Scalar = 10.0
    v_rest: Scalar = 0.0
    v_th: Scalar = 15.0
    v_reset: Scalar = 0.0
    t_ref: Scalar = 2.0
    v_init: Scalar = 0.0

    def __post_init__(self) -> None:
        require_positive("LIF", "tau_m", self.tau_m, "ms")
        require_positive("LIF", "r_m", self.r_m, "MΩ")
        require_non_negative("LIF", "t_ref", self.t_ref, "ms")
        require_less("LIF", "v_reset", self.v_reset, "v_th", self.v_th)


def lif_rhs(y: torch.Tensor, current: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """``dV/dt`` in mV/ms. Shapes: ``y [..., 1]`` (V in mV), ``current [...]`` (nA)."""
    v = y[..., 0]
    return ((-(v - p.v_rest) + p.r_m * current) / p.tau_m).unsqueeze(-1)


def lif_linear(y: torch.Tensor, current: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Diagonal coefficient ``-1 / tau_m`` (1/ms), shape ``[..., 1]``."""
    return torch.zeros_like(y) - 1.0 / torch.as_tensor(p.tau_m, dtype=y.dtype).unsqueeze(-1)


def lif_system(p: LIFParams) -> System:
    """Bind ``p`` into a :class:`System` with the threshold reset and refractory period."""

    def apply(y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(y) + torch.as_tensor(p.v_reset, dtype=y.dtype).unsqueeze(-1)

    return System(
        name="LIF",
        variables=("v",),
        rhs=lambda y, i: lif_rhs(y, i, p),
        linear=lambda y, i: lif_linear(y, i, p),
        spike_threshold=p.v_th,
        reset=Reset(threshold=p.v_th, apply=apply, refractory=p.t_ref),
        check_step=lambda dt, method: check_step(p, dt, method),
    )


def lif_initial_state(
    p: LIFParams, batch: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Initial state ``[B, 1]``: ``V = v_init``."""
    return (torch.zeros(batch, dtype=dtype) + torch.as_tensor(p.v_init, dtype=dtype)).unsqueeze(-1)


def lif_isi(p: LIFParams, current: float) -> float:
    """Closed-form interspike interval (ms) for a constant ``current`` (nA).

    ``tau_m ln((V_inf - V_reset) / (V_inf - V_th)) + t_ref`` with ``V_inf = v_rest + R I``
    (with ``v_rest = 0`` this is the textbook ``tau ln((RI - V_reset) / (RI - V_th))``);
    ``inf`` when ``V_inf <= V_th``. Scalar parameters only.
    """
    v_inf = float(p.v_rest) + float(p.r_m) * current
    if v_inf <= float(p.v_th):
        return math.inf
    ratio = (v_inf - float(p.v_reset)) / (v_inf - float(p.v_th))
    return float(p.tau_m) * math.log(ratio) + float(p.t_ref)


def check_step(p: LIFParams, dt: float, method: Method) -> None:
    """Reject step sizes for which ``method`` makes the leak flip sign or grow (pitfall C11).

    Forward Euler needs ``dt < tau_m``; RK4 needs ``dt < 2.785 tau_m``; exponential Euler
    and the adaptive method are always stable.
    """
    tau_min = float(torch.as_tensor(p.tau_m).min())
    limit = {Method.EULER: 1.0, Method.RK4: RK4_STABLE_RATIO}.get(method)
    if limit is not None and dt >= limit * tau_min:
        raise ConfigError(
            f"LIF: dt = {dt:g} ms is unstable with {method.value} for tau_m = {tau_min:g} ms "
            f"(needs dt < {limit:g} tau_m); use a smaller dt or --method exp_euler (exact decay)"
        )
