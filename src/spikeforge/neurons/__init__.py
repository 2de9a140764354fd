"""Trainable discrete-time neurons: one model per file (state, pure step, thin module)."""

from spikeforge.neurons.alif import ALIF, ALIFState, alif_step
from spikeforge.neurons.base import (
    Backend,
    Neuron,
    NeuronTrace,
    Reset,
    detach_state,
    set_backend,
    unroll,
)
from spikeforge.neurons.fused import FusedConfig, fused_alif, fused_lif
from spikeforge.neurons.lif import IF, LIF, LIFState, lif_step
from spikeforge.neurons.params import beta_from_tau, tau_from_beta
from spikeforge.neurons.readout import LI, LIState, li_step

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "ALIFState",
    "Backend",
    "FusedConfig",
    "LIFState",
    "LIState",
    "Neuron",
    "NeuronTrace",
    "Reset",
    "alif_step",
    "beta_from_tau",
    "detach_state",
    "fused_alif",
    "fused_lif",
    "li_step",
    "lif_step",
    "set_backend",
    "tau_from_beta",
    "unroll",
]
