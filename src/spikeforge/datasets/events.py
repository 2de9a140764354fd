"""Event-camera data: the N-MNIST binary format, events -> frames, frames -> spike tensors.

Events are numpy structured arrays of :data:`EVENT_DTYPE` (fields ``x``, ``y``, ``t`` in µs,
``p`` polarity 0/1), the same field names tonic uses. Frames are ``[F, P, H, W]`` event counts
(``frame[bin, p, y, x]``); spike tensors are time-major ``[T, B, P, H, W]``.

Binning never drops an event (pitfall C23): the bins always cover the whole recording, the last
one including its end time, and a recording shorter than one window still makes one frame.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike

from spikeforge.errors import ConfigError, DataError

__all__ = [
    "EVENT_DTYPE",
    "NMNIST_SENSOR",
    "BinBy",
    "SensorSize",
    "decode_nmnist",
    "encode_nmnist",
    "events_from_tonic",
    "frames_by_count",
    "frames_by_time",
    "make_events",
    "read_nmnist",
    "to_frames",
    "to_spike_tensor",
]

#: One event: pixel column ``x``, row ``y``, time ``t`` (µs), polarity ``p`` (0 off, 1 on).
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])

_OVERFLOW_Y = 240  # N-MNIST marks a timestamp overflow with y == 240 ...
_OVERFLOW_STEP = 1 << 13  # ... after which every later timestamp grows by 2**13 µs


class SensorSize(NamedTuple):
    """Sensor geometry: ``width`` (x range), ``height`` (y range), ``polarities``."""

    width: int
    height: int
    polarities: int


#: The ATIS sensor crop N-MNIST was recorded with (tonic's ``(34, 34, 2)``).
NMNIST_SENSOR = SensorSize(34, 34, 2)


class BinBy(enum.Enum):
    """How events are grouped into frames: by time stamp or by event count."""

    TIME = "time"
    COUNT = "count"


def make_events(x: ArrayLike, y: ArrayLike, t: ArrayLike, p: ArrayLike) -> np.ndarray:
    """An event array of :data:`EVENT_DTYPE` from equal-length columns (``t`` in µs)."""
    cols = [np.asarray(c) for c in (x, y, t, p)]
    lengths = {len(c) for c in cols}
    if len(lengths) != 1:
        raise ConfigError(f"event columns differ in length: {[len(c) for c in cols]}")
    events = np.empty(lengths.pop(), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = cols
    return events


def decode_nmnist(data: bytes, *, what: str = "N-MNIST data") -> np.ndarray:
    """Decode N-MNIST's binary format: 5 bytes (40 bits) per event, big-endian.

    Bits 39–32: x; 31–24: y; bit 23: polarity; bits 22–0: time stamp (µs). An event with
    ``y == 240`` is not an event but a time-stamp overflow marker: it adds ``2**13`` µs to every
    later time stamp (as in the dataset authors' reader).

    Returns:
        events of :data:`EVENT_DTYPE`, in file order.

    Raises:
        DataError: the length is not a multiple of 5 (a truncated file).
    """
    if len(data) % 5:
        raise DataError(
            f"{what}: {len(data)} bytes is not a whole number of 5-byte events; the file is "
            "truncated or not in the N-MNIST format"
        )
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    p = raw[:, 2] >> 7
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    overflow = y == _OVERFLOW_Y
    t = t + np.cumsum(overflow) * _OVERFLOW_STEP
    keep = ~overflow
    return make_events(x[keep], y[keep], t[keep], p[keep])


def read_nmnist(path: Path) -> np.ndarray:
    """Read an N-MNIST ``.bin`` file (see :func:`decode_nmnist`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    return decode_nmnist(data, what=str(path))


def encode_nmnist(events: np.ndarray) -> bytes:
    """Encode events in N-MNIST's binary format (the inverse of :func:`decode_nmnist`).

    Time stamps must fit 23 bits (``t < 2**23`` µs, about 8.4 s; N-MNIST recordings last
    about 0.3 s), coordinates 8 bits with ``y != 240``, polarities 0/1.

    Raises:
        ConfigError: an event does not fit the format.
    """
    x, y, t, p = (events[f].astype(np.int64) for f in ("x", "y", "t", "p"))
    if len(t) and (t.min() < 0 or t.max() >= 1 << 23):
        raise ConfigError("N-MNIST time stamps must lie in [0, 2**23) µs")
    if len(t) and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255
                   or (y == _OVERFLOW_Y).any() or not np.isin(p, (0, 1)).all()):
        raise ConfigError("N-MNIST events need 0 <= x, y <= 255, y != 240 and p in {0, 1}")
    raw = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return raw.astype(np.uint8).tobytes()


def events_from_tonic(events: np.ndarray) -> np.ndarray:
    """Convert a tonic event array (any structured array with ``x, y, t, p``) to ours.

    Works without importing tonic; tonic's polarities ``False/True`` or ``0/1`` become 0/1 and
    its time stamps (µs) become int64.
    """
    names = events.dtype.names or ()
    missing = [f for f in ("x", "y", "t", "p") if f not in names]
    if missing:
        raise DataError(f"tonic events lack field(s) {missing}; got fields {list(names)}")
    return make_events(events["x"], events["y"], events["t"], events["p"].astype(np.int64) > 0)


def _check_inside(events: np.ndarray, sensor: SensorSize) -> None:
    """Raise unless every event lies on the sensor (events are never dropped silently)."""
    if not len(events):
        return
    bad = ((events["x"] < 0) | (events["x"] >= sensor.width) | (events["y"] < 0)
           | (events["y"] >= sensor.height) | (events["p"] < 0)
           | (events["p"] >= sensor.polarities))
    if bad.any():
        e = events[np.argmax(bad)]
        raise DataError(
            f"event at x={e['x']}, y={e['y']}, p={e['p']} lies outside the sensor "
            f"{sensor.width}x{sensor.height}x{sensor.polarities}"
        )


def _accumulate(
    events: np.ndarray, bins: np.ndarray, n_frames: int, sensor: SensorSize
) -> torch.Tensor:
    """Count events per ``(bin, p, y, x)``: float32 ``[n_frames, P, H, W]``."""
    w, h, c = sensor
    flat = ((bins * c + events["p"]) * h + events["y"]) * w + events["x"]
    counts = np.bincount(flat.astype(np.int64), minlength=n_frames * c * h * w)
    return torch.from_numpy(counts.astype(np.float32)).reshape(n_frames, c, h, w)


def frames_by_time(
    events: np.ndarray,
    sensor: SensorSize,
    *,
    n_bins: int | None = None,
    window: int | None = None,
) -> torch.Tensor:
    """Bin events by time stamp into frames of event counts.

    Exactly one of:
      - ``n_bins``: the span ``[t_min, t_max]`` cut into ``n_bins`` equal bins
        ``[t0 + k*d, t0 + (k+1)*d)`` with ``d = (t_max - t_min) / n_bins``; the last bin includes
        ``t_max``. A zero span puts every event into the first bin.
      - ``window`` (µs): bins ``[t0 + k*window, t0 + (k+1)*window)``, as many as
        ``max(1, ceil((t_max - t_min) / window))``; the last includes ``t_max``.

    Returns:
        float32 ``[F, P, H, W]`` counts; their sum equals ``len(events)``.

    Raises:
        ConfigError: neither or both options, or a non-positive one. DataError: an event lies
            outside ``sensor``.
    """
    if (n_bins is None) == (window is None):
        raise ConfigError("frames_by_time needs exactly one of n_bins or window")
    if (n_bins is not None and n_bins < 1) or (window is not None and window <= 0):
        raise ConfigError(f"n_bins must be >= 1 and window > 0; got {n_bins}, {window}")
    _check_inside(events, sensor)
    t = events["t"].astype(np.int64)
    span = int(t.max() - t.min()) if len(t) else 0
    rel = t - (t.min() if len(t) else 0)
    if n_bins is not None:
        n = n_bins
        bins = rel * n // span if span else np.zeros_like(rel)
    else:
        assert window is not None
        n = max(1, math.ceil(span / window))
        bins = rel // window
    return _accumulate(events, np.minimum(bins, n - 1), n, sensor)


def frames_by_count(
    events: np.ndarray,
    sensor: SensorSize,
    *,
    n_bins: int | None = None,
    per_frame: int | None = None,
) -> torch.Tensor:
    """Bin events, in time order, into frames holding equal numbers of events.

    Exactly one of ``n_bins`` (event ``i`` of ``N`` goes to frame ``i * n_bins // N``) or
    ``per_frame`` (``max(1, ceil(N / per_frame))`` frames, the last one holding the remainder).

    Returns:
        float32 ``[F, P, H, W]`` counts; their sum equals ``len(events)``.
    """
    if (n_bins is None) == (per_frame is None):
        raise ConfigError("frames_by_count needs exactly one of n_bins or per_frame")
    if (n_bins is not None and n_bins < 1) or (per_frame is not None and per_frame < 1):
        raise ConfigError(f"n_bins and per_frame must be >= 1, got {n_bins}, {per_frame}")
    _check_inside(events, sensor)
    ordered = events[np.argsort(events["t"], kind="stable")]
    rank = np.arange(len(ordered), dtype=np.int64)
    if n_bins is not None:
        n = n_bins
        bins = rank * n // max(len(ordered), 1)
    else:
        assert per_frame is not None
        n = max(1, math.ceil(len(ordered) / per_frame))
        bins = rank // per_frame
    return _accumulate(ordered, bins, n, sensor)


def to_frames(events: np.ndarray, sensor: SensorSize, n_bins: int, by: BinBy) -> torch.Tensor:
    """``n_bins`` frames ``[n_bins, P, H, W]`` by time or by count (see the two functions)."""
    if by is BinBy.TIME:
        return frames_by_time(events, sensor, n_bins=n_bins)
    return frames_by_count(events, sensor, n_bins=n_bins)


def to_spike_tensor(
    samples: Sequence[np.ndarray],
    sensor: SensorSize,
    n_bins: int,
    *,
    by: BinBy = BinBy.TIME,
    binary: bool = True,
) -> torch.Tensor:
    """Turn ``B`` event recordings into a time-major spike tensor.

    Args:
        samples: ``B`` event arrays. sensor: their sensor size. n_bins: time steps ``T``.
        by: bin by time (each recording's own span cut into ``T`` bins) or by event count.
        binary: clip counts to 1 (a pixel fires at most once per step); else keep counts.

    Returns:
        float32 ``[T, B, P, H, W]``.
    """
    if not samples:
        raise ConfigError("to_spike_tensor needs at least one recording")
    frames = torch.stack([to_frames(e, sensor, n_bins, by) for e in samples], dim=1)
    return frames.clamp_(max=1.0) if binary else frames
