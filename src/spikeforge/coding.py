"""How inputs become spike sequences and outputs become decisions, chosen by typed options.

``Encoding`` picks an encoder from :mod:`spikeforge.encode`; ``Decoding`` picks the output
layer type, the decision rule of :mod:`spikeforge.decode` and the loss of
:mod:`spikeforge.losses` trained against. ``docs/coding.md`` states every formula and rule.

=============  ===================================================================
encoding       input sequence ``[T, B, C, H, W]`` from intensities in ``[0, 1]``
=============  ===================================================================
direct         the analog image as input current at every step (static input)
rate           Bernoulli spikes with probability = intensity at every step
latency        one spike per pixel at step ``round((T - 1)(1 - x))``; zero is silent
latency-log    one spike per pixel at the RC charging time, normalised to the window,
               threshold 0.05
=============  ===================================================================

=========  ================  ==========================================  ====================
decoding   output layer      decision                                    loss
=========  ================  ==========================================  ====================
rate       spiking LIF       most spikes (ties: earlier first spike)     CE on counts
ttfs       spiking LIF       earliest first spike (ties: more spikes)    TTFS cross-entropy
isi        spiking LIF       shortest first inter-spike interval         ISI + TTFS CE
membrane   leaky integrator  highest mean membrane                       CE on mean membrane
=========  ================  ==========================================  ====================

Spike decoders report a sample without output spikes (for isi: without a class spiking
twice) as undecided, prediction ``-1``, which counts as an error.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from spikeforge import decode, encode, losses
from spikeforge.decode import Decision
from spikeforge.models.spec import Readout

__all__ = [
    "LOG_LATENCY_THRESHOLD",
    "Decoding",
    "Encoding",
    "decide",
    "decision_scores",
    "encode_input",
    "loss_for",
    "readout_for",
    "run_encoded",
]

#: Intensities at or below this emit no spike in the ``latency-log`` encoding.
LOG_LATENCY_THRESHOLD = 0.05


class Encoding(enum.Enum):
    """Input encodings accepted by ``spikeforge train --encoding`` (module docstring)."""

    DIRECT = "direct"
    RATE = "rate"
    LATENCY = "latency"
    LATENCY_LOG = "latency-log"


class Decoding(enum.Enum):
    """Output decodings accepted by ``spikeforge train --decoding`` (module docstring)."""

    RATE = "rate"
    TTFS = "ttfs"
    ISI = "isi"
    MEMBRANE = "membrane"


Encoder = Callable[[Tensor, int, "torch.Generator | None"], Tensor]

_ENCODERS: dict[Encoding, Encoder] = {
    Encoding.DIRECT: lambda x, t, g: encode.direct(x, t),
    Encoding.RATE: lambda x, t, g: encode.rate(x, t, generator=g),
    Encoding.LATENCY: lambda x, t, g: encode.latency(x, t),
    Encoding.LATENCY_LOG: lambda x, t, g: encode.latency(
        x,
        t,
        mapping=encode.LatencyMapping.LOG,
        threshold=LOG_LATENCY_THRESHOLD,
        normalize=True,
    ),
}


@dataclass(frozen=True)
class _DecodingSpec:
    readout: Readout
    scores: Callable[[Tensor], Tensor]
    decide: Callable[[Tensor], Decision]
    loss: Callable[[Tensor, Tensor], Tensor]


def _neg(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return lambda out: -fn(out)


_DECODINGS: dict[Decoding, _DecodingSpec] = {
    Decoding.RATE: _DecodingSpec(
        Readout.SPIKES, decode.spike_count, decode.decide_rate, losses.count_cross_entropy
    ),
    Decoding.TTFS: _DecodingSpec(
        Readout.SPIKES,
        _neg(decode.first_spike_time),
        decode.decide_ttfs,
        losses.ttfs_cross_entropy,
    ),
    Decoding.ISI: _DecodingSpec(
        Readout.SPIKES, _neg(decode.first_isi), decode.decide_isi, losses.isi_cross_entropy
    ),
    Decoding.MEMBRANE: _DecodingSpec(
        Readout.MEMBRANE,
        decode.membrane_mean,
        decode.decide_membrane,
        losses.membrane_cross_entropy,
    ),
}


def encode_input(
    encoding: Encoding, x: Tensor, num_steps: int, generator: torch.Generator | None
) -> Tensor:
    """The input sequence ``[T, B, ...]`` for static inputs ``x`` ``[B, ...]`` in ``[0, 1]``."""
    return _ENCODERS[encoding](x, num_steps, generator)


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
        out, _ = model(encode_input(encoding, x, num_steps, generator))
    return out


def readout_for(decoding: Decoding) -> Readout:
    """The output layer type a decoding needs."""
    return _DECODINGS[decoding].readout


def decision_scores(decoding: Decoding, out: Tensor) -> Tensor:
    """Per-class scores ``[B, C]`` from the model output ``[T, B, C]`` (higher is better:
    counts, minus first-spike times, minus first ISIs, or mean membranes). Their argmax
    ignores the tie and undecided rules; use :func:`decide` for decisions."""
    return _DECODINGS[decoding].scores(out)


def decide(decoding: Decoding, out: Tensor) -> Decision:
    """Decisions ``[B]`` from the model output ``[T, B, C]`` with the tie and undecided rules
    of :mod:`spikeforge.decode` (undecided samples get prediction ``-1``)."""
    return _DECODINGS[decoding].decide(out)


def loss_for(decoding: Decoding) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss ``loss(out [T, B, C], target [B]) -> scalar`` matching ``decoding``."""
    return _DECODINGS[decoding].loss
