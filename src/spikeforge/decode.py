"""Decoders: from output sequences ``[T, B, C]`` to per-class scores and decisions ``[B]``.

Score functions reduce over time (``[T, B, C] -> [B, C]``). Decision functions return a
:class:`Decision` and follow one rule: a *primary* score decides (higher wins); classes
tied on it are separated by a *secondary* score; a remaining tie goes to the lowest class
index. ``Decision.tied`` marks samples whose primary score was tied. A sample with no
evidence (no output spike for the spike decoders) is *undecided*: its prediction is
:data:`UNDECIDED` (``-1``), never silently class 0.

============  ==============================  ===============================  ================
decision      primary (higher wins)           secondary (higher wins)          undecided when
============  ==============================  ===============================  ================
rate          spike count                     earlier first spike              no output spike
ttfs          earlier first spike             larger spike count               no output spike
isi           shorter first inter-spike       earlier first spike              no class spikes
              interval (``t2 - t1``)                                           twice
membrane      max or mean of the membrane     (none: lowest index)             never
============  ==============================  ===============================  ================

``Decision.step`` is the step at which the decision became final: the smallest ``k`` such
that decoding every prefix ``out[:k' + 1]`` with ``k' >= k`` gives the final prediction
(for ttfs without ties, the step of the first output spike). It is ``T`` for undecided
samples. Spike trains may hold counts (values > 0 are spikes; a value of 2 counts twice).
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "UNDECIDED",
    "Decision",
    "MembraneReduce",
    "decide_isi",
    "decide_membrane",
    "decide_rate",
    "decide_ttfs",
    "first_isi",
    "first_spike_time",
    "membrane_max",
    "membrane_mean",
    "nth_spike_time",
    "predict",
    "spike_count",
]

#: Prediction of a sample the decoder cannot decide.
UNDECIDED = -1


class MembraneReduce(enum.Enum):
    """How a membrane trace ``[T, B, C]`` is reduced over time to class scores."""

    MAX = "max"
    MEAN = "mean"


class Decision(NamedTuple):
    """Decisions of a decoder for a batch.

    Attributes:
        prediction: int64 ``[B]``, the class, or :data:`UNDECIDED` (``-1``).
        undecided: bool ``[B]``, True where ``prediction == UNDECIDED``.
        tied: bool ``[B]``, True where two or more classes shared the best primary score
            (the secondary rule, then the lowest index, decided).
        step: int64 ``[B]``, the step at which the decision became final (``T`` if undecided).
    """

    prediction: Tensor
    undecided: Tensor
    tied: Tensor
    step: Tensor


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


def _steps_like(x: Tensor) -> Tensor:
    """``[T, 1, ..., 1]`` step indices 0..T-1 in ``x``'s float dtype, broadcastable to ``x``."""
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    return torch.arange(x.shape[0], dtype=dtype, device=x.device).view(-1, *([1] * (x.dim() - 1)))


def nth_spike_time(spikes: Tensor, n: int) -> Tensor:
    """Step of the ``n``-th spike (``n >= 1``) per neuron, ``[T, ...] -> [...]``; ``+inf`` if
    the neuron spikes fewer than ``n`` times. Float (``spikes``' dtype if floating)."""
    t = _steps_like(spikes)
    reached = spikes.cumsum(0) >= n
    return torch.where(reached, t, torch.full_like(t, math.inf)).amin(0)


def first_spike_time(spikes: Tensor) -> Tensor:
    """Step of the first spike per neuron, ``[T, B, C] -> [B, C]``; ``+inf`` if it never spikes."""
    return nth_spike_time(spikes, 1)


def first_isi(spikes: Tensor) -> Tensor:
    """First inter-spike interval ``t2 - t1`` in steps, ``[T, B, C] -> [B, C]``; ``+inf`` for
    neurons with fewer than two spikes (0 when a bin holds two spikes)."""
    t1, t2 = nth_spike_time(spikes, 1), nth_spike_time(spikes, 2)
    return torch.where(torch.isfinite(t2), t2 - t1, torch.full_like(t2, math.inf))


