"""Latency (time-to-first-spike) encoding: stronger inputs spike earlier, each at most once.

Times are in steps (multiply by ``dt`` for ms). With intensity ``x`` in ``[0, 1]``, a
threshold ``theta`` and a coding window of ``T`` steps (``window``, default the whole
sequence; a shorter window leaves the network silent steps to respond after the last input
spike), an input spikes only if ``x > theta`` (so with ``theta = 0`` a zero input is
silent), at the continuous time

=========  ===========  ==================================================================
mapping    normalize    time ``t(x)`` (steps)
=========  ===========  ==================================================================
LINEAR     False        ``(T - 1) (1 - x)``
LINEAR     True         ``(T - 1) (1 - x) / (1 - theta)``  (``x -> theta`` fires at ``T - 1``)
LOG        False        ``tau ln(x / (x - theta))``: an RC membrane (time constant ``tau``
                        steps, rest 0, driven to ``x``) reaching ``theta``; needs ``theta > 0``
LOG        True         ``(T - 1) (g(x) - g(1)) / (g(x_m) - g(1))`` with
                        ``g(x) = ln(x / (x - theta))`` and ``x_m = theta + 0.01 (1 - theta)``
                        (``tau`` unused)
=========  ===========  ==================================================================

and in step ``k = round(t)`` (halves to even); if ``k > T - 1`` it does not spike.
The output always has ``num_steps`` steps; those after the window are silent.

Rules: the maximal intensity ``x = 1`` fires at step ``0`` for LINEAR and normalised LOG,
and at ``round(tau ln(1 / (1 - theta)))`` for LOG; values above 1 are out of range (error,
or set to 1 with ``clamp=True``). Ties: equal intensities spike in the same step, and
different intensities whose times round to the same step spike together (no order within
a step). In the LOG mapping intensities just above ``theta`` may fire after the window and
are then silent, like those at or below it.
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor

from spikeforge.encode._checks import check_positive, check_range, check_steps
from spikeforge.errors import ConfigError

__all__ = ["LOG_NORMALIZE_MARGIN", "LatencyMapping", "latency", "latency_times"]

#: Normalised LOG mapping: the intensity ``theta + margin (1 - theta)`` fires at step ``T - 1``.
LOG_NORMALIZE_MARGIN = 0.01


class LatencyMapping(enum.Enum):
    """How an intensity maps to a spike time (formulas in the module docstring)."""

    LINEAR = "linear"
    LOG = "log"  #: RC charging time


def _rc_time(x: Tensor, theta: float) -> Tensor:
    return torch.log(x / (x - theta))


def latency_times(
    x: Tensor,
    num_steps: int,
    *,
    mapping: LatencyMapping = LatencyMapping.LINEAR,
    threshold: float = 0.0,
    tau: float = 1.0,
    normalize: bool = False,
    window: int | None = None,
    clamp: bool = False,
) -> Tensor:
    """Continuous spike times ``t(x)`` in steps (module docstring), ``+inf`` where silent.

    Args:
        x: intensities in ``[0, 1]``, any shape ``[*S]``.
        num_steps: ``T >= 1``.
        mapping: :class:`LatencyMapping`.
        threshold: ``theta`` in ``[0, 1)``; inputs ``<= theta`` never spike (``> 0`` for LOG).
        tau: RC time constant in steps for the LOG mapping (> 0).
        normalize: stretch the times over the whole window (see the table).
        window: coding window ``T`` in steps, ``1 <= window <= num_steps`` (default
            ``num_steps``).
        clamp: clip ``x`` to ``[0, 1]`` instead of raising.

    Returns:
        ``[*S]`` float times in steps, dtype and device of ``x`` (before rounding, so they
        may exceed ``T - 1``).
    """
    check_steps("latency", num_steps)
    window = num_steps if window is None else window
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= num_steps:
        raise ConfigError(
            f"latency encoder: window must be an integer in [1, num_steps={num_steps}], "
            f"got {window!r}"
        )
    if not isinstance(mapping, LatencyMapping):
        raise ConfigError(f"latency encoder: mapping must be a LatencyMapping, got {mapping!r}")
    ok = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    ok = ok and 0.0 <= threshold < 1.0 and (mapping is LatencyMapping.LINEAR or threshold > 0)
    if not ok:
        need = "[0, 1)" if mapping is LatencyMapping.LINEAR else "(0, 1) for the LOG mapping"
        raise ConfigError(f"latency encoder: threshold must lie in {need}, got {threshold!r}")
    tau = check_positive("latency", "tau", tau)
    x = check_range("latency", x, 0.0, 1.0, clamp=clamp)
    theta = float(threshold)
    fires = x > theta
    span = float(window - 1)
    if mapping is LatencyMapping.LINEAR:
        t = span * (1.0 - x)
        if normalize:
            t = t / (1.0 - theta)
    else:
        safe = torch.where(fires, x, torch.ones_like(x))
        g = _rc_time(safe, theta)
        if normalize:
            g1 = math.log(1.0 / (1.0 - theta))
            x_m = theta + LOG_NORMALIZE_MARGIN * (1.0 - theta)
            t = span * (g - g1) / (math.log(x_m / (x_m - theta)) - g1)
        else:
            t = tau * g
    return torch.where(fires, t, torch.full_like(t, math.inf))


def latency(
    x: Tensor,
    num_steps: int,
    *,
    mapping: LatencyMapping = LatencyMapping.LINEAR,
    threshold: float = 0.0,
    tau: float = 1.0,
    normalize: bool = False,
    window: int | None = None,
    clamp: bool = False,
) -> Tensor:
    """Latency encoding: one spike per input at step ``round(t(x))`` (module docstring).

    Arguments as :func:`latency_times`.

    Returns:
        ``[T, *S]`` with exactly 0.0 and 1.0 (at most one spike per input), dtype and
        device of ``x``.
    """
    t = latency_times(
        x,
        num_steps,
        mapping=mapping,
        threshold=threshold,
        tau=tau,
        normalize=normalize,
        window=window,
        clamp=clamp,
    )
    last = num_steps - 1 if window is None else window - 1
    t = torch.where(torch.round(t) <= last, t, torch.full_like(t, math.inf))
    steps = torch.arange(num_steps, device=x.device, dtype=x.dtype).view(-1, *([1] * x.dim()))
    return (steps == torch.round(t)).to(x.dtype)
