"""Decoders: from output sequences ``[T, B, C]`` to per-class scores and decisions ``[B]``.

Tie rule: among classes with equal scores, the lowest class index wins (``argmax``).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["membrane_max", "membrane_mean", "predict", "spike_count"]


def spike_count(spikes: Tensor) -> Tensor:
    """Spike count per class: ``[T, B, C] -> [B, C]`` (sum over time)."""
    return spikes.sum(0)


def membrane_max(membrane: Tensor) -> Tensor:
    """Maximum over time of a non-spiking readout: ``[T, B, C] -> [B, C]``."""
    return membrane.amax(0)


def membrane_mean(membrane: Tensor) -> Tensor:
    """Mean over time of a non-spiking readout: ``[T, B, C] -> [B, C]``."""
    return membrane.mean(0)


def predict(scores: Tensor) -> Tensor:
    """Class decision ``[B, C] -> [B]`` (int64); ties go to the lowest class index."""
    return scores.argmax(-1)
