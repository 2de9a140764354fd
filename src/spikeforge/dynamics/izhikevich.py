"""Izhikevich (2003) simple model.

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I
    du/dt = a (b v - u)
    if v >= v_peak (30 mV): v <- c, u <- u + d

Units: v in mV, t in ms, I in the model's current unit (Izhikevich 2003 uses
dimensionless currents; the CLI labels them uA/cm2 like Hodgkin–Huxley).

Integration follows :mod:`spikeforge.dynamics.simulation`: the step is taken with the
chosen method on both variables at once (forward Euler uses the old ``v`` in the ``u``
update), the crossing of ``v_peak`` is interpolated within the step, the reset is applied
at the crossing and the rest of the step is integrated from the reset state. The spike
belongs to the step in which ``v`` reaches ``v_peak`` (pitfall C13).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from spikeforge.dynamics.system import Reset, System
from spikeforge.dynamics.validation import Scalar, require_non_negative, require_positive


class IzhikevichPreset(enum.Enum):
    """Named parameter sets ``(a, b, c, d)`` of Izhikevich (2003), Fig. 2."""

    RS = (0.02, 0.2, -65.0, 8.0)  # regular spiking
    IB = (0.02, 0.2, -55.0, 4.0)  # intrinsically bursting
    CH = (0.02, 0.2, -50.0, 2.0)  # chattering
    FS = (0.1, 0.2, -65.0, 2.0)  # fast spiking
    LTS = (0.02, 0.25, -65.0, 2.0)  # low-threshold spiking
    RZ = (0.1, 0.26, -65.0, 2.0)  # resonator
    TC = (0.02, 0.25, -65.0, 0.05)  # thalamo-cortical


@dataclass(frozen=True)
class IzhikevichParams:
    """Izhikevich parameters (floats or tensors broadcastable to ``[B]``).

    Attributes:
        a: recovery rate (1/ms, > 0).
        b: recovery sensitivity to v (dimensionless).
        c: reset voltage (mV).
        d: recovery increment at a spike.
        v_peak: spike cut-off voltage (mV).
        t_ref: absolute refractory period (ms, >= 0; 0 in the original model).
        v_init: initial voltage (mV); ``u`` starts at ``b v_init``.
    """

    a: Scalar = 0.02
    b: Scalar = 0.2
    c: Scalar = -65.0
    d: Scalar = 8.0
    v_peak: Scalar = 30.0
    t_ref: Scalar = 0.0
    v_init: Scalar = -65.0

    def __post_init__(self) -> None:
        require_positive("Izhikevich", "a", self.a, "1/ms")
        require_non_negative("Izhikevich", "t_ref", self.t_ref, "ms")

    @classmethod
    def from_preset(cls, preset: IzhikevichPreset, **overrides: Scalar) -> IzhikevichParams:
        """Parameters of a named preset, with optional field overrides."""
        a, b, c, d = preset.value
        return cls(**{"a": a, "b": b, "c": c, "d": d, **overrides})


def izhikevich_rhs(y: torch.Tensor, current: torch.Tensor, p: IzhikevichParams) -> torch.Tensor:
    """Right-hand side ``[..., 2]`` for ``y = (v, u) [..., 2]`` (mV) and ``current [...]``;
    in mV/ms."""
    v, u = y.unbind(-1)
    return torch.stack((0.04 * v * v + 5.0 * v + 140.0 - u + current, p.a * (p.b * v - u)), dim=-1)


def izhikevich_linear(y: torch.Tensor, current: torch.Tensor, p: IzhikevichParams) -> torch.Tensor:
    """Diagonal Jacobian ``[..., 2]`` (1/ms): ``(0.08 v + 5, -a)``."""
    v = y[..., 0]
    return torch.stack((0.08 * v + 5.0, torch.zeros_like(v) - p.a), dim=-1)


def izhikevich_nullclines(
    v: torch.Tensor, current: float, p: IzhikevichParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u on the v-nullcline, u on the u-nullcline)`` for ``v [N]`` (mV)."""
    return 0.04 * v**2 + 5.0 * v + 140.0 + current, p.b * v


def izhikevich_system(p: IzhikevichParams) -> System:
    """Bind ``p`` into a :class:`System` with the ``v_peak`` reset."""

    def apply(y: torch.Tensor) -> torch.Tensor:
        v, u = y.unbind(-1)
        return torch.stack((torch.zeros_like(v) + p.c, u + p.d), dim=-1)

    return System(
        name="Izhikevich",
        variables=("v", "u"),
        rhs=lambda y, i: izhikevich_rhs(y, i, p),
        linear=lambda y, i: izhikevich_linear(y, i, p),
        spike_threshold=p.v_peak,
        reset=Reset(threshold=p.v_peak, apply=apply, refractory=p.t_ref),
    )


def izhikevich_initial_state(
    p: IzhikevichParams, batch: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Initial state ``[B, 2]``: ``v = v_init``, ``u = b v_init``."""
    v = torch.zeros(batch, dtype=dtype) + torch.as_tensor(p.v_init, dtype=dtype)
    return torch.stack((v, p.b * v), dim=-1)
