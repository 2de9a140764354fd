"""Typed description of the neurons and readout a model zoo network is built with."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from spikeforge.errors import ConfigError
from spikeforge.neurons import IF, LI, LIF, Neuron, Reset
from spikeforge.surrogate import Arctan, Surrogate

__all__ = ["NeuronKind", "NeuronSpec", "Readout"]


class NeuronKind(enum.Enum):
    """Which spiking neuron the hidden layers use."""

    LIF = "lif"
    IF = "if"


class Readout(enum.Enum):
    """What the output layer is."""

    SPIKES = "spikes"  #: a spiking LIF layer, decoded by spike count
    MEMBRANE = "membrane"  #: a non-spiking leaky integrator, decoded by its membrane


@dataclass(frozen=True)
class NeuronSpec:
    """Neuron settings shared by every spiking layer of a model (see :class:`LIF`)."""

    kind: NeuronKind = NeuronKind.LIF
    beta: float = 0.9
    threshold: float = 1.0
    reset: Reset = Reset.SUBTRACT
    surrogate: Surrogate = field(default_factory=Arctan)
    detach_reset: bool = True
    learn_beta: bool = False
    learn_threshold: bool = False
    per_neuron: bool = False
    dt: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, NeuronKind):
            raise ConfigError(f"NeuronSpec.kind must be a NeuronKind, got {self.kind!r}")
        if not isinstance(self.reset, Reset):
            raise ConfigError(f"NeuronSpec.reset must be a spikeforge Reset, got {self.reset!r}")

    def build(self, shape: tuple[int, ...]) -> Neuron:
        """A spiking layer of neurons of ``shape`` (used for per-neuron parameters)."""
        neuron_shape = shape if self.per_neuron else None
        common = dict(
            dt=self.dt,
            threshold=self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
            learn_threshold=self.learn_threshold,
            shape=neuron_shape,
        )
        if self.kind is NeuronKind.IF:
            return IF(**common)  # type: ignore[arg-type]
        return LIF(self.beta, learn_beta=self.learn_beta, **common)  # type: ignore[arg-type]

    def build_readout(self, readout: Readout, num_classes: int) -> Neuron:
        """The output layer for ``readout``."""
        if not isinstance(readout, Readout):
            raise ConfigError(f"readout must be a Readout, got {readout!r}")
        if readout is Readout.MEMBRANE:
            return LI(self.beta, dt=self.dt)
        return self.build((num_classes,))
