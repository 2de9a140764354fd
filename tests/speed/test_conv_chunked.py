"""The chunked convolution (swapped-role weight gradient, fused max pool) equals torch's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge import pool_native
from spikeforge.conv import ConvSpec, conv2d_chunked
from spikeforge.layers import Conv2d, Flatten, Linear, MaxPool2d
from spikeforge.network import Sequential
from spikeforge.neurons import LIF

from .helpers import graph_names

F64 = torch.float64

# (stride, padding, dilation, kernel, H, W, in, out, chunk)
CASES = [
    ((1, 1), (0, 0), (1, 1), (5, 5), 12, 12, 3, 4, 7),
    ((2, 2), (1, 1), (1, 1), (3, 3), 11, 10, 2, 3, 5),
    ((1, 2), (2, 1), (2, 1), (3, 2), 9, 13, 2, 5, 4),
    ((3, 3), (0, 0), (2, 2), (2, 2), 14, 15, 1, 2, 100),  # leftover rows past the last window
    ((2, 1), (1, 0), (1, 3), (4, 3), 16, 17, 3, 2, 6),
    ((1, 1), (0, 0), (1, 1), (1, 1), 5, 5, 4, 4, 13),  # one chunk, 1x1 kernel
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("swapped", [True, False])
def test_values_and_gradients_equal_torch_in_float64(
    case: tuple, with_bias: bool, swapped: bool
) -> None:
    stride, padding, dilation, kernel, h, w, c_in, c_out, chunk = case
    spec = ConvSpec(stride, padding, dilation, chunk, swapped)
    gen = torch.Generator().manual_seed(hash(case) % 2**31)
    x = torch.randn(13, c_in, h, w, dtype=F64, generator=gen, requires_grad=True)
    weight = torch.randn(c_out, c_in, *kernel, dtype=F64, generator=gen, requires_grad=True)
    bias = torch.randn(c_out, dtype=F64, generator=gen, requires_grad=True) if with_bias else None
    got = conv2d_chunked(x, weight, bias, spec)
    want = F.conv2d(x, weight, bias, stride, padding, dilation)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    g = torch.randn(want.shape, dtype=F64, generator=gen)
    leaves = [t for t in (x, weight, bias) if t is not None]
    for a, b in zip(
        torch.autograd.grad(got, leaves, g), torch.autograd.grad(want, leaves, g), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_gradcheck() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 6, 7, dtype=F64, generator=gen, requires_grad=True)
    weight = torch.randn(3, 2, 3, 2, dtype=F64, generator=gen, requires_grad=True)
    bias = torch.randn(3, dtype=F64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: conv2d_chunked(a, b, c, ConvSpec((2, 1), (1, 1), (1, 2), 2, True)),
        (x, weight, bias),
    )


def test_input_without_grad_gets_none_and_weight_grad_is_still_right() -> None:
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(9, 1, 8, 8, generator=gen) < 0.4).to(F64)  # binary, like input spikes
    weight = torch.randn(2, 1, 3, 3, dtype=F64, generator=gen, requires_grad=True)
    y = conv2d_chunked(x, weight, None, ConvSpec(chunk=4, swapped=True))
    (gw,) = torch.autograd.grad(y.square().sum(), [weight])
    (want,) = torch.autograd.grad(F.conv2d(x, weight).square().sum(), [weight])
    torch.testing.assert_close(gw, want, rtol=0, atol=1e-10)


def test_layer_runs_the_chunked_function_without_swapping() -> None:
    """Conv2d runs its convolution through the chunked function with oneDNN's own weight
    gradient (the swapped-role variant stays an explicit ConvSpec option); a grouped
    convolution, which the function does not cover, runs torch's."""
    x = torch.randn(4, 3, 2, 6, 6)
    for conv in (Conv2d(2, 12, 3), Conv2d(2, 64, 3)):
        spec = conv.conv_spec(x)
        assert spec is not None and not spec.swapped
        assert "_ChunkedConv2dBackward" in graph_names(conv(x))
    grouped = Conv2d(2, 4, 3, groups=2)
    assert grouped.conv_spec(x) is None
    assert "ConvolutionBackward0" in graph_names(grouped(x))


