"""The binary-input linear kernel equals ``F.linear``.

Exact cases use binary input with small integer weights, bias and output gradients: every
partial sum is then an integer below 2**24, exact in any order, so values and the input,
weight and bias gradients must be bitwise equal to torch's. Sizes cover inputs and samples
that are not a multiple of a pattern (8 inputs, 4 samples) or of a pass (8 lanes), outputs
that are not a multiple of a 16-wide tile, and blocks of one table (max_groups, max_quads
small). Random weights are compared with a float64 reference under a rounding bound.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge import binary_conv_native as bc
from spikeforge import binary_linear_native as bl
from spikeforge.layers import Linear
from spikeforge.native import NativeLibrary
from spikeforge.network import Sequential
from spikeforge.neurons import LIF

from .helpers import graph_names

pytestmark = pytest.mark.skipif(
    bl._library() is None,
    reason=f"the native binary-linear library cannot be built: {bl.build_error()}",
)

#: (samples N, inputs K, outputs O)
SIZES = [(1, 1, 64), (5, 13, 70), (8, 16, 64), (37, 100, 97), (200, 784, 130), (9, 7, 65)]
#: (max_groups, max_quads): one table per block, uneven blocks, the defaults
BLOCKS = [(1, 1), (3, 2), (bl.MAX_GROUPS, bl.MAX_QUADS)]


def integer_case(n: int, k: int, o: int, seed: int) -> tuple[Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, k, generator=gen) < 0.45).float()
    w = torch.randint(-3, 4, (o, k), generator=gen).float()
    b = torch.randint(-3, 4, (o,), generator=gen).float()
    g = torch.randint(-2, 3, (n, o), generator=gen).float()
    return x, w, b, g


def forward_backward(fn, x: Tensor, w: Tensor, b: Tensor | None, g: Tensor) -> tuple[Tensor, ...]:
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    b = b.clone().requires_grad_() if b is not None else None
    y = fn(x, w, b)
    leaves = (x, w) if b is None else (x, w, b)
    return (y.detach(), *torch.autograd.grad(y, leaves, g))


@pytest.mark.parametrize("blocks", BLOCKS, ids=str)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_exact_values_and_gradients(size: tuple[int, int, int], blocks: tuple[int, int]) -> None:
    x, w, b, g = integer_case(*size, seed=sum(size))

    def kernel(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return bl.linear(x, w, b, max_groups=blocks[0], max_quads=blocks[1])

    got = forward_backward(kernel, x, w, b, g)
    want = forward_backward(F.linear, x, w, b, g)
    for a, e in zip(got, want, strict=True):
        assert torch.equal(a, e)


def test_without_bias_and_leading_dimensions() -> None:
    x, w, _, g = integer_case(3 * 5, 40, 80, seed=3)
    x3, g3 = x.reshape(3, 5, 40), g.reshape(3, 5, 80)
    got = forward_backward(bl.linear, x3, w, None, g3)
    want = forward_backward(F.linear, x3, w, None, g3)
    assert got[0].shape == (3, 5, 80)
    for a, e in zip(got, want, strict=True):
        assert torch.equal(a, e)


def test_random_weights_within_float32_rounding() -> None:
    gen = torch.Generator().manual_seed(5)
    n, k, o = 300, 784, 200
    x = (torch.rand(n, k, generator=gen) < 0.5).float()
    w = torch.randn(o, k, generator=gen)
    b = torch.randn(o, generator=gen)
    g = torch.randn(n, o, generator=gen)
    got = forward_backward(bl.linear, x, w, b, g)
    ref = forward_backward(F.linear, x.double(), w.double(), b.double(), g.double())
    eps = torch.finfo(torch.float32).eps
    # each result is a sum of at most m terms; any summation order errs by <= m * eps * sum|terms|
    bounds = (
        k * eps * (x @ w.abs().t() + b.abs()),
        o * eps * (g.abs() @ w.abs()),
        n * eps * (g.abs().t() @ x),
        n * eps * g.abs().sum(0),
    )
    for a, e, bound in zip(got, ref, bounds, strict=True):
        assert ((a.double() - e).abs() <= bound.double() + 1e-30).all()


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, float("nan"), float("inf")])
def test_non_binary_input_runs_f_linear(bad: float) -> None:
    x, w, b, _ = integer_case(20, 30, 64, seed=7)
    x[13, 17] = bad
    assert bl.pack(x, columns=True) is None
    xg = x.clone().requires_grad_()
    y = bl.linear(xg, w, b)
    assert "_BinaryLinearBackward" not in graph_names(y)
    torch.testing.assert_close(y, F.linear(x, w, b), equal_nan=True)


def test_negative_zero_counts_as_zero() -> None:
    x, w, b, _ = integer_case(10, 24, 64, seed=8)
    x[x == 0] = -0.0
    assert bl.pack(x, columns=False) is not None
    assert torch.equal(bl.linear(x, w, b), F.linear(x, w, b))


@pytest.mark.parametrize("n,k", [(1, 1), (9, 17), (16, 32), (13, 70)])
def test_patterns_follow_their_formula(n: int, k: int) -> None:
    x = (torch.rand(n, k, generator=torch.Generator().manual_seed(n * k)) < 0.5).float()
    packed = bl.pack(x, columns=True)
    assert packed is not None
    rows, cols = packed
    rb, cb = bl.ROW_BITS, bl.COL_BITS
    xr = F.pad(x, (0, -k % rb)).reshape(n, -1, rb)  # [n, groups, 8]
    want_rows = (xr * 2.0 ** torch.arange(rb)).sum(-1)
    xc = F.pad(x.t(), (0, -n % cb)).reshape(k, -1, cb)  # [k, quads, 4]
    want_cols = (xc * 2.0 ** torch.arange(cb)).sum(-1)
    assert torch.equal(rows.float(), want_rows)
    assert cols is not None and torch.equal(cols.float(), want_cols)


def test_results_do_not_depend_on_the_thread_count() -> None:
    gen = torch.Generator().manual_seed(9)
    x = (torch.rand(333, 200, generator=gen) < 0.5).float()
    w, b, g = (
        torch.randn(150, 200, generator=gen),
        torch.randn(150, generator=gen),
        torch.randn(333, 150, generator=gen),
    )
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = forward_backward(bl.linear, x, w, b, g)
        torch.set_num_threads(max(2, threads))
        many = forward_backward(bl.linear, x, w, b, g)
    finally:
        torch.set_num_threads(threads)
    for a, e in zip(one[:3], many[:3], strict=True):  # the input gradient is torch's own GEMM
        assert torch.equal(a, e)


def test_backward_keeps_packed_patterns_not_the_input() -> None:
    x, w, b, _ = integer_case(256, 512, 128, seed=10)
    w.requires_grad_()
    saved: list[Tensor] = []

    def pack_hook(t: Tensor) -> Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        y = bl.linear(x, w, b)
    assert "_BinaryLinearBackward" in graph_names(y)
    extra = [t for t in saved if t.data_ptr() != w.data_ptr()]
    assert sum(t.numel() * t.element_size() for t in extra) == 512 * 256 // 4  # 2 bits a value


def test_no_grad_forward_packs_no_columns() -> None:
    x, w, b, _ = integer_case(12, 40, 64, seed=12)
    with torch.no_grad():
        y = bl.linear(x, w.requires_grad_(), b)
    assert torch.equal(y, F.linear(x, w.detach(), b))


def test_usable_only_for_float32_cpu_and_wide_layers() -> None:
    x = torch.ones(4, 10)
    assert bl.usable(x, torch.zeros(bl.MIN_OUT_FEATURES, 10))
    assert not bl.usable(x, torch.zeros(bl.MIN_OUT_FEATURES - 1, 10))
    assert not bl.usable(x.double(), torch.zeros(64, 10).double())
    assert not bl.usable(torch.ones(0, 10), torch.zeros(64, 10))
    assert not bl.usable(x, torch.zeros(64, 11))


def test_linear_layer_runs_the_kernel_on_spikes_only() -> None:
    torch.manual_seed(0)
    layer = Linear(30, 64)
    ref = torch.nn.Linear(30, 64)
    ref.load_state_dict(layer.state_dict())
    spikes = (torch.rand(5, 3, 30) < 0.3).float()
    y = layer(spikes)
    assert "_BinaryLinearBackward" in graph_names(y)
    torch.testing.assert_close(y, ref(spikes), rtol=0, atol=1e-5)
    analog = torch.rand(5, 3, 30)
    assert "_BinaryLinearBackward" not in graph_names(layer(analog))
    narrow = Linear(30, bl.MIN_OUT_FEATURES - 1)
    assert "_BinaryLinearBackward" not in graph_names(narrow(spikes))


def test_hidden_layer_on_spikes_trains_like_torch() -> None:
    """Linear -> LIF -> Linear -> LIF on rate spikes: the loss and every parameter gradient
    equal those of the same network with ``nn.Linear`` (F.linear) to float32 rounding."""
    torch.manual_seed(1)
    net = Sequential(Linear(50, 96), LIF(0.9), Linear(96, 64), LIF(0.9))
    x = (torch.rand(6, 4, 50) < 0.4).float()
    out = net(x)[0]
    assert "_BinaryLinearBackward" in graph_names(out)
    grads = torch.autograd.grad(out.sum(), list(net.parameters()))
    plain = Sequential(torch.nn.Linear(50, 96), LIF(0.9), torch.nn.Linear(96, 64), LIF(0.9))
    plain.load_state_dict(net.state_dict())
    out_ref = plain(x)[0]
    grads_ref = torch.autograd.grad(out_ref.sum(), list(plain.parameters()))
    torch.testing.assert_close(out, out_ref, rtol=0, atol=0)
    for a, e in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


def test_the_portable_pattern_lists_equal_the_avx512_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Built without AVX-512 VBMI2, the nonzero-pattern lists take their scalar path; a
    linear layer and a pooled convolution on spikes must give the same exact results."""
    portable = NativeLibrary(bl._NATIVE.source, ("-mno-avx512vbmi2",), bl._NATIVE.signatures)
    if portable.load() is None:
        pytest.skip(f"cannot build without VBMI2: {portable.error}")
    x, w, b, g = integer_case(37, 100, 97, seed=21)
    gen = torch.Generator().manual_seed(22)
    xc = (torch.rand(3, 12, 12, 12, generator=gen) < 0.3).float()
    wc = torch.randint(-3, 4, (64, 12, 5, 5), generator=gen).float()
    bc_ = torch.randint(-3, 4, (64,), generator=gen).float()

    def run() -> tuple[Tensor, ...]:
        lin = forward_backward(lambda *a: bl.linear(*a, max_groups=3), x, w, b, g)
        rows = bc.pack(xc, wc, (1, 1), (0, 0), (1, 1))
        assert rows is not None
        y, idx = bc.conv_forward_pooled(rows, wc, bc_, 3, (8, 8))
        gw = bc.weight_grad_pooled(rows, y.sign(), idx, wc.shape, (8, 8))
        return (*lin, y, idx, gw)

    native = run()
    monkeypatch.setattr(bl, "_NATIVE", portable)
    for a, e in zip(run(), native, strict=True):
        assert torch.equal(a, e)
