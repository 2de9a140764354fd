"""Integration methods: forward Euler, exponential Euler, RK4 and adaptive Dormand–Prince 5(4).

Every method advances a batched state ``y [..., D]`` over a span ``h`` (a float, or a
tensor ``[..., 1]`` giving each neuron its own span, which reset models need) with the
input current held constant over the span (zero-order hold, as in Brian2's
``TimedArray``). All operations are out of place, so gradients flow through them.

Orders: Euler 1, exponential Euler 1 (exact for linear systems such as LIF), RK4 4,
Dormand–Prince 5 with a 4th-order embedded error estimate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from spikeforge.dynamics.system import System
from spikeforge.errors import SimulationError

Span = float | torch.Tensor


class Method(enum.Enum):
    """Integration method; the value is the CLI spelling."""

    EULER = "euler"
    EXP_EULER = "exp_euler"
    RK4 = "rk4"
    DOPRI5 = "dopri5"


def phi1(z: torch.Tensor) -> torch.Tensor:
    """``(exp(z) - 1) / z`` with its limit 1 at ``z = 0``; never NaN, differentiable.

    Args:
        z: any shape and floating dtype.

    Returns:
        Same shape; a Taylor series is used where ``|z| < 1e-4``.
    """
    small = z.abs() < 1e-4
    z_safe = torch.where(small, torch.ones_like(z), z)
    return torch.where(small, 1.0 + z / 2.0 + z * z / 6.0, torch.expm1(z_safe) / z_safe)


def euler_step(system: System, y: torch.Tensor, current: torch.Tensor, h: Span) -> torch.Tensor:
    """Forward Euler ``y + h f(y)``. Shapes: ``y [..., D]``, ``current [...]``."""
    return y + h * system.rhs(y, current)


def exp_euler_step(
    system: System, y: torch.Tensor, current: torch.Tensor, h: Span
) -> torch.Tensor:
    """Exponential Euler: each variable solves ``y' = A y + B`` exactly with A, B frozen.

    ``y_new = y + h phi1(A h) f(y)`` where ``A = system.linear(y, current)``; for gating
    variables this is ``x_inf + (x - x_inf) exp(-h / tau_x)``, for LIF the exact decay.
    """
    a = system.linear(y, current)
    return y + h * phi1(a * h) * system.rhs(y, current)


def rk4_step(system: System, y: torch.Tensor, current: torch.Tensor, h: Span) -> torch.Tensor:
    """Classical fourth-order Runge–Kutta step (current constant over the step)."""
    f = system.rhs
    k1 = f(y, current)
    k2 = f(y + 0.5 * h * k1, current)
    k3 = f(y + 0.5 * h * k2, current)
    k4 = f(y + h * k3, current)
    return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


# Dormand–Prince 5(4) Butcher tableau (Dormand & Prince 1980; Hairer, Nørsett & Wanner).
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


@dataclass(frozen=True)
class Tolerance:
    """Error control of the adaptive method: accept a step when
    ``max |err| / (atol + rtol * max(|y|, |y_new|)) <= 1`` over the whole batch."""

    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 1_000_000


DEFAULT_TOLERANCE = Tolerance()


def dopri5_integrate(
    system: System,
    y: torch.Tensor,
    current: torch.Tensor,
    span: Span,
    tol: Tolerance = DEFAULT_TOLERANCE,
    first_step: float = 1.0,
) -> tuple[torch.Tensor, float]:
    """Adaptive Dormand–Prince 5(4) over ``span`` with the step size shared by the batch.

    Time is rescaled to ``s in [0, 1]`` with ``dy/ds = span * f(y)``, so each neuron may
    have its own span (``span [..., 1]``; a zero span leaves that neuron unchanged).

    Args:
        system: the model.
        y: state ``[..., D]``.
        current: input ``[...]``, held constant over the span.
        span: time to advance (model time unit), float or tensor ``[..., 1]``.
        tol: tolerances.
        first_step: initial step as a fraction of the span (use the returned value of a
            previous call to continue smoothly).

    Returns:
        ``(y_new [..., D], next_step)`` where ``next_step`` is the proposed next step as a
        fraction of a span.
    """
    s, h, steps = 0.0, min(max(first_step, 1e-12), 1.0), 0
    k1 = span * system.rhs(y, current)
    while s < 1.0:
        steps += 1
        if steps > tol.max_steps:
            raise SimulationError(
                f"{system.name}: dopri5 needed more than {tol.max_steps} steps for one span; "
                f"loosen the tolerances or use a fixed-step method"
            )
        h = min(h, 1.0 - s)
        ks = [k1]
        for i in range(1, 7):
            yi = y
            for aij, kj in zip(_DP_A[i], ks, strict=True):
                if aij != 0.0:
                    yi = yi + (h * aij) * kj
            ks.append(span * system.rhs(yi, current))
        y5 = yi  # the 7th stage point is the 5th-order solution (FSAL)
        err = ks[0] * 0.0
        for b5, b4, k in zip(_DP_B5, _DP_B4, ks, strict=True):
            if b5 != b4:
                err = err + (h * (b5 - b4)) * k
        scale = tol.atol + tol.rtol * torch.maximum(y.abs(), y5.abs())
        ratio = float((err.abs() / scale).max()) if err.numel() else 0.0
        if ratio != ratio:  # NaN: shrink hard and retry
            ratio = 1e10
        if ratio <= 1.0:
            s += h
            y, k1 = y5, ks[6]
        factor = 5.0 if ratio == 0.0 else min(5.0, max(0.2, 0.9 * ratio ** -0.2))
        h = h * factor
        if h < 1e-14:
            raise SimulationError(
                f"{system.name}: dopri5 step size underflow (the state is diverging or NaN); "
                f"check the parameters or use a smaller dt"
            )
    return y, h


def advance(
    method: Method,
    system: System,
    y: torch.Tensor,
    current: torch.Tensor,
    span: Span,
    tol: Tolerance = DEFAULT_TOLERANCE,
    first_step: float = 1.0,
) -> tuple[torch.Tensor, float]:
    """Advance ``y [..., D]`` by ``span`` with ``method``; returns ``(y_new, next_step)``.

    ``next_step`` is only meaningful for :attr:`Method.DOPRI5` (a fraction of the span to
    try next); fixed-step methods return ``first_step`` unchanged.
    """
    if method is Method.EULER:
        return euler_step(system, y, current, span), first_step
    if method is Method.EXP_EULER:
        return exp_euler_step(system, y, current, span), first_step
    if method is Method.RK4:
        return rk4_step(system, y, current, span), first_step
    return dopri5_integrate(system, y, current, span, tol, first_step)
