"""How inputs become spike sequences and outputs become decisions, chosen by typed options.

``Encoding`` picks an encoder from :mod:`spikeforge.encode`; ``Decoding`` picks the output
layer type, the scores a decision is taken from, and the loss trained against.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from spikeforge import decode, encode, losses
from spikeforge.models.spec import Readout

__all__ = ["Decoding", "Encoding", "decision_scores", "loss_for", "readout_for", "run_encoded"]


class Encoding(enum.Enum):
    """Input encodings accepted by ``spikeforge train --encoding``."""

    DIRECT = "direct"  #: the analog image as input current at every step
    RATE = "rate"  #: Bernoulli spikes with probability = intensity


class Decoding(enum.Enum):
    """Output decodings accepted by ``spikeforge train --decoding``."""

    RATE = "rate"  #: spike count of a spiking output layer (cross-entropy on counts)
    MEMBRANE = "membrane"  #: mean membrane of a non-spiking readout (cross-entropy)


def run_encoded(
    model: Any,
    x: Tensor,
    encoding: Encoding,
    num_steps: int,
    generator: torch.Generator | None,
) -> Tensor:
    """Encode a batch of static inputs ``x`` ``[B, ...]`` and run ``model``; returns ``[T, B, C]``.

    Direct encoding is passed to the model as a static input, so layers before the first
    neuron run once (see :class:`spikeforge.network.Sequential`).
    """
    if encoding is Encoding.DIRECT:
        out, _ = model(x, num_steps=num_steps)
    else:
        out, _ = model(encode.rate(x, num_steps, generator=generator))
    return out


def readout_for(decoding: Decoding) -> Readout:
    """The output layer type a decoding needs."""
    return Readout.MEMBRANE if decoding is Decoding.MEMBRANE else Readout.SPIKES


_SCORES: dict[Decoding, Callable[[Tensor], Tensor]] = {
    Decoding.RATE: decode.spike_count,
    Decoding.MEMBRANE: decode.membrane_mean,
}

_LOSSES: dict[Decoding, Callable[[Tensor, Tensor], Tensor]] = {
    Decoding.RATE: losses.count_cross_entropy,
    Decoding.MEMBRANE: losses.membrane_cross_entropy,
}


def decision_scores(decoding: Decoding, out: Tensor) -> Tensor:
    """Per-class scores ``[B, C]`` from the model output ``[T, B, C]``; argmax decides."""
    return _SCORES[decoding](out)


def loss_for(decoding: Decoding) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss ``loss(out [T, B, C], target [B]) -> scalar`` matching ``decoding``."""
    return _LOSSES[decoding]
