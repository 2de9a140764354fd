"""Networks with fused neurons equal the same networks on the reference loop."""

from __future__ import annotations

import copy

import pytest
import torch

from spikeforge.layers import Conv2d, Flatten, Linear, MaxPool2d
from spikeforge.network import Sequential
from spikeforge.neurons import ALIF, IF, LIF, Backend, set_backend


def _grads(net: Sequential, x: torch.Tensor, num_steps: int | None) -> tuple[torch.Tensor, list]:
    x = x.detach().requires_grad_()
    out, _ = net(x, num_steps=num_steps)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum()
    return out, torch.autograd.grad(loss, [x, *net.parameters()])


@pytest.mark.parametrize("static", [True, False], ids=["static", "sequence"])
def test_mlp_fused_equals_reference_and_static_equals_expanded(static: bool) -> None:
    """Static input through the fused path == T explicit copies through the reference path."""
    torch.manual_seed(0)
    net = Sequential(
        Flatten(),
        Linear(12, 16),
        LIF(0.8, learn_beta=True, learn_threshold=True, shape=(16,)),
        Linear(16, 8),
        ALIF(0.9, jump=0.1),
        Linear(8, 3),
        IF(threshold=0.5),
    ).double()
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, Linear):
                layer.weight.mul_(4.0)
    steps, x = 7, 2.0 * torch.rand(4, 3, 4, dtype=torch.float64)
    ref_net = set_backend(copy.deepcopy(net), Backend.REFERENCE)
    out_r, g_r = _grads(ref_net, x.expand(steps, *x.shape), None)
    if static:
        out_f, g_f = _grads(net, x, steps)
        g_r = [g_r[0].sum(0), *g_r[1:]]  # a static input's gradient is the sum over steps
    else:
        out_f, g_f = _grads(net, x.expand(steps, *x.shape), None)
    assert out_r.sum() > 0
    assert torch.equal(out_r, out_f)
    for a, b in zip(g_r, g_f, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_conv_net_static_input_fused_equals_reference() -> None:
    """Conv -> pool -> LIF with a static image: weight gradients equal the reference's."""
    torch.manual_seed(1)
    net = Sequential(
        Conv2d(1, 4, 3),
        MaxPool2d(2),
        LIF(0.9, threshold=0.3),
        Flatten(),
        Linear(36, 5),
        LIF(),
    ).double()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    ref_net = set_backend(copy.deepcopy(net), Backend.REFERENCE)
    out_r, g_r = _grads(ref_net, x, 6)
    out_f, g_f = _grads(net, x, 6)
    assert out_r.sum() > 0
    assert torch.equal(out_r, out_f)
    for a, b in zip(g_r, g_f, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_set_backend_reaches_every_neuron() -> None:
    net = Sequential(Linear(3, 3), LIF(), Linear(3, 2), ALIF())
    set_backend(net, Backend.TORCH)
    assert [m.backend for _, m in net.neuron_layers()] == [Backend.TORCH, Backend.TORCH]
