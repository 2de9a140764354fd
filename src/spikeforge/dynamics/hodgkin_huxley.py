"""Hodgkin–Huxley squid-axon model in the modern convention (rest near -65 mV).

    C dV/dt = I - gNa m^3 h (V - ENa) - gK n^4 (V - EK) - gL (V - EL)
    dx/dt   = alpha_x(V) (1 - x) - beta_x(V) x          for x in m, h, n

Units: V in mV, t in ms, C in uF/cm2, conductances in mS/cm2, I in uA/cm2
(mS/cm2 · mV = uA/cm2, uA/cm2 / (uF/cm2) = mV/ms). Rate functions in 1/ms
(Hodgkin & Huxley 1952, shifted by -65 mV as in Dayan & Abbott, Gerstner et al.):

    alpha_m = 0.1 (V + 40) / (1 - exp(-(V + 40) / 10))   beta_m = 4 exp(-(V + 65) / 18)
    alpha_h = 0.07 exp(-(V + 65) / 20)                    beta_h = 1 / (1 + exp(-(V + 35) / 10))
    alpha_n = 0.01 (V + 55) / (1 - exp(-(V + 55) / 10))  beta_n = 0.125 exp(-(V + 65) / 80)

``alpha_m`` and ``alpha_n`` are 0/0 at V = -40 and -55 mV; they are evaluated as
``k / phi1(-x / k)`` with ``phi1(z) = (e^z - 1) / z``, which equals the limit (1.0 and
0.1 per ms) there and is smooth and NaN-free in float32 and float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeforge.dynamics.integrators import phi1
from spikeforge.dynamics.system import System
from spikeforge.dynamics.validation import Scalar, require_non_negative, require_positive


@dataclass(frozen=True)
class HHParams:
    """Classic squid-axon parameters (floats or tensors broadcastable to ``[B]``).

    Attributes:
        c_m: membrane capacitance (uF/cm2, > 0).
        g_na, g_k, g_l: maximal sodium, potassium and leak conductances (mS/cm2, >= 0).
        e_na, e_k, e_l: reversal potentials (mV).
        v_init: initial voltage (mV); gates start at their steady state for it.
        spike_threshold: upward crossings of this voltage count as spikes (mV).
    """

    c_m: Scalar = 1.0
    g_na: Scalar = 120.0
    g_k: Scalar = 36.0
    g_l: Scalar = 0.3
    e_na: Scalar = 50.0
    e_k: Scalar = -77.0
    e_l: Scalar = -54.387
    v_init: Scalar = -65.0
    spike_threshold: float = 0.0

    def __post_init__(self) -> None:
        require_positive("Hodgkin-Huxley", "c_m", self.c_m, "uF/cm2")
        for name in ("g_na", "g_k", "g_l"):
            require_non_negative("Hodgkin-Huxley", name, getattr(self, name), "mS/cm2")


def _x_over_expm1(x: torch.Tensor, k: float) -> torch.Tensor:
    """``x / (1 - exp(-x / k))`` with its limit ``k`` at ``x = 0``."""
    return k / phi1(-x / k)


def hh_rates(v: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Opening and closing rates ``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)``.

    Args:
        v: membrane voltage (mV), any shape.

    Returns:
        Six tensors of the shape of ``v`` (1/ms), finite for every finite ``v``.
    """
    alpha_m = 0.1 * _x_over_expm1(v + 40.0, 10.0)
    beta_m = 4.0 * torch.exp(-(v + 65.0) / 18.0)
    alpha_h = 0.07 * torch.exp(-(v + 65.0) / 20.0)
    beta_h = torch.sigmoid((v + 35.0) / 10.0)
    alpha_n = 0.01 * _x_over_expm1(v + 55.0, 10.0)
    beta_n = 0.125 * torch.exp(-(v + 65.0) / 80.0)
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


def hh_steady_state(v: torch.Tensor) -> torch.Tensor:
    """Steady-state gates ``[..., 3]`` = ``(m_inf, h_inf, n_inf)`` at voltage ``v [...]`` (mV)."""
    am, bm, ah, bh, an, bn = hh_rates(v)
    return torch.stack((am / (am + bm), ah / (ah + bh), an / (an + bn)), dim=-1)


def _conductances(y: torch.Tensor, p: HHParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    m, h, n = y[..., 1], y[..., 2], y[..., 3]
    n2 = n * n
    return p.g_na * m * m * m * h, p.g_k * n2 * n2, torch.zeros_like(m) + p.g_l


def hh_rhs(y: torch.Tensor, current: torch.Tensor, p: HHParams) -> torch.Tensor:
    """Right-hand side ``[..., 4]`` for ``y = (V, m, h, n) [..., 4]`` and ``current [...]``
    (uA/cm2); dV/dt in mV/ms, gate derivatives in 1/ms."""
    v, m, h, n = y.unbind(-1)
    g_na, g_k, g_l = _conductances(y, p)
    i_ion = g_na * (v - p.e_na) + g_k * (v - p.e_k) + g_l * (v - p.e_l)
    am, bm, ah, bh, an, bn = hh_rates(v)
    return torch.stack(
        (
            (current - i_ion) / p.c_m,
            am * (1.0 - m) - bm * m,
            ah * (1.0 - h) - bh * h,
            an * (1.0 - n) - bn * n,
        ),
        dim=-1,
    )


def hh_linear(y: torch.Tensor, current: torch.Tensor, p: HHParams) -> torch.Tensor:
    """Diagonal coefficients ``[..., 4]`` (1/ms): ``-(g_total) / C`` for V and
    ``-(alpha_x + beta_x)`` for each gate, as in exponential Euler for conductance models."""
    g_na, g_k, g_l = _conductances(y, p)
    am, bm, ah, bh, an, bn = hh_rates(y[..., 0])
    return torch.stack(
        (-(g_na + g_k + g_l) / p.c_m, -(am + bm), -(ah + bh), -(an + bn)), dim=-1
    )


def hh_system(p: HHParams) -> System:
    """Bind ``p`` into a :class:`System`: state ``(V, m, h, n)``, spikes at ``spike_threshold``."""
    return System(
        name="Hodgkin-Huxley",
        variables=("v", "m", "h", "n"),
        rhs=lambda y, i: hh_rhs(y, i, p),
        linear=lambda y, i: hh_linear(y, i, p),
        spike_threshold=p.spike_threshold,
    )


def hh_initial_state(p: HHParams, batch: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Initial state ``[B, 4]``: ``V = v_init`` and each gate at its steady state for it."""
    v = torch.zeros(batch, dtype=dtype) + torch.as_tensor(p.v_init, dtype=dtype)
    return torch.cat((v.unsqueeze(-1), hh_steady_state(v)), dim=-1)