def test_layer_over_time_equals_folded_torch_convolution() -> None:
    torch.manual_seed(0)
    conv = Conv2d(1, 6, 5, padding=2).double()
    x = torch.rand(7, 100, 1, 10, 10, dtype=F64, requires_grad=True)  # 700 images: 2 chunks
    y = conv(x)
    ref = F.conv2d(x.reshape(700, 1, 10, 10), conv.weight, conv.bias, padding=2)
    torch.testing.assert_close(y, ref.reshape(7, 100, 6, 10, 10), rtol=0, atol=1e-12)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, conv.weight, conv.bias], g)
    want = torch.autograd.grad(ref.reshape(y.shape), [x, conv.weight, conv.bias], g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("pool", [(2, 2), (3, 3), (2, 3)])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("size", [(13, 14), (10, 10)], ids=["odd-output", "even-output"])
def test_fused_max_pool_equals_conv_then_pool(
    pool: tuple[int, int],
    binary: bool,
    native: bool,
    size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Binary input and integer weights make many equal values: torch's first-maximum rule.
    Both pooling paths: the native kernel (uint8 positions; an 8x8 convolution output runs
    its 2x2 row-pair path) and torch's (int64 indices)."""
    if native and not pool_native.usable(torch.zeros(1, 1, 4, 4), pool):
        pytest.skip(f"native pooling library unavailable: {pool_native.build_error()}")
    if not native:
        monkeypatch.setattr(pool_native, "usable", lambda *_: False)
    gen = torch.Generator().manual_seed(7)
    if binary:
        x = (torch.rand(11, 2, *size, generator=gen) < 0.3).to(F64)
        weight = torch.randint(-1, 2, (3, 2, 3, 3), generator=gen).to(F64)
    else:
        x = torch.randn(11, 2, *size, dtype=F64, generator=gen)
        weight = torch.randn(3, 2, 3, 3, dtype=F64, generator=gen)
    x.requires_grad_()
    weight.requires_grad_()
    bias = torch.randn(3, dtype=F64, generator=gen, requires_grad=True)
    for swapped in (True, False):
        got = conv2d_chunked(x, weight, bias, ConvSpec(chunk=4, swapped=swapped, pool=pool))
        want = F.max_pool2d(F.conv2d(x, weight, bias), pool)
        assert torch.equal(got, want)
        g = torch.randn(want.shape, dtype=F64, generator=gen)
        for a, b in zip(
            torch.autograd.grad(got, (x, weight, bias), g),
            torch.autograd.grad(want, (x, weight, bias), g),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def _net() -> Sequential:
    torch.manual_seed(3)
    return Sequential(
        Conv2d(1, 4, 3),
        MaxPool2d(2),
        LIF(0.8, threshold=0.3),
        Conv2d(4, 6, 3, padding=1),
        MaxPool2d(2),
        LIF(0.8, threshold=0.1),
        Flatten(),
        Linear(6 * 3 * 3, 5),
        LIF(0.8, threshold=0.02),
    ).double()


@pytest.mark.parametrize("static", [False, True])
def test_network_fuses_conv_and_pool_with_the_same_values_and_gradients(static: bool) -> None:
    net = _net()
    gen = torch.Generator().manual_seed(5)
    x = torch.rand((6, 1, 14, 14) if static else (6, 3, 1, 14, 14), dtype=F64, generator=gen)
    steps = 5 if static else None
    fused, _ = net(x, num_steps=steps)
    names = graph_names(fused)
    assert "_ChunkedConv2dBackward" in names
    assert not any("MaxPool" in n for n in names)
    # a hook on a convolution turns fusion off for it (the hook must see its output)
    handles = [m.register_forward_hook(lambda *a: None) for m in net if isinstance(m, Conv2d)]
    plain, _ = net(x, num_steps=steps)
    assert any("MaxPool" in n for n in graph_names(plain))
    for h in handles:
        h.remove()
    assert fused.sum() > 0
    assert torch.equal(fused, plain)
    w = torch.randn(fused.shape, dtype=F64, generator=gen)
    params = list(net.parameters())
    for a, b in zip(
        torch.autograd.grad((fused * w).sum(), params),
        torch.autograd.grad((plain * w).sum(), params),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
