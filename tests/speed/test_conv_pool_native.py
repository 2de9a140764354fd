"""The fused data-layer convolution + 2x2 max pool equals ``F.max_pool2d(F.conv2d(...), 2)``.

Exact cases use binary input with small integer weights, bias and output gradients: every
product and sum is then an integer below 2**24, computed exactly in any order, so values,
window winners (ties included: torch's first maximum) and the weight and bias gradients
must be bitwise equal to torch's. Random inputs are compared with a float64 reference.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge import conv_pool_native
from spikeforge.layers import Conv2d, MaxPool2d
from spikeforge.network import Sequential
from spikeforge.neurons import LIF

from .helpers import graph_names

pytestmark = pytest.mark.skipif(
    conv_pool_native._library() is None,
    reason=f"the native conv+pool library cannot be built: {conv_pool_native.build_error()}",
)

#: (in_channels, out_channels, kernel (kh, kw), padding, image (H, W)): 1 and 3 channels,
#: odd and even convolution outputs, channel counts not a multiple of the register block
#: (6), rows wider than one 32-column tile, non-square kernels, kernel width 8.
GEOMETRIES = [
    (1, 12, (5, 5), (0, 0), (28, 28)),
    (3, 64, (3, 3), (1, 1), (32, 32)),
    (2, 5, (3, 3), (2, 2), (13, 13)),
    (1, 7, (2, 8), (0, 3), (9, 70)),
    (3, 4, (5, 3), (1, 0), (11, 10)),
    (1, 1, (1, 1), (0, 0), (3, 5)),
]


def reference(x: Tensor, w: Tensor, b: Tensor | None, padding: tuple[int, int]) -> Tensor:
    return F.max_pool2d(F.conv2d(x, w, b, padding=padding), 2)


def grads(y: Tensor, w: Tensor, b: Tensor, g: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(y, (w, b), g)


def integer_case(geo: tuple, seed: int) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
    c, o, (kh, kw), padding, (h, wd) = geo
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(6, c, h, wd, generator=gen) < 0.4).float()
    w = torch.randint(-2, 3, (o, c, kh, kw), generator=gen).float().requires_grad_()
    b = torch.randint(-2, 3, (o,), generator=gen).float().requires_grad_()
    return x, w, b, padding


@pytest.mark.parametrize("geo", GEOMETRIES, ids=[str(g[:3]) for g in GEOMETRIES])
def test_exact_values_winners_and_gradients(geo: tuple) -> None:
    x, w, b, padding = integer_case(geo, 11)
    assert conv_pool_native.usable(
        x, w, stride=(1, 1), padding=padding, dilation=(1, 1), groups=1, pool=(2, 2)
    )
    y = conv_pool_native.conv2d_maxpool2(x, w, b, padding)
    want = reference(x, w, b, padding)
    assert torch.equal(y, want)
    g = torch.randint(-3, 4, want.shape, generator=torch.Generator().manual_seed(5)).float()
    for got, ref in zip(grads(y, w, b, g), grads(want, w, b, g), strict=True):
        assert torch.equal(got, ref)  # equal gradients: the same winners, ties included


@pytest.mark.parametrize("geo", GEOMETRIES[:3], ids=[str(g[:3]) for g in GEOMETRIES[:3]])
def test_random_inputs_match_float64_reference(geo: tuple) -> None:
    c, o, (kh, kw), padding, (h, wd) = geo
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, c, h, wd, generator=gen)
    w = torch.randn(o, c, kh, kw, generator=gen, requires_grad=True)
    b = torch.randn(o, generator=gen, requires_grad=True)
    y = conv_pool_native.conv2d_maxpool2(x, w, b, padding)
    w64 = w.detach().double().requires_grad_()
    b64 = b.detach().double().requires_grad_()
    want = reference(x.double(), w64, b64, padding)
    torch.testing.assert_close(y.double(), want, rtol=1e-5, atol=1e-5)
    g = torch.randn(want.shape, generator=gen)
    gw, gb = grads(y, w, b, g)
    rw, rb = torch.autograd.grad(want, (w64, b64), g.double())
    torch.testing.assert_close(gw.double(), rw, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(gb.double(), rb, rtol=1e-4, atol=1e-3)


def test_nan_wins_its_window_like_torch() -> None:
    """A NaN pixel makes every convolution output over it NaN; the pooled value is NaN
    wherever torch's is, and equal elsewhere."""
    x, w, b, padding = integer_case(GEOMETRIES[0], 2)
    x[0, 0, 10, 10] = float("nan")
    y = conv_pool_native.conv2d_maxpool2(x, w, b, padding)
    want = reference(x, w, b, padding)
    assert torch.equal(y.isnan(), want.isnan()) and bool(y.isnan().any())
    assert torch.equal(y[~y.isnan()], want[~want.isnan()])


