"""Losses on output sequences ``[T, B, C]`` with integer targets ``[B]``. Pure functions.

Each returns a scalar averaged over the batch, differentiable through the surrogate
gradient of the output spikes (or through the readout membrane).

=========================  =====================================================  ==========
loss                       formula (``y`` the target class, ``n_c`` spike counts)  decoder
=========================  =====================================================  ==========
count_cross_entropy        ``CE(n, y)`` (counts as logits)                         rate, isi
count_mse                  ``mean_c (n_c / T - r_c)^2``, ``r_y = correct_rate``,  rate
                           ``r_c = incorrect_rate`` otherwise
ttfs_cross_entropy         ``CE(-t_soft / temperature, y)``                        ttfs
isi_cross_entropy          ``CE(-isi_soft / temperature, y)                        isi
                           + CE(-t_soft / temperature, y)``
membrane_cross_entropy     ``CE(mean_t U[t], y)`` or ``CE(max_t U[t], y)``         membrane
tet_loss                   ``(1 - lam) mean_t CE(O[t], y)                          membrane
                           + lam mean_t mean_c (O[t]_c - phi)^2``
=========================  =====================================================  ==========

The soft first-spike time of a neuron with spikes ``s[0..T-1]`` (:func:`soft_first_spike_time`)
is the expected first-spike step when ``s[t]`` is read as the probability to fire at ``t``
given no earlier spike, with ``T`` for "never"::

    t_soft = sum_t t s[t] prod_{j<t} (1 - s[j]) + T prod_{j<T} (1 - s[j])

For binary spikes it equals the first spike step (or ``T``), and its gradient flows through
the surrogate of every step up to the first spike: ``d t_soft / d s[m] = m - t_first < 0``
for steps ``m`` before the first spike, so pushing the correct class's membrane up moves its
first spike earlier; a silent class still gets gradient at every step.

The soft first inter-spike interval (:func:`soft_first_isi`) is, under the same reading, the
expected ``t2 - t1`` of the first two spikes, with ``T`` when there are fewer than two
(censored at the window). It is computed by a forward recursion over ``t`` on the
probabilities ``p0`` (no spike yet), ``p1`` (exactly one) and ``A = E[t1; exactly one]``::

    isi += (t p1 - A) s[t];  A <- A (1 - s[t]) + t p0 s[t]
    p1 <- p1 (1 - s[t]) + p0 s[t];  p0 <- p0 (1 - s[t])
    isi += T (p0 + p1)   # after the last step

It equals the first ISI (or ``T``) on binary trains. Since a silent neuron gets no gradient
from it, the ISI loss adds the TTFS term: the target class learns to fire first and then
again soon. The TET loss is
Deng et al., ICLR 2022 ("Temporal efficient training of spiking neural network via
gradient re-weighting"), ``O[t]`` the output at step ``t`` and ``phi`` the MSE target.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from spikeforge.decode import MembraneReduce
from spikeforge.errors import ConfigError

__all__ = [
    "count_cross_entropy",
    "count_mse",
    "isi_cross_entropy",
    "membrane_cross_entropy",
    "soft_first_isi",
    "soft_first_spike_time",
    "tet_loss",
    "ttfs_cross_entropy",
]


def _checked_target(name: str, out: Tensor, target: Tensor) -> Tensor:
    """``target`` as int64 after checking it against ``out [T, B, C]``: one integer class
    index in ``[0, C)`` per sample of the batch. Raises ``ConfigError`` naming ``name``."""
    if not isinstance(out, Tensor) or out.dim() != 3 or out.shape[0] == 0:
        got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ConfigError(f"{name}: the output must be a [T, B, C] tensor with T >= 1, got {got}")
    _, batch, classes = out.shape
    if not isinstance(target, Tensor):
        raise ConfigError(
            f"{name}: target must be a tensor of class indices, got {type(target).__name__}"
        )
    if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
        raise ConfigError(
            f"{name}: target must hold integer class indices, got dtype {target.dtype}; "
            "pass e.g. target.long()"
        )
    if target.dim() != 1 or target.shape[0] != batch:
        raise ConfigError(
            f"{name}: target has shape {list(target.shape)} but the output [T, B, C] = "
            f"{list(out.shape)} has a batch of {batch}; pass one class index per sample, "
            f"shape [{batch}]"
        )
    if batch == 0:
        raise ConfigError(f"{name}: the batch is empty (output shape {list(out.shape)})")
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise ConfigError(
            f"{name}: target holds class {bad}, outside [0, {classes}) for an output of "
            f"{classes} classes; targets must be class indices 0..{classes - 1}"
        )
    return target.long()


def count_cross_entropy(spikes: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy with the spike counts ``[B, C]`` as logits; mean over the batch."""
    target = _checked_target("count_cross_entropy", spikes, target)
    return F.cross_entropy(spikes.sum(0), target)


def count_mse(
    spikes: Tensor,
    target: Tensor,
    *,
    correct_rate: float = 0.8,
    incorrect_rate: float = 0.2,
) -> Tensor:
    """Mean squared error between firing rates ``n_c / T`` and target rates.

    Args:
        spikes: ``[T, B, C]`` output spikes. target: int64 ``[B]``.
        correct_rate / incorrect_rate: target spikes per step (in ``[0, 1]``) of the target
            class and of the others (target counts ``T * rate``).

    Returns:
        Scalar, mean over batch and classes.
    """
    for name, value in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"count_mse: {name} must lie in [0, 1], got {value!r}")
    target = _checked_target("count_mse", spikes, target)
    rates = spikes.sum(0) / spikes.shape[0]
    one_hot = F.one_hot(target, rates.shape[-1]).to(rates.dtype)
    goal = incorrect_rate + (correct_rate - incorrect_rate) * one_hot
    return F.mse_loss(rates, goal)


