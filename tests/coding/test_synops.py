"""Synaptic operation counts equal the fan-out of the non-zero inputs."""

from __future__ import annotations

import pytest
import torch

from spikeforge.layers import Conv2d, Flatten, Linear
from spikeforge.network import Sequential
from spikeforge.neurons import LIF
from spikeforge.synops import SynOpsCounter, layer_synops


def test_linear_synops_is_events_times_fan_out() -> None:
    layer = Linear(5, 7)
    x = torch.zeros(3, 2, 5)
    x[0, 0, 1] = 1.0
    x[2, 1, [0, 4]] = 1.0
    x[1, 0, 3] = 0.25  # analog values count as events too
    assert layer_synops(layer, x) == 4 * 7


def test_conv_synops_counts_border_fan_out() -> None:
    """3x3 kernel, padding 1: a corner pixel reaches 4 outputs, an edge 6, the centre 9."""
    layer = Conv2d(2, 3, 3, padding=1)
    x = torch.zeros(1, 1, 2, 5, 5)
    x[0, 0, 0, 0, 0] = 1.0  # corner
    x[0, 0, 1, 0, 2] = 1.0  # edge
    x[0, 0, 1, 2, 2] = 1.0  # centre
    assert layer_synops(layer, x) == (4 + 6 + 9) * 3


def test_conv_synops_with_stride_and_groups() -> None:
    layer = Conv2d(4, 4, 2, stride=2, groups=2)
    x = torch.ones(1, 1, 4, 4, 4)
    # every input pixel lies under exactly one stride-2 window; each group has 2 outputs
    assert layer_synops(layer, x) == 4 * 4 * 4 * 2


def test_counter_sums_layers_of_a_network() -> None:
    torch.manual_seed(0)
    net = Sequential(Flatten(), Linear(6, 4), LIF(0.9), Linear(4, 3), LIF(0.9))
    x = (torch.rand(5, 2, 2, 3) > 0.5).float()
    with SynOpsCounter(net) as counter:
        _, traces = net.trace(x)
    hidden = traces[0].trace.output
    expected = int((x != 0).sum()) * 4 + int((hidden != 0).sum()) * 3
    assert counter.total() == expected
    assert set(counter.counts()) == {"1", "3"}


def test_unsupported_layer_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unsupported"):
        layer_synops(torch.nn.Conv1d(1, 1, 3), torch.ones(1, 1, 4))
