"""Types shared by the fused multi-step kernels (torch, native C++ and Triton).

Every kernel works on flattened tensors: the input ``x`` is ``[Tx, B, N]`` with ``Tx = T``
(one input per step) or ``Tx = 1`` (a static input reused at every step), states are
``[B, N]`` and parameters ``[N]`` (already broadcast to the neuron shape), all of one
floating dtype on one device. ``N`` is the number of neurons per sample. LIF/IF are the
adaptive model with no adaptation, ``rho``/``jump``/``a`` are then ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from spikeforge.neurons.base import Backend, Reset
from spikeforge.surrogate import Arctan, FastSigmoid, Sigmoid, Surrogate, Triangle

__all__ = [
    "SURROGATE_ID",
    "Forward",
    "FusedConfig",
    "Grads",
    "Needs",
    "Params",
    "Result",
    "surrogate_constants",
]

#: The surrogates the compiled kernels implement, by the id they use.
SURROGATE_ID: dict[type, int] = {FastSigmoid: 0, Arctan: 1, Sigmoid: 2, Triangle: 3}


def surrogate_constants(surrogate: Surrogate) -> tuple[float, float]:
    """``(c0, c1)`` of a built-in surrogate as the compiled kernels take them.

    Arctan: ``(pi a / 2, a / 2)``; the others: ``(scale, 0)``. Computed in the same order
    as the surrogate's ``derivative`` so the kernels reproduce it.
    """
    if isinstance(surrogate, Arctan):
        return 0.5 * math.pi * surrogate.scale, 0.5 * surrogate.scale
    return float(surrogate.scale), 0.0


@dataclass(frozen=True)
class FusedConfig:
    """The options of a fused layer that are not tensors."""

    reset: Reset
    detach_reset: bool
    surrogate: Surrogate
    backend: Backend = Backend.FUSED


class Params(NamedTuple):
    """Per-neuron parameters ``[N]``: decay, threshold, adaptation decay and jump (ALIF)."""

    beta: Tensor
    theta: Tensor
    rho: Tensor | None = None
    jump: Tensor | None = None


class Forward(NamedTuple):
    """What a forward kernel returns.

    Attributes:
        s: spikes ``[T, B, N]`` (0/1).
        u: membrane before reset ``[T, B, N]`` (saved for the backward pass).
        a_prev: adaptation before each step ``[T, B, N]`` (ALIF; else ``None``).
        v: final membrane after reset ``[B, N]``.
        a: final adaptation ``[B, N]`` (ALIF; else ``None``).
    """

    s: Tensor
    u: Tensor
    a_prev: Tensor | None
    v: Tensor
    a: Tensor | None


class Grads(NamedTuple):
    """Incoming gradients of the outputs (``None`` where the output was not used)."""

    s: Tensor | None  #: ``[T, B, N]``
    u: Tensor | None  #: ``[T, B, N]`` (only when the membrane trace is used)
    v: Tensor | None  #: ``[B, N]``
    a: Tensor | None  #: ``[B, N]``


class Needs(NamedTuple):
    """Which parameter gradients to compute (input and state gradients are always returned)."""

    beta: bool
    theta: bool
    rho: bool = False
    jump: bool = False


class Result(NamedTuple):
    """Gradients computed by a backward kernel.

    ``x`` has the input's ``[Tx, B, N]`` shape (summed over time for a static input); the
    parameter gradients are per element ``[B, N]``, summed over time only (``None`` when
    not needed); the caller reduces them to the parameter's shape.
    """

    x: Tensor
    v0: Tensor
    a0: Tensor | None
    beta: Tensor | None
    theta: Tensor | None
    rho: Tensor | None
    jump: Tensor | None