def _pick(primary: Tensor, secondary: Tensor) -> tuple[Tensor, Tensor]:
    """Lexicographic argmax over the last axis: ``(index, primary_tied)`` with shape ``[...]``."""
    neg = torch.full_like(primary, -math.inf)
    cand = primary == primary.amax(-1, keepdim=True)
    tied = cand.sum(-1) > 1
    sec = torch.where(cand, secondary.to(primary.dtype), neg)
    cand = cand & (sec == sec.amax(-1, keepdim=True))
    return cand.to(torch.int8).argmax(-1), tied


def _decide(primary: Tensor, secondary: Tensor, valid: Tensor) -> Decision:
    """Decision from prefix scores ``[T, B, C]`` and prefix validity ``[T, B]``."""
    index, tied = _pick(primary, secondary)
    pred = torch.where(valid, index, torch.full_like(index, UNDECIDED))  # [T, B]
    final = pred[-1]
    num_steps = pred.shape[0]
    agree = (pred == final).to(torch.int64)
    stable = agree.flip(0).cumprod(0).flip(0).sum(0)  # length of the agreeing suffix
    undecided = final == UNDECIDED
    step = torch.where(undecided, torch.full_like(final, num_steps), num_steps - stable)
    return Decision(final, undecided, tied[-1] & ~undecided, step)


def _prefix_first_time(spikes: Tensor, n: int) -> Tensor:
    """``[T, B, C]``: the n-th spike time as seen by each prefix ``[:k + 1]`` (inf if later)."""
    tn = nth_spike_time(spikes, n).unsqueeze(0)
    k = _steps_like(spikes)
    return torch.where(tn <= k, tn, torch.full_like(k + tn, math.inf))


def decide_rate(spikes: Tensor) -> Decision:
    """Most spikes wins; ties: earlier first spike, then lowest index (module docstring).

    Args:
        spikes: ``[T, B, C]`` output spikes. Returns: :class:`Decision` with ``[B]`` fields.
    """
    counts = spikes.cumsum(0)
    first = _prefix_first_time(spikes, 1)
    return _decide(counts, -first, counts.amax(-1) > 0)


def decide_ttfs(spikes: Tensor) -> Decision:
    """Earliest first spike wins (never-spiking neuron: latency ``+inf``); ties: more spikes,
    then lowest index; no output spike: undecided.

    Args:
        spikes: ``[T, B, C]`` output spikes. Returns: :class:`Decision` with ``[B]`` fields.
    """
    first = _prefix_first_time(spikes, 1)
    counts = spikes.cumsum(0)
    return _decide(-first, counts, torch.isfinite(first).any(-1))


def decide_isi(spikes: Tensor) -> Decision:
    """Shortest first inter-spike interval wins (highest instantaneous rate ``1 / ISI``);
    ties: earlier first spike, then lowest index; no class with two spikes: undecided.

    Args:
        spikes: ``[T, B, C]`` output spikes. Returns: :class:`Decision` with ``[B]`` fields.
    """
    t1 = _prefix_first_time(spikes, 1)
    t2 = _prefix_first_time(spikes, 2)
    finite = torch.isfinite(t2)
    isi = torch.where(finite, t2 - t1, torch.full_like(t2, math.inf))
    return _decide(-isi, -t1, finite.any(-1))


def decide_membrane(membrane: Tensor, reduce: MembraneReduce = MembraneReduce.MEAN) -> Decision:
    """Highest max (or mean) membrane over time wins; ties: lowest index; never undecided.

    Args:
        membrane: ``[T, B, C]`` readout membrane. Returns: :class:`Decision` with ``[B]`` fields.
    """
    if reduce is MembraneReduce.MAX:
        score = membrane.cummax(0).values
    else:
        score = membrane.cumsum(0) / (_steps_like(membrane) + 1)
    valid = torch.ones(score.shape[:-1], dtype=torch.bool, device=membrane.device)
    return _decide(score, torch.zeros_like(score), valid)
