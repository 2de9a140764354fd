"""Population coding: each scalar feature drives ``N`` neurons with Gaussian receptive fields.

Neuron ``i`` of ``N >= 2`` has centre ``mu_i = low + i (high - low) / (N - 1)`` and width
``sigma`` (default half the spacing of the centres, so neighbouring fields cross at
``exp(-1/2)``); its activation is ``a_i(x) = exp(-(x - mu_i)^2 / (2 sigma^2))`` in ``(0, 1]``.
:func:`population` turns the activations into spike times with the linear latency code
(Bohte et al. 2002): a neuron whose activation is above ``threshold`` spikes once, at step
``round((T - 1)(1 - a_i))``, so the best-tuned neuron fires first.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spikeforge.encode._checks import check_positive, check_range, check_steps
from spikeforge.encode.latency import LatencyMapping, latency
from spikeforge.errors import ConfigError

__all__ = ["gaussian_receptive_fields", "population"]


def gaussian_receptive_fields(
    x: Tensor,
    num_neurons: int,
    *,
    low: float = 0.0,
    high: float = 1.0,
    sigma: float | None = None,
    clamp: bool = False,
) -> Tensor:
    """Activations of ``num_neurons`` Gaussian receptive fields per feature (module docstring).

    Args:
        x: scalar features in ``[low, high]``, any shape ``[*S]``.
        num_neurons: ``N >= 2`` neurons per feature.
        low / high: the covered range (``low < high``), in the unit of ``x``.
        sigma: field width in the unit of ``x`` (default ``(high - low) / (2 (N - 1))``).
        clamp: clip ``x`` to ``[low, high]`` instead of raising.

    Returns:
        ``[*S, N]`` activations in ``(0, 1]``, dtype and device of ``x``.
    """
    if isinstance(num_neurons, bool) or not isinstance(num_neurons, int) or num_neurons < 2:
        raise ConfigError(
            f"population encoder: num_neurons must be an integer >= 2, got {num_neurons!r}"
        )
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(
            f"population encoder: need finite low < high, got low={low!r}, high={high!r}"
        )
    spacing = (high - low) / (num_neurons - 1)
    sigma = check_positive("population", "sigma", spacing / 2 if sigma is None else sigma)
    x = check_range("population", x, low, high, clamp=clamp)
    centres = torch.linspace(low, high, num_neurons, dtype=x.dtype, device=x.device)
    return torch.exp(-(x.unsqueeze(-1) - centres).square() / (2.0 * sigma * sigma))


def population(
    x: Tensor,
    num_steps: int,
    num_neurons: int,
    *,
    low: float = 0.0,
    high: float = 1.0,
    sigma: float | None = None,
    threshold: float = 0.1,
    clamp: bool = False,
) -> Tensor:
    """Population latency code: receptive-field activations turned into one spike each.

    Args:
        x: scalar features in ``[low, high]``, any shape ``[*S]``.
        num_steps: ``T >= 1``.
        num_neurons, low, high, sigma, clamp: as :func:`gaussian_receptive_fields`.
        threshold: activations ``<= threshold`` (in ``[0, 1)``) do not spike.

    Returns:
        ``[T, *S, N]``: a neuron axis is appended after the input's axes (flatten it with the
        feature axes before a linear layer). Exactly 0.0 and 1.0, dtype and device of ``x``.
    """
    check_steps("population", num_steps)
    a = gaussian_receptive_fields(x, num_neurons, low=low, high=high, sigma=sigma, clamp=clamp)
    return latency(a, num_steps, mapping=LatencyMapping.LINEAR, threshold=threshold)
