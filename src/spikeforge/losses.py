"""Losses on output sequences ``[T, B, C]`` with integer targets ``[B]``. Pure functions."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

__all__ = ["count_cross_entropy", "membrane_cross_entropy"]


def count_cross_entropy(spikes: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy with the spike counts ``[B, C]`` as logits; mean over the batch."""
    return F.cross_entropy(spikes.sum(0), target)


def membrane_cross_entropy(membrane: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy with the readout's mean membrane over time as logits; mean over batch."""
    return F.cross_entropy(membrane.mean(0), target)
