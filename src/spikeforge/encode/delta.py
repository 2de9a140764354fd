"""Delta modulation: ON/OFF spikes when a signal has changed enough since the last spike."""

from __future__ import annotations

import torch
from torch import Tensor

from spikeforge.encode._checks import check_finite, check_positive
from spikeforge.errors import ConfigError

__all__ = ["delta"]


def delta(x: Tensor, threshold: float) -> Tensor:
    """Send-on-delta encoding of a sequence, one reference value per element.

    With ``ref`` starting at ``x[0]`` (so step 0 never spikes), for ``t >= 1``::

        d = x[t] - ref
        ON[t]  = 1 if d >= threshold
        OFF[t] = 1 if d <= -threshold
        ref    = x[t] where ON[t] or OFF[t] (the value at the last spike), else unchanged

    A change of exactly ``threshold`` spikes. At most one spike per element and step, so a
    jump of several thresholds gives one spike (use a smaller threshold to code size).
    A slow drift spikes once the accumulated change reaches the threshold.

    Args:
        x: time-major sequence ``[T, *S]`` (``T >= 1``), finite floating-point values.
        threshold: change that triggers a spike (> 0), in the unit of ``x``.

    Returns:
        ``[T, *S, 2]``: the last axis holds the ON (index 0) and OFF (index 1) spikes,
        exactly 0.0 and 1.0, dtype and device of ``x``.
    """
    threshold = check_positive("delta", "threshold", threshold)
    check_finite("delta", x)
    if x.dim() < 1 or x.shape[0] < 1:
        raise ConfigError(
            f"delta encoder: input must be a time-major sequence [T, ...] with T >= 1, got "
            f"shape {tuple(x.shape)}"
        )
    out = x.new_zeros((*x.shape, 2))
    ref = x[0].clone()
    for t in range(1, x.shape[0]):
        d = x[t] - ref
        on = d >= threshold
        off = d <= -threshold
        ref = torch.where(on | off, x[t], ref)
        out[t, ..., 0] = on.to(x.dtype)
        out[t, ..., 1] = off.to(x.dtype)
    return out
