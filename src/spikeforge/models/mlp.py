"""Spiking multi-layer perceptron."""

from __future__ import annotations

import math
from collections.abc import Sequence

from spikeforge.layers import Dropout, Flatten, Linear
from spikeforge.models.spec import NeuronSpec, Readout
from spikeforge.network import Sequential

__all__ = ["spiking_mlp"]


def spiking_mlp(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    hidden: Sequence[int] = (256,),
    neuron: NeuronSpec | None = None,
    readout: Readout = Readout.SPIKES,
    dropout: float = 0.0,
) -> Sequential:
    """``Flatten -> [Linear -> LIF (-> Dropout)] * len(hidden) -> Linear -> readout``.

    Input ``[T, B, *input_shape]`` (or static ``[B, *input_shape]``), output ``[T, B, C]``.
    """
    spec = neuron or NeuronSpec()
    layers: list = [Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [Linear(width, h), spec.build((h,))]
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = h
    layers += [Linear(width, num_classes), spec.build_readout(readout, num_classes)]
    return Sequential(*layers)
