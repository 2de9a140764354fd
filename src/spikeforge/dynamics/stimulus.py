"""Input currents sampled on the simulation grid: ``[T, B]`` tensors, step ``k`` holding the
current applied over ``[k dt, (k+1) dt)`` (model current unit)."""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np
import torch

from spikeforge.errors import ConfigError, DataError


class StimulusKind(enum.Enum):
    """Shape of the input current; the value is the CLI spelling."""

    CONSTANT = "constant"
    STEP = "step"
    RAMP = "ramp"
    NOISY = "noisy"
    FILE = "file"


def constant(amplitude: torch.Tensor, steps: int) -> torch.Tensor:
    """``amplitude [B]`` held for ``steps`` steps: ``[T, B]``."""
    return amplitude.reshape(1, -1).expand(steps, -1).clone()


def step(
    amplitude: torch.Tensor, steps: int, dt: float, onset: float, offset: float | None = None
) -> torch.Tensor:
    """Zero before ``onset``, ``amplitude [B]`` from ``onset`` until ``offset`` (default: the
    end), zero after: ``[T, B]``. Times in the model time unit."""
    t = torch.arange(steps, dtype=torch.float64) * dt
    on = (t >= onset) & (t < (float("inf") if offset is None else offset))
    return on.to(amplitude.dtype).unsqueeze(-1) * amplitude.reshape(1, -1)


def ramp(start: torch.Tensor, stop: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear ramp from ``start [B]`` at step 0 to ``stop [B]`` at the last step: ``[T, B]``."""
    frac = torch.linspace(0.0, 1.0, steps, dtype=start.dtype).unsqueeze(-1)
    return start.reshape(1, -1) + frac * (stop - start).reshape(1, -1)


def noisy(
    mean: torch.Tensor, std: float, steps: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``mean [B]`` plus independent Gaussian samples of standard deviation ``std`` (current
    unit) in every step and neuron: ``[T, B]``. Reproducible with ``generator``."""
    if std < 0:
        raise ConfigError(f"noisy stimulus: std must be >= 0, got {std}")
    noise = torch.randn(steps, mean.numel(), generator=generator, dtype=torch.float64)
    return mean.reshape(1, -1) + std * noise.to(mean.dtype)


def from_file(path: Path, steps: int | None) -> torch.Tensor:
    """Samples from a ``.npy`` file or a text/CSV file (one row per step, one column per
    neuron, ``#`` comments): ``[T, B]`` float64. With ``steps`` given, the file must hold at
    least that many rows and the first ``steps`` are used."""
    if not path.is_file():
        raise DataError(f"stimulus file {path} does not exist; pass an existing .npy/.csv file")
    try:
        if path.suffix == ".npy":
            data = np.load(path)
        else:
            data = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    except (ValueError, OSError) as exc:
        raise DataError(
            f"stimulus file {path} is not numeric ({exc}); write one row per step"
        ) from None
    data = np.asarray(data, dtype=np.float64)
    data = data.reshape(-1, 1) if data.ndim == 1 else data
    if data.ndim != 2 or data.shape[0] == 0 or not np.isfinite(data).all():
        raise DataError(
            f"stimulus file {path} must hold a finite [steps, neurons] table, got shape "
            f"{list(data.shape)}"
        )
    if steps is not None:
        if data.shape[0] < steps:
            raise DataError(
                f"stimulus file {path} has {data.shape[0]} samples but the run needs {steps} "
                f"(duration / dt); shorten --duration or add samples"
            )
        data = data[:steps]
    return torch.from_numpy(data.copy())
