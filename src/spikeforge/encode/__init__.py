"""Encoders: turn inputs into time-major spike (or current) sequences.

Pure functions. Output is ``[T, *input.shape]`` (delta and population coding append one
axis, see their docstrings), in the input's dtype and device; stochastic encoders take a
``torch.Generator``. Out-of-range input or NaN raises :class:`~spikeforge.errors.ConfigError`
naming the encoder and the range, unless ``clamp=True`` is passed where offered.
"""

from spikeforge.encode.delta import delta
from spikeforge.encode.latency import LOG_NORMALIZE_MARGIN, LatencyMapping, latency, latency_times
from spikeforge.encode.population import gaussian_receptive_fields, population
from spikeforge.encode.rate import direct, poisson, poisson_times, rate

__all__ = [
    "LOG_NORMALIZE_MARGIN",
    "LatencyMapping",
    "delta",
    "direct",
    "gaussian_receptive_fields",
    "latency",
    "latency_times",
    "poisson",
    "poisson_times",
    "population",
    "rate",
]
