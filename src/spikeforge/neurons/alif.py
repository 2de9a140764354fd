"""Adaptive leaky integrate-and-fire (ALIF) neurons: a threshold that rises with each spike.

The update, for each neuron, at step ``t`` (this is the whole model)::

    U[t] = beta * U[t-1] + I[t]                    # integrate (input not scaled by 1 - beta)
    E[t] = threshold + A[t-1]                      # effective threshold
    S[t] = 1 if U[t] - E[t] >= 0 else 0            # fire (a membrane exactly at E[t] fires)
    U[t] <- U[t] - E[t] * S'[t]                    # Reset.SUBTRACT, same step
    U[t] <- U[t] * (1 - S'[t])                     # Reset.ZERO, same step
    A[t] = rho * A[t-1] + jump * S[t]              # adaptation decays by rho, jumps per spike

with ``U[-1] = A[-1] = 0``; ``S'`` is ``S`` or, with ``detach_reset=True`` (default), a copy
of ``S`` without gradient. The adaptation always carries the spike's surrogate gradient.
``rho = exp(-dt / tau_adapt)`` when given as a time constant. With ``jump = 0`` the model is
exactly :class:`~spikeforge.neurons.lif.LIF`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor

from spikeforge.errors import ConfigError
from spikeforge.neurons.base import Backend, NeuronTrace, Reset
from spikeforge.neurons.fused import fused_alif
from spikeforge.neurons.lif import LIF
from spikeforge.neurons.params import _as_tensor, beta_from_tau
from spikeforge.surrogate import Surrogate, spike

__all__ = ["ALIF", "ALIFState", "alif_step"]


class ALIFState(NamedTuple):
    """State of an ALIF layer: membrane ``v`` after reset and adaptation ``a``, ``[B, ...]``."""

    v: Tensor
    a: Tensor


def alif_step(
    x: Tensor,
    v: Tensor,
    a: Tensor,
    beta: Tensor,
    threshold: Tensor,
    rho: Tensor,
    jump: Tensor,
    *,
    reset: Reset,
    surrogate: Surrogate,
    detach_reset: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One ALIF step (the module docstring states the rule).

    Args:
        x: input current ``I[t]``, ``[B, ...]``.
        v: membrane after the previous reset ``U[t-1]``, ``[B, ...]``.
        a: adaptation ``A[t-1]`` (membrane units), ``[B, ...]``.
        beta, threshold, rho, jump: broadcastable to ``x`` (``[]`` or the neuron shape).

    Returns:
        ``(spikes, membrane_before_reset, membrane_after_reset, adaptation)``, each ``[B, ...]``.
    """
    u = beta * v + x
    e = threshold + a
    s = spike(u - e, surrogate)
    s_reset = s.detach() if detach_reset else s
    if reset is Reset.SUBTRACT:
        v_new = u - e * s_reset
    else:
        v_new = u * (1.0 - s_reset)
    a_new = rho * a + jump * s
    return s, u, v_new, a_new


class ALIF(LIF):
    """A layer of adaptive LIF neurons (update rule in the module docstring).

    Args:
        beta, tau, dt, threshold, reset, surrogate, detach_reset, learn_beta,
            learn_threshold, shape, backend: as for :class:`~spikeforge.neurons.lif.LIF`.
        rho: decay of the adaptation per step in [0, 1] (scalar or per neuron).
        tau_adapt: alternatively its time constant (unit of ``dt``); ``rho = exp(-dt/tau_adapt)``.
        jump: increase of the threshold per spike (>= 0, membrane units).

    Shapes: ``forward(x [T, B, *shape]) -> (spikes [T, B, *shape], ALIFState)``.
    """

    def __init__(
        self,
        beta: float | Sequence[float] | Tensor = 0.9,
        *,
        rho: float | Sequence[float] | Tensor = 0.95,
        tau_adapt: float | None = None,
        jump: float | Sequence[float] | Tensor = 0.2,
        tau: float | None = None,
        dt: float = 1.0,
        threshold: float | Sequence[float] | Tensor = 1.0,
        reset: Reset = Reset.SUBTRACT,
        surrogate: Surrogate | None = None,
        detach_reset: bool = True,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        shape: Sequence[int] | None = None,
        backend: Backend = Backend.FUSED,
    ) -> None:
        super().__init__(
            beta,
            tau=tau,
            dt=dt,
            threshold=threshold,
            reset=reset,
            surrogate=surrogate,
            detach_reset=detach_reset,
            learn_beta=learn_beta,
            learn_threshold=learn_threshold,
            shape=shape,
            backend=backend,
        )
        if tau_adapt is not None:
            rho = beta_from_tau(tau_adapt, self.dt)
        rho_t = _as_tensor("rho", rho, self.shape)
        if not ((rho_t >= 0) & (rho_t <= 1)).all():
            raise ConfigError(f"rho (adaptation decay) must lie in [0, 1], got {rho!r}")
        jump_t = _as_tensor("jump", jump, self.shape)
        if not (jump_t >= 0).all():
            raise ConfigError(f"jump (threshold increase per spike) must be >= 0, got {jump!r}")
        self.register_buffer("rho", rho_t)
        self.register_buffer("jump", jump_t)

    def initial_state(self, x0: Tensor) -> ALIFState:  # type: ignore[override]
        return ALIFState(x0.new_zeros(x0.shape), x0.new_zeros(x0.shape))

    def step(  # type: ignore[override]
        self, x_t: Tensor, state: ALIFState
    ) -> tuple[Tensor, Tensor, ALIFState]:
        s, u, v, a = alif_step(
            x_t,
            state.v,
            state.a,
            self.beta,
            self.threshold,
            self.rho,
            self.jump,
            reset=self.reset,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
        )
        return s, u, ALIFState(v, a)

    def _fused_unroll(  # type: ignore[override]
        self, x: Tensor, state: ALIFState, num_steps: int
    ) -> NeuronTrace:
        s, u, v, a = fused_alif(
            x,
            num_steps,
            state.v,
            state.a,
            self.beta,
            self.threshold,
            self.rho,
            self.jump,
            self._fused_config(),
        )
        return NeuronTrace(s, u, ALIFState(v, a))

    def extra_repr(self) -> str:
        rho = self.rho.item() if self.rho.numel() == 1 else "per-neuron"
        jump = self.jump.item() if self.jump.numel() == 1 else "per-neuron"
        return f"{super().extra_repr()}, rho={rho}, jump={jump}"
