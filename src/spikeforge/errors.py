"""One exception family for spikeforge.

Every message is a single line that says what was wrong, what was expected and how
to fix it. The CLI turns any :class:`SpikeforgeError` into that line and exit code 2, and
any :class:`SpikeforgeWarning` into one ``warning:`` line on stderr.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "SilentNetworkWarning",
    "SimulationError",
    "SpikeforgeError",
    "SpikeforgeWarning",
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


class SpikeforgeWarning(UserWarning):
    """Base class of spikeforge's warnings: something legal but almost surely unintended.
    The CLI prints each as one line (``spikeforge COMMAND: warning: ...``) and goes on."""


class SilentNetworkWarning(SpikeforgeWarning):
    """A training epoch in which the network produced no output spikes at all."""
