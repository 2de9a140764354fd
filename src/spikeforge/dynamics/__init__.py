"""Biophysical neuron models as differential equations, simulated in batch on torch tensors.

Models: :mod:`~spikeforge.dynamics.lif`, :mod:`~spikeforge.dynamics.hodgkin_huxley`,
:mod:`~spikeforge.dynamics.fitzhugh_nagumo`, :mod:`~spikeforge.dynamics.hindmarsh_rose`,
:mod:`~spikeforge.dynamics.izhikevich`. Each binds its frozen parameter dataclass into a
:class:`System`; :func:`simulate` integrates it with a :class:`Method`. See
``docs/dynamics.md``.
"""

from spikeforge.dynamics.fitzhugh_nagumo import FHNParams, fhn_initial_state, fhn_system
from spikeforge.dynamics.hindmarsh_rose import HRParams, hr_initial_state, hr_system
from spikeforge.dynamics.hodgkin_huxley import HHParams, hh_initial_state, hh_system
from spikeforge.dynamics.integrators import Method, Tolerance
from spikeforge.dynamics.izhikevich import (
    IzhikevichParams,
    IzhikevichPreset,
    izhikevich_initial_state,
    izhikevich_system,
)
from spikeforge.dynamics.lif import LIFParams, lif_initial_state, lif_system
from spikeforge.dynamics.simulation import Trajectory, simulate
from spikeforge.dynamics.spikes import SpikeTimes
from spikeforge.dynamics.system import Reset, System

__all__ = [
    "FHNParams",
    "HHParams",
    "HRParams",
    "IzhikevichParams",
    "IzhikevichPreset",
    "LIFParams",
    "Method",
    "Reset",
    "SpikeTimes",
    "System",
    "Tolerance",
    "Trajectory",
    "fhn_initial_state",
    "fhn_system",
    "hh_initial_state",
    "hh_system",
    "hr_initial_state",
    "hr_system",
    "izhikevich_initial_state",
    "izhikevich_system",
    "lif_initial_state",
    "lif_system",
    "simulate",
]
