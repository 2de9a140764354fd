"""Optional bridge to the ``tonic`` package: its event datasets as spikeforge spike tensors.

tonic is not a dependency. :func:`spikes_from_tonic` works with any object that behaves like a
tonic dataset (``len``, ``ds[i] -> (events, target)``, ``sensor_size = (W, H, P)``), so tonic is
only imported by :func:`tonic_dataset`, which builds one of tonic's datasets by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spikeforge.datasets.events import BinBy, SensorSize, events_from_tonic, to_spike_tensor
from spikeforge.errors import ConfigError

__all__ = ["spikes_from_tonic", "tonic_dataset"]


def tonic_dataset(name: str, save_to: str, **kwargs: Any) -> Any:
    """``tonic.datasets.<name>(save_to=save_to, **kwargs)``, e.g. ``tonic_dataset("NMNIST", d)``.

    Raises:
        ConfigError: tonic is not installed, or has no dataset ``name``.
    """
    try:
        import tonic.datasets
    except ImportError as exc:
        raise ConfigError(
            "the optional package tonic is not installed; `pip install tonic` to use its datasets"
        ) from exc
    cls = getattr(tonic.datasets, name, None)
    if cls is None:
        raise ConfigError(f"tonic has no dataset {name!r}")
    return cls(save_to=save_to, **kwargs)


def spikes_from_tonic(
    dataset: Any,
    indices: Sequence[int],
    n_bins: int,
    *,
    by: BinBy = BinBy.TIME,
    binary: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike tensor and labels of recordings ``indices`` of a tonic-style dataset.

    Returns:
        ``(spikes, labels)``: float32 ``[T=n_bins, B, P, H, W]`` and int64 ``[B]``.
    """
    sensor = SensorSize(*(int(v) for v in dataset.sensor_size))
    items = [dataset[i] for i in indices]
    events = [events_from_tonic(e) for e, _ in items]
    labels = torch.tensor([int(target) for _, target in items], dtype=torch.int64)
    return to_spike_tensor(events, sensor, n_bins, by=by, binary=binary), labels
