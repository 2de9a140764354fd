"""An ODE system batched over neurons: the one description every integrator consumes.

A model module (``lif``, ``hodgkin_huxley``, ...) binds its parameters into a
:class:`System`: the right-hand side ``dy/dt = rhs(y, I)``, the diagonal linear
coefficient ``A(y, I)`` used by exponential Euler, the spike threshold on the first state
variable, and an optional :class:`Reset` for integrate-and-fire style models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

Rhs = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``rhs(y [..., D], current [...]) -> dy/dt [..., D]`` (state units per time unit)."""


@dataclass(frozen=True)
class Reset:
    """Discontinuous reset of a model with a firing threshold.

    Attributes:
        threshold: value of state variable 0 (the voltage) that triggers the reset.
        apply: ``apply(y [..., D]) -> y [..., D]`` maps the state at the crossing to the
            state right after the reset.
        refractory: absolute refractory period after each spike (time unit of the model);
            variable 0 is held at its reset value and the state does not evolve.
    """

    threshold: float | torch.Tensor
    apply: Callable[[torch.Tensor], torch.Tensor]
    refractory: float | torch.Tensor = 0.0


@dataclass(frozen=True)
class System:
    """A neuron model as an ODE system on state tensors of shape ``[..., D]``.

    Attributes:
        name: model name used in error messages, e.g. ``"Hodgkin-Huxley"``.
        variables: names of the ``D`` state variables; variable 0 is the voltage.
        rhs: the right-hand side, see :data:`Rhs`.
        linear: ``linear(y, current) -> A [..., D]``, the diagonal coefficient such that
            ``dy_i/dt ≈ A_i y_i + B_i`` locally; exponential Euler integrates that exactly.
        spike_threshold: upward crossings of variable 0 through this value are spikes.
        reset: the reset of integrate-and-fire style models, ``None`` for smooth models.
        time_unit: ``"ms"`` or ``"1"`` (dimensionless time).
        check_step: optional ``check_step(dt, method)`` that raises ``ConfigError`` for a
            step size the method cannot integrate stably (LIF with forward Euler and
            ``dt >= tau_m``, pitfall C11).
    """

    name: str
    variables: tuple[str, ...]
    rhs: Rhs
    linear: Rhs
    spike_threshold: float | torch.Tensor
    reset: Reset | None = None
    time_unit: str = "ms"
    check_step: Callable[[float, Any], None] | None = None

    @property
    def seconds_per_time_unit(self) -> float:
        """Seconds per model time unit (1e-3 for ms, 1 for dimensionless time)."""
        return 1e-3 if self.time_unit == "ms" else 1.0
