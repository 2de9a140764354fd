"""Trainable discrete-time neurons: one model per file (state, pure step, thin module)."""

from spikeforge.neurons.base import Neuron, NeuronTrace, Reset, detach_state, unroll
from spikeforge.neurons.lif import IF, LIF, LIFState, lif_step
from spikeforge.neurons.params import beta_from_tau, tau_from_beta
from spikeforge.neurons.readout import LI, LIState, li_step

__all__ = [
    "IF",
    "LI",
    "LIF",
    "LIFState",
    "LIState",
    "Neuron",
    "NeuronTrace",
    "Reset",
    "beta_from_tau",
    "detach_state",
    "li_step",
    "lif_step",
    "tau_from_beta",
    "unroll",
]
