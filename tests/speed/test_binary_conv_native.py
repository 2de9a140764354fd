"""The binary-input convolution (im2col patterns + the binary linear kernels) equals
``F.conv2d``.

Exact cases use binary input with small integer weights, bias and output gradients (every
partial sum an exact integer), so values and the input, weight and bias gradients must be
bitwise equal to torch's, through :func:`spikeforge.conv.conv2d_chunked` with and without
the max pool after it. Geometries cover stride, padding, dilation, non-square kernels, a
kernel width of 32 (the widest), ``C*KH*KW`` and the number of output positions not a
multiple of a pattern (8 values, 4 positions), and rows of more than 64 padded columns.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge import binary_conv_native as bc
from spikeforge import binary_linear_native as bl
from spikeforge.conv import ConvSpec, conv2d_chunked
from spikeforge.layers import Conv2d, MaxPool2d
from spikeforge.network import Sequential
from spikeforge.neurons import LIF

from .helpers import count_calls

pytestmark = pytest.mark.skipif(
    bl._library() is None,
    reason=f"the native binary-linear library cannot be built: {bl.build_error()}",
)

#: (C, O, (KH, KW), stride, padding, dilation, (H, W))
GEOMETRIES = [
    (12, 64, (5, 5), (1, 1), (0, 0), (1, 1), (12, 12)),
    (3, 16, (3, 7), (2, 1), (1, 2), (1, 1), (9, 70)),
    (2, 9, (3, 3), (1, 2), (2, 1), (2, 3), (11, 13)),
    (1, 8, (1, 32), (1, 3), (0, 4), (1, 1), (3, 80)),
    (5, 20, (2, 2), (2, 2), (0, 0), (1, 1), (8, 8)),
    (1, 8, (1, 1), (1, 1), (0, 0), (1, 1), (1, 1)),
]


def integer_case(geo: tuple, n: int, seed: int) -> tuple[Tensor, Tensor, Tensor, ConvSpec]:
    c, o, (kh, kw), stride, padding, dilation, (h, w) = geo
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, c, h, w, generator=gen) < 0.4).float()
    wt = torch.randint(-3, 4, (o, c, kh, kw), generator=gen).float()
    b = torch.randint(-3, 4, (o,), generator=gen).float()
    spec = ConvSpec(stride=stride, padding=padding, dilation=dilation, chunk=4)
    return x, wt, b, spec


def reference(x: Tensor, w: Tensor, b: Tensor, spec: ConvSpec) -> Tensor:
    y = F.conv2d(x, w, b, spec.stride, spec.padding, spec.dilation)
    return F.max_pool2d(y, spec.pool) if spec.pool is not None else y


def values_and_grads(fn, x: Tensor, w: Tensor, b: Tensor, seed: int) -> tuple[Tensor, ...]:
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    y = fn(x, w, b)
    g = torch.randint(-2, 3, y.shape, generator=torch.Generator().manual_seed(seed)).float()
    return (y.detach(), *torch.autograd.grad(y, (x, w, b), g))


#: every geometry alone, and followed by a 2x2 max pool where its output holds a window
CASES = [(g, None) for g in GEOMETRIES] + [(g, (2, 2)) for g in GEOMETRIES if min(g[6]) >= 8]


@pytest.mark.parametrize("geo,pool", CASES, ids=[f"{g[2:6]}-pool{p}" for g, p in CASES])
def test_exact_values_and_gradients(geo: tuple, pool: tuple[int, int] | None) -> None:
    x, w, b, spec = integer_case(geo, n=9, seed=sum(geo[2]))
    spec = ConvSpec(spec.stride, spec.padding, spec.dilation, chunk=4, pool=pool)
    assert bc.usable(x, w)
    got = values_and_grads(lambda *a: conv2d_chunked(*a, spec), x, w, b, seed=1)
    want = values_and_grads(lambda *a: reference(*a, spec), x, w, b, seed=1)
    for a, e in zip(got, want, strict=True):
        assert torch.equal(a, e)


@pytest.mark.parametrize("geo", GEOMETRIES, ids=[str(g[2:6]) for g in GEOMETRIES])
def test_patterns_are_the_packed_im2col_matrix(geo: tuple) -> None:
    x, w, _, spec = integer_case(geo, n=3, seed=2)
    rows = bc.pack(x, w, spec.stride, spec.padding, spec.dilation)
    assert rows is not None
    kh, kw = w.shape[2:]
    cols_matrix = F.unfold(x, (kh, kw), spec.dilation, spec.padding, spec.stride)  # [n, K, P]
    im2col = cols_matrix.transpose(1, 2).reshape(-1, cols_matrix.shape[1])  # rows (n, oy, ox)
    n_rows, k = im2col.shape
    rb = bl.ROW_BITS
    want_rows = F.pad(im2col, (0, -k % rb)).reshape(n_rows, -1, rb) * 2.0 ** torch.arange(rb)
    assert torch.equal(rows.float(), want_rows.sum(-1))


def test_a_chunk_that_is_not_binary_runs_torch() -> None:
    x, w, b, spec = integer_case(GEOMETRIES[0], n=8, seed=3)
    x[5, 2, 3, 4] = 0.5  # the second chunk of 4 is not binary
    assert bc.pack(x[4:], w, spec.stride, spec.padding, spec.dilation) is None
    got = values_and_grads(lambda *a: conv2d_chunked(*a, spec), x, w, b, seed=4)
    want = values_and_grads(lambda *a: reference(*a, spec), x, w, b, seed=4)
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-4)


def test_random_weights_within_float32_rounding() -> None:
    gen = torch.Generator().manual_seed(5)
    x = (torch.rand(6, 12, 12, 12, generator=gen) < 0.5).float()
    w, b = torch.randn(64, 12, 5, 5, generator=gen), torch.randn(64, generator=gen)
    spec = ConvSpec(chunk=4)
    got = values_and_grads(lambda *a: conv2d_chunked(*a, spec), x, w, b, seed=6)
    ref = values_and_grads(
        lambda *a: reference(*a, spec), x.double(), w.double(), b.double(), seed=6
    )
    eps = torch.finfo(torch.float32).eps
    y_bound = 300 * eps * (F.conv2d(x, w.abs()) + b.abs()[:, None, None])
    assert ((got[0].double() - ref[0]).abs() <= y_bound.double()).all()
    for a, e in zip(got[1:], ref[1:], strict=True):
        torch.testing.assert_close(a.double(), e, rtol=1e-5, atol=1e-4)


def test_binary_off_and_float64_run_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(bc, "weight_grad", lambda *a: calls.append(1))  # must not run
    x, w, b, spec = integer_case(GEOMETRIES[0], n=4, seed=7)
    off = ConvSpec(chunk=4, binary=False)
    values_and_grads(lambda *a: conv2d_chunked(*a, off), x, w, b, seed=8)
    values_and_grads(lambda *a: conv2d_chunked(*a, spec), x.double(), w.double(), b.double(), 8)
    assert calls == []
    assert not bc.usable(x, w[:7])  # fewer output channels than the kernel takes


def test_results_do_not_depend_on_the_thread_count() -> None:
    gen = torch.Generator().manual_seed(9)
    x = (torch.rand(7, 12, 12, 12, generator=gen) < 0.5).float()
    w, b = torch.randn(64, 12, 5, 5, generator=gen), torch.randn(64, generator=gen)
    spec = ConvSpec(chunk=4, pool=(2, 2))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = values_and_grads(lambda *a: conv2d_chunked(*a, spec), x, w, b, seed=10)
        torch.set_num_threads(max(2, threads))
        many = values_and_grads(lambda *a: conv2d_chunked(*a, spec), x, w, b, seed=10)
    finally:
        torch.set_num_threads(threads)
    for a, e in zip(one, many, strict=True):  # the pooled input gradient too
        assert torch.equal(a, e)


def test_conv_net_on_spikes_uses_the_binary_weight_gradient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = count_calls(monkeypatch, bc, "weight_grad_pooled")
    torch.manual_seed(0)
    net = Sequential(
        Conv2d(1, 12, 5), MaxPool2d(2), LIF(0.9), Conv2d(12, 16, 3), MaxPool2d(2), LIF(0.9)
    )
    x = (torch.rand(4, 3, 1, 20, 20) < 0.5).float()
    out = net(x)[0]
    grads = torch.autograd.grad(out.sum(), list(net.parameters()))
    assert calls  # the second convolution's input is spikes
    monkeypatch.setattr(bc, "usable", lambda *a: False)
    out_ref = net(x)[0]
    grads_ref = torch.autograd.grad(out_ref.sum(), list(net.parameters()))
    assert len(calls) == 1
    torch.testing.assert_close(out, out_ref, rtol=0, atol=0)
    for a, e in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


#: the geometries whose output holds a 2x2 window (odd heights and widths among them)
POOLABLE = [g for g in GEOMETRIES if min(bc.output_size(*integer_case(g, 1, 0)[:2], *g[3:6])) >= 2]


def torch_winners(y: Tensor) -> Tensor:
    """The row-major position in its 2x2 window of each winner of ``F.max_pool2d``."""
    _, flat = F.max_pool2d(y, 2, return_indices=True)
    ow = y.shape[3]
    py = torch.arange(flat.shape[2])[:, None]
    px = torch.arange(flat.shape[3])
    return ((flat // ow - 2 * py) * 2 + (flat % ow - 2 * px)).to(torch.uint8)


@pytest.mark.parametrize("max_groups", [1, 3, bl.MAX_GROUPS])
@pytest.mark.parametrize("geo", POOLABLE, ids=[str(g[2:6]) for g in POOLABLE])
def test_the_pooled_forward_is_torchs_pool_of_the_convolution(
    geo: tuple, max_groups: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bl, "MAX_GROUPS", max_groups)  # inputs cut into blocks of groups
    x, w, b, spec = integer_case(geo, n=5, seed=11)  # integer sums: ties in most windows
    rows = bc.pack(x, w, spec.stride, spec.padding, spec.dilation)
    assert rows is not None
    out_size = bc.output_size(x, w, spec.stride, spec.padding, spec.dilation)
    y, idx = bc.conv_forward_pooled(rows, w, b, len(x), out_size)
    conv = F.conv2d(x, w, b, spec.stride, spec.padding, spec.dilation)
    assert torch.equal(y, F.max_pool2d(conv, 2))
    assert torch.equal(idx, torch_winners(conv))


def test_the_pooled_forward_keeps_torchs_rule_for_nan_and_infinity() -> None:
    geo = GEOMETRIES[2]  # odd output height and width: the last row and column are dropped
    x, w, b, spec = integer_case(geo, n=4, seed=12)
    w[0, 0, 1, 1], w[1, 1, 0, 2], w[2, 0, 2, 0] = float("nan"), float("-inf"), float("inf")
    b[3] = float("nan")  # a whole channel of NaN: torch's winner is the window's last
    rows = bc.pack(x, w, spec.stride, spec.padding, spec.dilation)
    assert rows is not None
    out_size = bc.output_size(x, w, spec.stride, spec.padding, spec.dilation)
    conv = bc.conv_forward(rows, w, b, len(x), out_size)  # a 0 input skips its weight
    assert conv[:, 0].isnan().any() and not conv[:, 0].isnan().all()
    y, idx = bc.conv_forward_pooled(rows, w, b, len(x), out_size)
    torch.testing.assert_close(y, F.max_pool2d(conv, 2), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(idx, torch_winners(conv))


@pytest.mark.parametrize("max_groups", [1, 3, bl.MAX_GROUPS])
@pytest.mark.parametrize("geo", GEOMETRIES, ids=[str(g[2:6]) for g in GEOMETRIES])
def test_the_weight_gradients_from_row_patterns_are_torchs(
    geo: tuple, max_groups: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bl, "MAX_GROUPS", max_groups)
    x, w, b, spec = integer_case(geo, n=7, seed=13)
    rows = bc.pack(x, w, spec.stride, spec.padding, spec.dilation)
    assert rows is not None
    wr = w.clone().requires_grad_()
    conv = F.conv2d(x, wr, b, spec.stride, spec.padding, spec.dilation)
    gen = torch.Generator().manual_seed(14)
    gy = torch.randint(-2, 3, conv.shape, generator=gen).float()
    (want,) = torch.autograd.grad(conv, wr, gy, retain_graph=True)
    assert torch.equal(bc.weight_grad(rows, gy, w.shape), want)
    if min(conv.shape[2:]) < 2:
        return
    pooled = F.max_pool2d(conv, 2)
    gp = torch.randint(-2, 3, pooled.shape, generator=gen).float()
    (want_pooled,) = torch.autograd.grad(pooled, wr, gp)
    got = bc.weight_grad_pooled(rows, gp, torch_winners(conv.detach()), w.shape, conv.shape[2:])
    assert torch.equal(got, want_pooled)
