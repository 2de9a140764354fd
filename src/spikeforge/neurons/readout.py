"""Non-spiking leaky integrator (LI) readout: ``U[t] = beta * U[t-1] + I[t]``, no threshold.

Its output is the membrane itself, used by membrane decoders (max or mean over time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor

from spikeforge.neurons.base import Neuron
from spikeforge.neurons.params import beta_from_tau, make_decay, read_decay

__all__ = ["LI", "LIState", "li_step"]


class LIState(NamedTuple):
    """State of a readout: ``v`` the membrane, ``[B, ...]``."""

    v: Tensor


def li_step(x: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """``U[t] = beta * U[t-1] + x[t]`` (shapes ``[B, ...]``; ``beta`` broadcastable)."""
    return beta * v + x


class LI(Neuron):
    """Leaky integrator readout layer.

    ``forward(x [T, B, ...]) -> (membrane [T, B, ...], LIState)``. ``beta`` in [0, 1] or
    ``tau`` with ``dt`` as for :class:`~spikeforge.neurons.lif.LIF`.
    """

    spiking = False

    def __init__(
        self,
        beta: float | Sequence[float] | Tensor = 0.9,
        *,
        tau: float | None = None,
        dt: float = 1.0,
        learn_beta: bool = False,
        shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.shape = tuple(shape) if shape is not None else ()
        self.dt = float(dt)
        if tau is not None:
            beta = beta_from_tau(tau, self.dt)
        make_decay(self, beta, learn=learn_beta, shape=self.shape)

    @property
    def beta(self) -> Tensor:
        """The decay used in the forward pass."""
        return read_decay(self)

    def initial_state(self, x0: Tensor) -> LIState:
        return LIState(x0.new_zeros(x0.shape))

    def step(self, x_t: Tensor, state: LIState) -> tuple[Tensor, Tensor, LIState]:
        v = li_step(x_t, state.v, self.beta)
        return v, v, LIState(v)
