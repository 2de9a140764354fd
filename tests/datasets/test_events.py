"""Events: the N-MNIST codec, binning without lost events (pitfall C23), spike tensors, tonic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.datasets.events import (
    NMNIST_SENSOR,
    BinBy,
    SensorSize,
    decode_nmnist,
    encode_nmnist,
    events_from_tonic,
    frames_by_count,
    frames_by_time,
    make_events,
    to_spike_tensor,
)
from spikeforge.datasets.tonic_bridge import spikes_from_tonic
from spikeforge.errors import ConfigError, DataError


def random_events(n: int, span: int, seed: int = 0, sensor: SensorSize = NMNIST_SENSOR):
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, sensor.width, n),
        rng.integers(0, sensor.height, n),
        np.sort(rng.integers(0, span + 1, n)),
        rng.integers(0, 2, n),
    )


# --- C23: events -> frames never drops events -------------------------------------------


def test_c23a_single_event_single_bin() -> None:
    frames = frames_by_time(make_events([3], [5], [1000], [1]), NMNIST_SENSOR, n_bins=1)
    assert frames.shape == (1, 2, 34, 34)
    assert frames[0, 1, 5, 3] == 1 and frames.sum() == 1


def test_c23b_last_bin_includes_its_end() -> None:
    events = make_events([1, 2, 3, 4], [1, 1, 1, 1], [0, 10, 20, 30], [0, 0, 0, 0])
    frames = frames_by_time(events, NMNIST_SENSOR, n_bins=3)
    assert frames.sum(dim=(1, 2, 3)).tolist() == [1, 1, 2]  # [0,10) [10,20) [20,30]


def test_c23c_recording_shorter_than_window_makes_one_frame() -> None:
    events = random_events(3000, span=8000, seed=3)
    assert int(events["t"].max() - events["t"].min()) <= 8000
    frames = frames_by_time(events, NMNIST_SENSOR, window=10_000)
    assert frames.shape[0] == math.ceil(8000 / 10_000) == 1
    assert frames.sum() == 3000


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    span=st.integers(0, 50_000),
    bins=st.integers(1, 40),
    window=st.integers(1, 20_000),
    seed=st.integers(0, 2**16),
)
def test_frames_hold_every_event(n: int, span: int, bins: int, window: int, seed: int) -> None:
    events = random_events(n, span, seed)
    by_n = frames_by_time(events, NMNIST_SENSOR, n_bins=bins)
    by_w = frames_by_time(events, NMNIST_SENSOR, window=window)
    by_count = frames_by_count(events, NMNIST_SENSOR, n_bins=bins)
    by_per = frames_by_count(events, NMNIST_SENSOR, per_frame=window % 50 + 1)
    assert by_n.shape[0] == bins and by_count.shape[0] == bins
    real_span = int(events["t"].max() - events["t"].min()) if n else 0
    assert by_w.shape[0] == max(1, math.ceil(real_span / window))
    assert by_per.shape[0] == max(1, math.ceil(n / (window % 50 + 1)))
    for frames in (by_n, by_w, by_count, by_per):
        assert int(frames.sum()) == n
    # the time bins are equal, half-open: event times within a bin fall in its interval
    if n and real_span:
        t0 = int(events["t"].min())
        expected = np.minimum((events["t"] - t0) * bins // real_span, bins - 1)
        counts = np.bincount(expected, minlength=bins)
        assert by_n.sum(dim=(1, 2, 3)).tolist() == counts.tolist()


def test_count_binning_splits_evenly() -> None:
    events = random_events(10, span=1000)
    frames = frames_by_count(events, NMNIST_SENSOR, n_bins=3)
    assert frames.sum(dim=(1, 2, 3)).tolist() == [4, 3, 3]  # i * 3 // 10
    per = frames_by_count(events, NMNIST_SENSOR, per_frame=4)
    assert per.sum(dim=(1, 2, 3)).tolist() == [4, 4, 2]


def test_events_off_the_sensor_are_an_error_not_dropped() -> None:
    with pytest.raises(DataError, match="x=34, y=0, p=0 lies outside the sensor 34x34x2"):
        frames_by_time(make_events([34], [0], [0], [0]), NMNIST_SENSOR, n_bins=1)


@pytest.mark.parametrize("kwargs", [{}, {"n_bins": 2, "window": 5}, {"n_bins": 0}, {"window": -1}])
def test_binning_options_are_checked(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        frames_by_time(random_events(5, 100), NMNIST_SENSOR, **kwargs)


# --- the N-MNIST 40-bit format ------------------------------------------------------------


def test_decode_follows_the_bit_layout() -> None:
    # x=3, y=5, p=1, t=0x012345: bytes x, y, p<<7 | t>>16, t>>8 & 255, t & 255
    events = decode_nmnist(bytes([3, 5, 0x80 | 0x01, 0x23, 0x45]))
    assert events.tolist() == [(3, 5, 0x012345, 1)]


def test_overflow_marker_shifts_later_time_stamps() -> None:
    data = bytes([1, 2, 0, 0, 100]) + bytes([0, 240, 0, 0, 0]) + bytes([4, 6, 0x80, 0, 50])
    events = decode_nmnist(data)
    assert events["t"].tolist() == [100, 50 + 2**13]
    assert events["y"].tolist() == [2, 6]  # the marker is not an event


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_encode_decode_round_trip(n: int, seed: int) -> None:
    events = random_events(n, span=2**23 - 1, seed=seed)
    assert np.array_equal(decode_nmnist(encode_nmnist(events)), events)


def test_truncated_recording_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="12 bytes is not a whole number of 5-byte events"):
        decode_nmnist(bytes(12))


def test_encoder_refuses_what_the_format_cannot_hold() -> None:
    with pytest.raises(ConfigError):
        encode_nmnist(make_events([0], [0], [2**23], [0]))
    with pytest.raises(ConfigError):
        encode_nmnist(make_events([0], [240], [0], [0]))


# --- spike tensors and tonic ----------------------------------------------------------------


def test_spike_tensor_is_time_major_and_binary() -> None:
    samples = [random_events(500, 3000, seed=s) for s in range(4)]
    spikes = to_spike_tensor(samples, NMNIST_SENSOR, 7)
    assert spikes.shape == (7, 4, 2, 34, 34) and spikes.dtype == torch.float32
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    counts = to_spike_tensor(samples, NMNIST_SENSOR, 7, binary=False, by=BinBy.COUNT)
    assert counts.sum(dim=(0, 2, 3, 4)).tolist() == [500.0] * 4
    torch.testing.assert_close(spikes[:, 2], to_spike_tensor(samples[2:3], NMNIST_SENSOR, 7)[:, 0])


class _TonicLike:
    """What spikes_from_tonic needs of a tonic dataset (tonic's own int64 x, y, t, p dtype)."""

    sensor_size = (34, 34, 2)
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])

    def __init__(self, recordings: list[np.ndarray]) -> None:
        self.recordings = recordings

    def __len__(self) -> int:
        return len(self.recordings)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        ours = self.recordings[i]
        theirs = np.empty(len(ours), dtype=self.dtype)
        for f in ("x", "y", "t", "p"):
            theirs[f] = ours[f]
        return theirs, i % 10


def test_spikes_from_a_tonic_style_dataset() -> None:
    recordings = [random_events(200, 5000, seed=s) for s in range(3)]
    spikes, labels = spikes_from_tonic(_TonicLike(recordings), [2, 0], 5)
    assert labels.tolist() == [2, 0]
    assert torch.equal(spikes, to_spike_tensor([recordings[2], recordings[0]], NMNIST_SENSOR, 5))


def test_tonic_reader_agrees_with_ours(tmp_path) -> None:
    tonic_io = pytest.importorskip("tonic.io", reason="optional package tonic not installed")
    events = random_events(1000, 300_000, seed=9)
    data = encode_nmnist(events)
    path = tmp_path / "00001.bin"
    path.write_bytes(data + bytes([0, 240, 0, 0, 0]) + bytes([7, 8, 0x80, 0, 1]))
    theirs = tonic_io.read_mnist_file(str(path), dtype=_TonicLike.dtype)
    ours = decode_nmnist(path.read_bytes())
    assert np.array_equal(events_from_tonic(theirs), ours)