def soft_first_spike_time(spikes: Tensor) -> Tensor:
    """Differentiable first-spike step ``[T, B, C] -> [B, C]`` (module docstring); ``T`` for a
    silent neuron. Spikes are clipped to ``[0, 1]`` (a count above 1 is one spike)."""
    s = spikes.clamp(0.0, 1.0)
    num_steps = s.shape[0]
    survive = torch.cumprod(1.0 - s, dim=0)  # prod_{j<=t}(1 - s[j])
    before = torch.cat([torch.ones_like(survive[:1]), survive[:-1]], dim=0)  # prod_{j<t}
    t = torch.arange(num_steps, dtype=s.dtype, device=s.device).view(-1, *([1] * (s.dim() - 1)))
    return (t * s * before).sum(0) + num_steps * survive[-1]


def ttfs_cross_entropy(spikes: Tensor, target: Tensor, *, temperature: float = 1.0) -> Tensor:
    """Time-to-first-spike loss: cross-entropy with logits ``-t_soft / temperature``.

    Minimising it makes the target class fire first and the others later (or never).

    Args:
        spikes: ``[T, B, C]`` output spikes. target: int64 ``[B]``.
        temperature: in steps (> 0); a first-spike lead of ``temperature`` steps is worth
            one unit of logit.
    """
    _check_temperature("ttfs_cross_entropy", temperature)
    target = _checked_target("ttfs_cross_entropy", spikes, target)
    return F.cross_entropy(-soft_first_spike_time(spikes) / temperature, target)


def soft_first_isi(spikes: Tensor) -> Tensor:
    """Differentiable first inter-spike interval in steps, ``[T, B, C] -> [B, C]``
    (recursion in the module docstring); ``T`` for neurons with fewer than two spikes.
    Spikes are clipped to ``[0, 1]``."""
    s = spikes.clamp(0.0, 1.0)
    num_steps = s.shape[0]
    p0 = torch.ones_like(s[0])
    p1 = torch.zeros_like(s[0])
    first = torch.zeros_like(s[0])
    isi = torch.zeros_like(s[0])
    for t in range(num_steps):
        st = s[t]
        isi = isi + (t * p1 - first) * st
        first = first * (1.0 - st) + t * p0 * st
        p1 = p1 * (1.0 - st) + p0 * st
        p0 = p0 * (1.0 - st)
    return isi + num_steps * (p0 + p1)


def _check_temperature(name: str, temperature: float) -> None:
    if not temperature > 0:
        raise ConfigError(f"{name}: temperature must be > 0, got {temperature!r}")


def isi_cross_entropy(spikes: Tensor, target: Tensor, *, temperature: float = 1.0) -> Tensor:
    """Inter-spike-interval loss: ``CE(-isi_soft / temperature) + CE(-t_soft / temperature)``.

    Trains the target class to fire first and to fire its second spike soon after, matching
    :func:`spikeforge.decode.decide_isi` (shortest first ISI wins, ties to the earlier first
    spike).

    Args:
        spikes: ``[T, B, C]`` output spikes. target: int64 ``[B]``.
        temperature: in steps (> 0).
    """
    _check_temperature("isi_cross_entropy", temperature)
    target = _checked_target("isi_cross_entropy", spikes, target)
    isi = soft_first_isi(spikes)
    first = soft_first_spike_time(spikes)
    return F.cross_entropy(-isi / temperature, target) + F.cross_entropy(
        -first / temperature, target
    )


def membrane_cross_entropy(
    membrane: Tensor, target: Tensor, *, reduce: MembraneReduce = MembraneReduce.MEAN
) -> Tensor:
    """Cross-entropy with the readout's mean (or max) membrane over time as logits.

    Args:
        membrane: ``[T, B, C]`` non-spiking readout. target: int64 ``[B]``.
        reduce: :class:`~spikeforge.decode.MembraneReduce`.
    """
    target = _checked_target("membrane_cross_entropy", membrane, target)
    logits = membrane.amax(0) if reduce is MembraneReduce.MAX else membrane.mean(0)
    return F.cross_entropy(logits, target)


def tet_loss(
    outputs: Tensor, target: Tensor, *, mse_weight: float = 0.0, mse_target: float = 1.0
) -> Tensor:
    """Temporal efficient training loss: cross-entropy at every step, averaged over time.

    ``(1 - mse_weight) mean_t CE(O[t], y) + mse_weight mean_t MSE(O[t], mse_target)``.

    Args:
        outputs: ``[T, B, C]`` per-step outputs (typically a readout membrane).
        target: int64 ``[B]``.
        mse_weight: ``lambda`` in ``[0, 1]`` (Deng et al. use 0.05 with ``phi = 1``).
        mse_target: ``phi``, the constant the outputs are pulled towards.
    """
    if not 0.0 <= mse_weight <= 1.0:
        raise ConfigError(f"tet_loss: mse_weight must lie in [0, 1], got {mse_weight!r}")
    target = _checked_target("tet_loss", outputs, target)
    num_steps, batch, classes = outputs.shape[0], outputs.shape[1], outputs.shape[-1]
    flat = outputs.reshape(num_steps * batch, classes)
    ce = F.cross_entropy(flat, target.repeat(num_steps))
    if mse_weight == 0.0:
        return ce
    mse = F.mse_loss(outputs, torch.full_like(outputs, mse_target))
    return (1.0 - mse_weight) * ce + mse_weight * mse
