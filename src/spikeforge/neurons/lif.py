"""Leaky integrate-and-fire (LIF) and integrate-and-fire (IF) neurons.

The update, for each neuron, at step ``t`` (this is the whole model)::

    U[t] = beta * U[t-1] + I[t]                    # integrate (input not scaled by 1 - beta)
    S[t] = 1 if U[t] >= threshold else 0           # fire (a membrane exactly at threshold fires)
    U[t] <- U[t] - threshold * S'[t]               # Reset.SUBTRACT, same step
    U[t] <- U[t] * (1 - S'[t])                     # Reset.ZERO, same step

with ``U[-1] = 0`` and ``S' = S`` or, with ``detach_reset=True`` (default), ``S'`` a copy of
``S`` that carries no gradient (pitfall C08). IF is LIF with ``beta = 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor

from spikeforge.errors import ConfigError
from spikeforge.neurons.base import Backend, Neuron, NeuronTrace, Reset
from spikeforge.neurons.fused import FusedConfig, fused_lif
from spikeforge.neurons.params import (
    beta_from_tau,
    make_decay,
    make_threshold,
    read_decay,
    read_threshold,
)
from spikeforge.surrogate import Arctan, Surrogate, spike

__all__ = ["IF", "LIF", "LIFState", "lif_step"]


class LIFState(NamedTuple):
    """State of a LIF/IF layer: ``v`` the membrane after reset, shape ``[B, ...]``."""

    v: Tensor


def lif_step(
    x: Tensor,
    v: Tensor,
    beta: Tensor,
    threshold: Tensor,
    *,
    reset: Reset,
    surrogate: Surrogate,
    detach_reset: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """One LIF step (the module docstring states the rule).

    Args:
        x: input current ``I[t]``, ``[B, ...]``.
        v: membrane after the previous reset ``U[t-1]``, ``[B, ...]``.
        beta: decay, broadcastable to ``x`` (``[]`` or the neuron shape).
        threshold: firing threshold, broadcastable to ``x``.

    Returns:
        ``(spikes, membrane_before_reset, membrane_after_reset)``, each ``[B, ...]``.
    """
    u = beta * v + x
    s = spike(u - threshold, surrogate)
    s_reset = s.detach() if detach_reset else s
    if reset is Reset.SUBTRACT:
        v_new = u - threshold * s_reset
    else:
        v_new = u * (1.0 - s_reset)
    return s, u, v_new


class LIF(Neuron):
    """A layer of leaky integrate-and-fire neurons (update rule in the module docstring).

    Args:
        beta: decay per step in [0, 1] (scalar, or per neuron with ``shape``).
        tau: alternatively a membrane time constant (same unit as ``dt``);
            then ``beta = exp(-dt / tau)``.
        dt: time step (ms), kept on the module for export.
        threshold: firing threshold (> 0).
        reset: :class:`Reset.SUBTRACT` (default) or :class:`Reset.ZERO`.
        surrogate: surrogate derivative used in the backward pass.
        detach_reset: cut the gradient through the reset term (default True).
        learn_beta / learn_threshold: make them trainable (kept in range by
            reparametrisation, see :mod:`spikeforge.neurons.params`).
        shape: neuron shape (the input's trailing dims) for per-neuron parameters;
            ``None`` shares one value across the layer.
        backend: how the time loop runs (:class:`~spikeforge.neurons.base.Backend`); the
            default fused loop equals the reference loop, values and gradients.

    Shapes: ``forward(x [T, B, *shape]) -> (spikes [T, B, *shape], LIFState)``.
    """

    def __init__(
        self,
        beta: float | Sequence[float] | Tensor = 0.9,
        *,
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
        super().__init__()
        if not isinstance(backend, Backend):
            raise ConfigError(f"backend must be a spikeforge.neurons.Backend, got {backend!r}")
        self.backend = backend
        if not isinstance(reset, Reset):
            raise ConfigError(f"reset must be a spikeforge.Reset, got {reset!r}")
        self.shape = tuple(shape) if shape is not None else ()
        self.dt = float(dt)
        if tau is not None:
            beta = beta_from_tau(tau, self.dt)
        make_decay(self, beta, learn=learn_beta, shape=self.shape)
        make_threshold(self, threshold, learn=learn_threshold, shape=self.shape)
        self.reset = reset
        self.surrogate = surrogate if surrogate is not None else Arctan()
        self.detach_reset = bool(detach_reset)

    @property
    def beta(self) -> Tensor:
        """The decay used in the forward pass."""
        return read_decay(self)

    @property
    def threshold(self) -> Tensor:
        """The threshold used in the forward pass."""
        return read_threshold(self)

    supports_fused = True

    def initial_state(self, x0: Tensor) -> LIFState:
        return LIFState(x0.new_zeros(x0.shape))

    def _fused_config(self) -> FusedConfig:
        return FusedConfig(self.reset, self.detach_reset, self.surrogate, self.backend)

    def _fused_unroll(self, x: Tensor, state: LIFState, num_steps: int) -> NeuronTrace:
        s, u, v = fused_lif(x, num_steps, state.v, self.beta, self.threshold, self._fused_config())
        return NeuronTrace(s, u, LIFState(v))

    def step(self, x_t: Tensor, state: LIFState) -> tuple[Tensor, Tensor, LIFState]:
        s, u, v = lif_step(
            x_t,
            state.v,
            self.beta,
            self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
        )
        return s, u, LIFState(v)

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, reset={self.reset.value}, detach_reset={self.detach_reset}, "
            f"surrogate={self.surrogate}, learn_beta={hasattr(self, 'beta_logit')}, "
            f"learn_threshold={hasattr(self, 'threshold_raw')}"
        )


class IF(LIF):
    """Integrate-and-fire: LIF with ``beta = 1`` (no leak). Same arguments less the decay."""

    def __init__(
        self,
        *,
        dt: float = 1.0,
        threshold: float | Sequence[float] | Tensor = 1.0,
        reset: Reset = Reset.SUBTRACT,
        surrogate: Surrogate | None = None,
        detach_reset: bool = True,
        learn_threshold: bool = False,
        shape: Sequence[int] | None = None,
        backend: Backend = Backend.FUSED,
    ) -> None:
        super().__init__(
            1.0,
            dt=dt,
            threshold=threshold,
            reset=reset,
            surrogate=surrogate,
            detach_reset=detach_reset,
            learn_beta=False,
            learn_threshold=learn_threshold,
            shape=shape,
            backend=backend,
        )
