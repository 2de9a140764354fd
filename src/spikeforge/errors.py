"""One exception family for spikeforge.

Every message is a single line that says what was wrong, what was expected and how
to fix it. The CLI turns any :class:`SpikeforgeError` into that line and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "SimulationError",
    "SpikeforgeError",
    "StateError",
]


class SpikeforgeError(Exception):
    """Base class of every error spikeforge raises on purpose."""


class ConfigError(SpikeforgeError, ValueError):
    """An option or parameter has an invalid value."""


class DataError(SpikeforgeError):
    """A dataset is missing, corrupt, or not in the expected format."""


class CheckpointError(SpikeforgeError):
    """A checkpoint file is missing, corrupt or was not written by spikeforge."""


class StateError(SpikeforgeError, ValueError):
    """A neuron state does not fit the input it is used with."""


class SimulationError(SpikeforgeError, ArithmeticError):
    """A numerical simulation diverged (NaN or infinity)."""
