"""Input currents sampled on the simulation grid: ``[T, B]`` tensors, step ``k`` holding the
current applied over ``[k dt, (k+1) dt)`` (model current unit)."""

from __future__ import annotations

import enum
import warnings
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
    least that many rows and the first ``steps`` are used.

    Raises:
        DataError: one line when the path is missing or a folder, the file cannot be read,
            holds anything but numbers (strings, objects), is empty, is not 1-D or 2-D, holds
            NaN or infinity, or has fewer than ``steps`` rows.
    """
    if path.is_dir():
        raise DataError(f"stimulus file {path} is a folder; pass a .npy or .csv file inside it")
    if not path.is_file():
        raise DataError(f"stimulus file {path} does not exist; pass an existing .npy/.csv file")
    numbers = "must hold numbers, one row per step and one column per neuron"
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            with warnings.catch_warnings():  # an empty file: numpy warns, the check below says it
                warnings.simplefilter("ignore", UserWarning)
                data = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    except Exception as exc:  # any reader failure means a file that is not a table of numbers
        detail = (str(exc).splitlines() or [type(exc).__name__])[0].split("; ")[0]
        if "pickle" in detail:  # an object array, or not an .npy file at all
            detail = "Python objects, or not a NumPy .npy file; save a numeric array with np.save"
        raise DataError(f"stimulus file {path} {numbers} ({detail[:120].rstrip('.')})") from None
    if not isinstance(data, np.ndarray):  # an .npz archive: np.load gives a mapping
        raise DataError(f"stimulus file {path} {numbers}; save one array with np.save (.npy)")
    if data.dtype.kind not in "biuf":
        what = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers"}
        raise DataError(
            f"stimulus file {path} {numbers}, got {what.get(data.dtype.kind, 'values')} "
            f"(dtype {data.dtype})"
        )
    if data.ndim not in (1, 2):
        raise DataError(
            f"stimulus file {path} holds a {data.ndim}-D array of shape {list(data.shape)}; "
            "it must be 1-D (one neuron) or 2-D [steps, neurons]"
        )
    if data.size == 0:
        raise DataError(
            f"stimulus file {path} is empty (shape {list(data.shape)}); it {numbers}"
        )
    data = data.astype(np.float64).reshape(data.shape[0], -1)
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"stimulus file {path} holds {int(bad.sum())} NaN or infinite value(s), the first "
            f"at row {row}, column {col}; every sample must be a finite number"
        )
    if steps is not None:
        if data.shape[0] < steps:
            raise DataError(
                f"stimulus file {path} has {data.shape[0]} samples but the run needs {steps} "
                f"(duration / dt); shorten --duration or add samples"
            )
        data = data[:steps]
    return torch.from_numpy(data.copy())
