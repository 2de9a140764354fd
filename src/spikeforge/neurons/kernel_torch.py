"""Fused LIF/ALIF recurrences written as vectorised torch operations (any device, dtype, surrogate).

The forward pass runs the time loop with in-place tensor operations and no autograd
graph; the backward pass runs the reverse-time recurrence (derived in
``docs/performance.md``) from the saved membrane ``u`` (and adaptation before each step
for ALIF), recomputing spikes, surrogate derivatives and the previous membrane. The forward
performs exactly the reference step's floating-point operations, so in any dtype its
spikes and membranes are bitwise equal to the reference; gradients agree to rounding.
Shapes are those of :mod:`spikeforge.neurons.kernel_types`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikeforge.neurons.base import Reset
from spikeforge.neurons.kernel_types import Forward, FusedConfig, Grads, Needs, Params, Result

__all__ = ["backward", "forward"]


def _after_reset(u: Tensor, e: Tensor, s: Tensor, reset: Reset) -> Tensor:
    """The membrane after reset from ``u`` before reset, threshold ``e`` and spikes ``s``."""
    return u - e * s if reset is Reset.SUBTRACT else u * (1.0 - s)


@torch.no_grad()
def forward(
    x: Tensor, num_steps: int, v0: Tensor, a0: Tensor | None, p: Params, cfg: FusedConfig
) -> Forward:
    """Run ``num_steps`` steps from state ``(v0, a0)``; see the module docstring."""
    adaptive = p.rho is not None
    shape = (num_steps, *v0.shape)
    s, u = x.new_empty(shape), x.new_empty(shape)
    a_prev = x.new_empty(shape) if adaptive else None
    v = v0.clone()
    a = a0.clone() if adaptive and a0 is not None else None
    for t in range(num_steps):
        ut = torch.mul(p.beta, v, out=u[t]).add_(x[0] if x.shape[0] == 1 else x[t])
        if a is not None and a_prev is not None:
            a_prev[t].copy_(a)
            e = p.theta + a
        else:
            e = p.theta
        st = torch.sub(ut, e, out=s[t]).ge_(0)
        v = _after_reset(ut, e, st, cfg.reset)
        if a is not None:
            a = a.mul_(p.rho).add_(p.jump * st)
    return Forward(s, u, a_prev, v, a)


@torch.no_grad()
def backward(
    x_steps: int,
    fwd_u: Tensor,
    fwd_a_prev: Tensor | None,
    v0: Tensor,
    p: Params,
    g: Grads,
    needs: Needs,
    cfg: FusedConfig,
) -> Result:
    """Reverse-time recurrence; ``x_steps`` is ``Tx`` (1 for a static input)."""
    num_steps = fwd_u.shape[0]
    adaptive = p.rho is not None
    subtract = cfg.reset is Reset.SUBTRACT
    gv = g.v.clone() if g.v is not None else torch.zeros_like(v0)
    ga = (g.a.clone() if g.a is not None else torch.zeros_like(v0)) if adaptive else None
    gx = fwd_u.new_zeros((x_steps, *v0.shape)) if x_steps == 1 else torch.empty_like(fwd_u)
    acc = {k: torch.zeros_like(v0) for k in ("beta", "theta", "rho", "jump") if getattr(needs, k)}

    def threshold(t: int) -> Tensor:
        return p.theta + fwd_a_prev[t] if fwd_a_prev is not None else p.theta

    for t in range(num_steps - 1, -1, -1):
        ut, e = fwd_u[t], threshold(t)
        d = ut - e
        st = (d >= 0).to(ut.dtype)
        g_s = g.s[t].clone() if g.s is not None else torch.zeros_like(ut)
        if ga is not None:
            g_s += p.jump * ga
        if not cfg.detach_reset:
            g_s -= (e if subtract else ut) * gv
        gsh = g_s * cfg.surrogate.derivative(d)
        g_u = (gv if subtract else gv * (1.0 - st)) + gsh
        if g.u is not None:
            g_u += g.u[t]
        g_e = -gsh - st * gv if subtract else -gsh
        if "theta" in acc:
            acc["theta"] += g_e
        if ga is not None and fwd_a_prev is not None:
            if "rho" in acc:
                acc["rho"] += ga * fwd_a_prev[t]
            if "jump" in acc:
                acc["jump"] += ga * st
            ga = ga * p.rho + g_e
        if "beta" in acc:
            if t == 0:
                v_prev = v0
            else:
                e_prev = threshold(t - 1)
                s_prev = (fwd_u[t - 1] - e_prev >= 0).to(ut.dtype)
                v_prev = _after_reset(fwd_u[t - 1], e_prev, s_prev, cfg.reset)
            acc["beta"] += g_u * v_prev
        if x_steps == 1:
            gx[0] += g_u
        else:
            gx[t] = g_u
        gv = g_u * p.beta
    return Result(gx, gv, ga, acc.get("beta"), acc.get("theta"), acc.get("rho"), acc.get("jump"))
