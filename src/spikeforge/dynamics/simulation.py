"""The time loop: integrate a :class:`System` on a fixed output grid, find spikes, apply resets.

One step of length ``dt`` from ``t_k = k dt``:

* smooth models (no reset): advance with the chosen method; a spike is an upward crossing
  of ``spike_threshold`` by variable 0 between ``y_k`` and ``y_{k+1}``, its time linearly
  interpolated;
* reset models (LIF, Izhikevich): a neuron still refractory for ``r`` stays put for
  ``min(r, dt)`` and integrates the rest of the step. If the candidate state reaches the
  threshold (``v >= threshold``, Heaviside(0) = 1) the crossing fraction
  ``θ = (threshold - v) / (v_new - v)`` is interpolated, the state at the crossing
  ``y + θ (y_new - y)`` is mapped through the reset, the refractory period starts at the
  crossing, and whatever is left of the step after it is integrated from the reset state.
  The spike belongs to the step in which the crossing happens. At most one spike per
  neuron per step.

The input current is held constant within each step (zero-order hold).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeforge.dynamics.integrators import DEFAULT_TOLERANCE, Method, Tolerance, advance
from spikeforge.dynamics.spikes import SpikeTimes, from_events
from spikeforge.dynamics.system import Reset, System
from spikeforge.errors import ConfigError, SimulationError

_CHECK_EVERY = 64


@dataclass(frozen=True)
class Trajectory:
    """Result of :func:`simulate`.

    Attributes:
        t: ``[T+1]`` sample times ``0, dt, ..., T dt`` (float64, model time unit).
        states: ``[T+1, B, D]`` the state at each sample time.
        spikes: the spike times (crossings interpolated within the step).
        variables: names of the ``D`` state variables.
        dt: the output step.
        refractory: ``[B]`` refractory time left at the end (model time unit; zeros for
            models without a reset). Pass it with ``states[-1]`` to continue the run.
    """

    t: torch.Tensor
    states: torch.Tensor
    spikes: SpikeTimes
    variables: tuple[str, ...]
    dt: float
    refractory: torch.Tensor

    def variable(self, name: str) -> torch.Tensor:
        """The trace ``[T+1, B]`` of the state variable ``name``."""
        return self.states[..., self.variables.index(name)]


def n_steps(duration: float, dt: float) -> int:
    """Number of steps of ``dt`` in ``duration`` (rounded to the nearest integer)."""
    return round(duration / dt)


def _check_finite(system: System, states: list[torch.Tensor], dt: float, method: Method) -> None:
    recent = torch.stack(states[-_CHECK_EVERY - 1 :])
    bad = ~torch.isfinite(recent).reshape(recent.shape[0], -1).all(dim=1)
    if bool(bad.any()):
        first = len(states) - recent.shape[0] + int(torch.nonzero(bad)[0, 0])
        unit = "" if system.time_unit == "1" else f" {system.time_unit}"
        raise SimulationError(
            f"{system.name}: the state became NaN or infinite at t = {first * dt:.6g}{unit} "
            f"with method {method.value} and dt = {dt:g}; use a smaller dt or another method "
            f"({_others(method)})"
        )


#: The methods suggested after a diverged simulation, most often the fix first.
_STABLE_METHODS = (Method.RK4, Method.EXP_EULER, Method.DOPRI5)


def _others(method: Method) -> str:
    """``rk4, exp_euler or dopri5`` without ``method``: the other methods worth trying."""
    names = [m.value for m in _STABLE_METHODS if m is not method]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _crossing_offset(
    fired: torch.Tensor, v: torch.Tensor, v_new: torch.Tensor, threshold: float | torch.Tensor
) -> torch.Tensor:
    """Fraction ``θ in [0, 1]`` of the step at which ``v`` reaches ``threshold`` (linear
    interpolation), 0 where ``fired`` is False. Shapes ``[B]``."""
    denom = torch.where(fired, v_new - v, torch.ones_like(v))
    theta = torch.where(fired, (threshold - v) / denom, torch.zeros_like(v))
    return torch.clamp(theta, 0.0, 1.0)


def _reset_step(
    reset: Reset,
    method: Method,
    system: System,
    y: torch.Tensor,
    refractory: torch.Tensor | None,
    current: torch.Tensor,
    dt: float,
    tol: Tolerance,
    h: float,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None, float]:
    """One step of a reset model; ``refractory`` is ``None`` when no neuron is refractory.

    Returns ``(y_new, refractory, fired [B], offset [B] or None when nobody fired, h)``.
    """
    if refractory is None:
        held: torch.Tensor | float = 0.0
        free: torch.Tensor | float = dt
        y_new, h = advance(method, system, y, current, dt, tol, h)
        fired = y_new[..., 0] >= reset.threshold
    else:
        held = torch.clamp(refractory, max=dt)  # [B] time spent clamped at the step start
        free = dt - held  # [B]
        y_new, h = advance(method, system, y, current, free.unsqueeze(-1), tol, h)
        fired = (y_new[..., 0] >= reset.threshold) & (free > 0)
    if not bool(fired.any()):
        left = None if refractory is None else refractory - held
        if left is not None and not bool((left > 0).any()):
            left = None
        return y_new, left, fired, None, h
    theta = _crossing_offset(fired, y[..., 0], y_new[..., 0], reset.threshold)
    offset = held + theta * free  # crossing time after the step start
    y_cross = y + theta.unsqueeze(-1) * (y_new - y)
    after = dt - offset - reset.refractory  # time left to integrate after the refractory
    span = torch.where(fired, torch.clamp(after, min=0.0), torch.zeros_like(after))
    y_after, _ = advance(method, system, reset.apply(y_cross), current, span.unsqueeze(-1), tol)
    y_out = torch.where(fired.unsqueeze(-1), y_after, y_new)
    remaining = torch.zeros_like(offset) if refractory is None else refractory - held
    return y_out, torch.where(fired, torch.clamp(-after, min=0.0), remaining), fired, offset, h


def simulate(
    system: System,
    y0: torch.Tensor,
    current: torch.Tensor,
    dt: float,
    method: Method = Method.RK4,
    tol: Tolerance = DEFAULT_TOLERANCE,
    refractory: torch.Tensor | None = None,
) -> Trajectory:
    """Integrate ``system`` from ``y0`` under ``current`` on the grid ``k dt``.

    Args:
        system: the bound model (see the model modules).
        y0: initial state ``[B, D]``; its dtype is used throughout.
        current: input ``[T, B]`` (or ``[T, 1]`` broadcast) in the model's current unit,
            step ``k`` uses ``current[k]`` over ``[k dt, (k+1) dt)``.
        dt: output step (> 0, model time unit).
        method: integration method.
        tol: tolerances of :attr:`Method.DOPRI5` (ignored by fixed-step methods).
        refractory: ``[B]`` refractory time left at the start (reset models; default none),
            e.g. ``Trajectory.refractory`` of a previous run, so that a run of ``T1 + T2``
            steps equals ``T1`` steps then ``T2`` steps.

    Returns:
        A :class:`Trajectory` with ``T + 1`` samples.

    Raises:
        ConfigError: bad ``dt`` or shapes.
        SimulationError: the state became NaN or infinite (names the model and the time).
    """
    if not dt > 0:
        raise ConfigError(f"{system.name}: dt must be > 0, got {dt!r}; pass a positive step")
    if y0.dim() != 2 or y0.shape[1] != len(system.variables):
        raise ConfigError(
            f"{system.name}: initial state must have shape [B, {len(system.variables)}], "
            f"got {list(y0.shape)}"
        )
    if current.dim() != 2 or current.shape[1] not in (1, y0.shape[0]):
        raise ConfigError(
            f"{system.name}: current must have shape [T, {y0.shape[0]}] or [T, 1], got "
            f"{list(current.shape)}"
        )
    if system.check_step is not None:
        system.check_step(dt, method)
    current = current.to(y0.dtype).expand(current.shape[0], y0.shape[0])
    steps, batch = current.shape
    y, h = y0, 1.0
    if refractory is not None:
        refractory = refractory.to(y0.dtype).expand(batch)
        if not bool((refractory > 0).any()):
            refractory = None
    no_offset = torch.zeros(batch, dtype=y0.dtype)
    states, events, offsets = [y0], [], []
    for k in range(steps):
        i_k = current[k]
        if system.reset is None:
            y_new, h = advance(method, system, y, i_k, dt, tol, h)
            v, v_new = y[..., 0], y_new[..., 0]
            fired = (v < system.spike_threshold) & (v_new >= system.spike_threshold)
            offset = None
            if bool(fired.any()):
                offset = dt * _crossing_offset(fired, v, v_new, system.spike_threshold)
        else:
            y_new, refractory, fired, offset, h = _reset_step(
                system.reset, method, system, y, refractory, i_k, dt, tol, h
            )
        y = y_new
        states.append(y)
        events.append(fired)
        offsets.append(no_offset if offset is None else offset)
        if (k + 1) % _CHECK_EVERY == 0 or k + 1 == steps:
            _check_finite(system, states, dt, method)
    t = torch.arange(steps + 1, dtype=torch.float64) * dt
    if steps:
        spikes = from_events(torch.stack(events), torch.stack(offsets), dt)
    else:
        spikes = from_events(
            torch.zeros(0, batch, dtype=torch.bool), torch.zeros(0, batch, dtype=y0.dtype), dt
        )
    left = torch.zeros(batch, dtype=y0.dtype) if refractory is None else refractory
    return Trajectory(t, torch.stack(states), spikes, system.variables, dt, left)