def test_thread_counts_give_exact_integer_results() -> None:
    x, w, b, padding = integer_case(GEOMETRIES[1], 4)
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            y = conv_pool_native.conv2d_maxpool2(x, w, b, padding)
            outs.append((y, *grads(y, w, b, torch.ones_like(y))))
    finally:
        torch.set_num_threads(threads)
    for other in outs[1:]:
        for a, c in zip(outs[0], other, strict=True):
            assert torch.equal(a, c)


def test_no_bias_and_no_weight_gradient() -> None:
    x, w, _, padding = integer_case(GEOMETRIES[2], 6)
    y = conv_pool_native.conv2d_maxpool2(x, w, None, padding)
    assert torch.equal(y, reference(x, w, None, padding))
    (gw,) = torch.autograd.grad(y.sum(), (w,))
    (rw,) = torch.autograd.grad(reference(x, w, None, padding).sum(), (w,))
    assert torch.equal(gw, rw)
    with torch.no_grad():
        assert torch.equal(conv_pool_native.conv2d_maxpool2(x, w, None, padding), y.detach())


@pytest.mark.parametrize("static", [False, True])
def test_network_first_layer_runs_the_kernel_and_equals_torch(static: bool) -> None:
    """In a Sequential, a data convolution followed by MaxPool2d(2) runs the fused kernel
    (rate-coded [T, B, ...] input and a static image with num_steps); the network's output
    and parameter gradients equal the same network run through torch's layers."""
    torch.manual_seed(0)
    net = Sequential(Conv2d(1, 6, 5), MaxPool2d(2), LIF(0.9))
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(1 if static else 4, 3, 1, 12, 12, generator=gen) < 0.5).float()
    with torch.no_grad():
        net[0].weight.copy_(torch.randint(-2, 3, net[0].weight.shape, generator=gen))
        net[0].bias.copy_(torch.randint(-2, 3, net[0].bias.shape, generator=gen))
    out = net(x[0], num_steps=4)[0] if static else net(x)[0]
    assert "_ConvMaxPoolBackward" in graph_names(out)
    conv, lif = net[0], net[2]
    steps = 4
    folded = x.reshape(-1, 1, 12, 12)
    pooled = F.max_pool2d(F.conv2d(folded, conv.weight, conv.bias), 2).reshape(
        x.shape[0], 3, 6, 4, 4
    )
    want = lif(pooled[0], num_steps=steps)[0] if static else lif(pooled)[0]
    assert torch.equal(out, want)
    g = torch.randn(out.shape, generator=gen)
    got = torch.autograd.grad(out, (conv.weight, conv.bias), g)
    ref = torch.autograd.grad(want, (conv.weight, conv.bias), g)
    for a, c in zip(got, ref, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("case", "layer", "x"),
    [
        ("input needs a gradient", Conv2d(1, 4, 3), torch.rand(2, 3, 1, 8, 8).requires_grad_()),
        ("float64", Conv2d(1, 4, 3).double(), torch.rand(2, 3, 1, 8, 8, dtype=torch.float64)),
        ("stride 2", Conv2d(1, 4, 3, stride=2), torch.rand(2, 3, 1, 9, 9)),
        ("kernel wider than 8", Conv2d(1, 4, (3, 9)), torch.rand(2, 3, 1, 8, 12)),
        ("wide input", Conv2d(16, 4, 3), torch.rand(2, 3, 16, 8, 8)),
        ("string padding", Conv2d(1, 4, 3, padding="same"), torch.rand(2, 3, 1, 8, 8)),
    ],
)
def test_other_convolutions_run_the_chunked_path(case: str, layer: Conv2d, x: Tensor) -> None:
    net = Sequential(layer, MaxPool2d(2))
    y = net(x)[0]
    assert "_ConvMaxPoolBackward" not in graph_names(y), case
    folded = x.reshape(-1, *x.shape[2:])
    want = F.max_pool2d(layer._conv_forward(folded, layer.weight, layer.bias), 2)
    torch.testing.assert_close(y.reshape(want.shape), want, rtol=0, atol=1e-12)
