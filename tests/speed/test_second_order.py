"""Second-order gradients (``create_graph=True``) through the layers that use native
kernels: their backward then runs torch's own (recorded) operations, so gradients of
gradients equal those of plain torch layers. The one exception is a Linear on spikes whose
input needs a gradient: it keeps only the input's bit patterns and says so."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge.errors import StateError
from spikeforge.layers import Conv2d, Linear, MaxPool2d
from spikeforge.network import Sequential


def grads_of_grads(fn: Callable[[Tensor], Tensor], x: Tensor, params: list[Tensor]) -> list[Tensor]:
    """First and second-order gradients of ``sum(fn(x)**2)`` w.r.t. ``params`` (and ``x``)."""
    x = x.clone().requires_grad_(x.requires_grad)
    leaves = [*params, *([x] if x.requires_grad else [])]
    first = torch.autograd.grad(fn(x).pow(2).sum(), leaves, create_graph=True)
    second = torch.autograd.grad(sum(g.pow(2).sum() for g in first), leaves)
    return [*first, *second]


def assert_same(got: list[Tensor], want: list[Tensor]) -> None:
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-3)


def folded(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn`` on ``[T, B, ...]`` through a folded ``[T*B, ...]`` batch."""
    return lambda z: fn(z.flatten(0, 1)).unflatten(0, z.shape[:2])


def test_conv_on_analog_input() -> None:
    torch.manual_seed(0)
    conv = Conv2d(3, 8, 3)
    x = torch.randn(2, 4, 3, 10, 10, requires_grad=True)
    got = grads_of_grads(lambda z: Sequential(conv)(z)[0], x, list(conv.parameters()))
    want = grads_of_grads(folded(lambda z: F.conv2d(z, conv.weight, conv.bias)), x,
                          list(conv.parameters()))  # fmt: skip
    assert_same(got, want)


def test_conv_and_pool_on_spikes() -> None:
    """First order, this layer runs the binary forward, the pooled input gradient and the
    binary weight gradient; second order, torch's backward."""
    torch.manual_seed(1)
    conv = Conv2d(3, 16, 3)
    x = (torch.rand(2, 4, 3, 10, 10) < 0.4).float().requires_grad_()
    net = Sequential(conv, MaxPool2d(2))
    got = grads_of_grads(lambda z: net(z)[0], x, list(conv.parameters()))
    ref = folded(lambda z: F.max_pool2d(F.conv2d(z, conv.weight, conv.bias), 2))
    assert_same(got, grads_of_grads(ref, x, list(conv.parameters())))


def test_pool_alone() -> None:
    x = torch.randn(2, 4, 3, 10, 10, requires_grad=True)
    got = grads_of_grads(lambda z: Sequential(MaxPool2d(2))(z)[0], x, [])
    assert_same(got, grads_of_grads(folded(lambda z: F.max_pool2d(z, 2)), x, []))


def test_data_layer_conv_and_pool() -> None:
    """The fused data-layer kernel (input without gradient)."""
    torch.manual_seed(2)
    conv = Conv2d(1, 12, 5)
    x = torch.rand(2, 4, 1, 16, 16)
    got = grads_of_grads(lambda z: Sequential(conv, MaxPool2d(2))(z)[0], x, list(conv.parameters()))
    ref = folded(lambda z: F.max_pool2d(F.conv2d(z, conv.weight, conv.bias), 2))
    assert_same(got, grads_of_grads(ref, x, list(conv.parameters())))


def test_linear_on_spike_data() -> None:
    torch.manual_seed(3)
    layer = Linear(30, 64)
    x = (torch.rand(5, 3, 30) < 0.4).float()  # data: no gradient
    got = grads_of_grads(layer, x, list(layer.parameters()))
    want = grads_of_grads(lambda z: F.linear(z, layer.weight, layer.bias), x,
                          list(layer.parameters()))  # fmt: skip
    assert_same(got, want)


def test_linear_on_spikes_that_need_a_gradient_says_it_cannot() -> None:
    layer = Linear(30, 64)
    x = (torch.rand(5, 3, 30) < 0.4).float().requires_grad_()
    with pytest.raises(StateError, match=r"second-order gradient.*torch\.nn\.Linear"):
        grads_of_grads(layer, x, list(layer.parameters()))
