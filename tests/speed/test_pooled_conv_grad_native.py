"""The input gradient of a convolution + 2x2 max pool from the pooled gradient equals
torch's (``F.conv2d`` then ``F.max_pool2d``, autograd).

Exact cases use binary input and small integer weights and gradients: every product and
sum is an exact integer, and ties in the pooling windows (frequent on such values) must
pick torch's winner (the first maximum), so the input gradient must be bitwise equal.
Shapes cover 5x5 and 3x3 kernels (the register-resident sums), other kernels (the generic
path), more than 16 input channels (several channel vectors), padding, odd convolution
outputs (a row and column no window covers) and one output channel.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge import pool_native
from spikeforge import pooled_conv_grad_native as pg
from spikeforge.conv import ConvSpec, conv2d_chunked

from .helpers import count_calls

pytestmark = pytest.mark.skipif(
    pg._NATIVE.load() is None or pool_native._library() is None,
    reason=f"the native pooled-conv-grad library cannot be built: {pg.build_error()}",
)

#: (N, C, H, W, O, (KH, KW), padding)
SHAPES = [
    (5, 12, 12, 12, 64, (5, 5), (0, 0)),
    (3, 3, 9, 11, 16, (3, 3), (1, 1)),
    (4, 20, 7, 8, 8, (3, 2), (1, 2)),
    (2, 1, 5, 5, 1, (1, 1), (0, 0)),
    (2, 33, 6, 6, 5, (5, 5), (2, 2)),
    (3, 2, 10, 10, 7, (4, 4), (0, 1)),
]


def case(shape: tuple, seed: int) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
    n, c, h, w, o, k, pad = shape
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, c, h, w, generator=gen) < 0.4).float()
    wt = torch.randint(-3, 4, (o, c, *k), generator=gen).float()
    b = torch.randint(-3, 4, (o,), generator=gen).float()
    return x, wt, b, pad


def torch_grads(x: Tensor, w: Tensor, b: Tensor, pad: tuple[int, int], g: Tensor) -> tuple:
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    y = F.max_pool2d(F.conv2d(x, w, b, padding=pad), 2)
    return torch.autograd.grad(y, (x, w, b), g)


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s[1:]) for s in SHAPES])
def test_kernel_equals_torch_exactly(shape: tuple) -> None:
    x, w, b, pad = case(shape, seed=shape[1] + shape[4])
    y, idx = pool_native.forward_indexed(F.conv2d(x, w, b, padding=pad), (2, 2))
    assert idx is not None and pg.usable(y, idx, w, (1, 1), (1, 1), (2, 2))
    g = torch.randint(-2, 3, y.shape, generator=torch.Generator().manual_seed(1)).float()
    got = pg.input_grad(g, idx, w, x.shape, pad)
    assert torch.equal(got, torch_grads(x, w, b, pad, g)[0])


@pytest.mark.parametrize("shape", SHAPES[:3], ids=[str(s[1:]) for s in SHAPES[:3]])
def test_chunked_conv_uses_it_and_equals_torch(
    shape: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, pg, "input_grad")
    x, w, b, pad = case(shape, seed=7)
    spec = ConvSpec(padding=pad, chunk=2, pool=(2, 2))
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    y = conv2d_chunked(*leaves, spec)  # type: ignore[arg-type]
    g = torch.randint(-2, 3, y.shape, generator=torch.Generator().manual_seed(2)).float()
    got = torch.autograd.grad(y, leaves, g)
    assert len(calls) == (shape[0] + 1) // 2  # once per chunk
    for a, e in zip(got, torch_grads(x, w, b, pad, g), strict=True):
        assert torch.equal(a, e)


def test_random_values_within_rounding() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 12, 12, 12, generator=gen)
    w = torch.randn(64, 12, 5, 5, generator=gen)
    conv = F.conv2d(x, w)
    y, idx = pool_native.forward_indexed(conv, (2, 2))
    assert idx is not None
    g = torch.randn(y.shape, generator=gen)
    got = pg.input_grad(g, idx, w, x.shape, (0, 0))
    # the same winners' gradient, unpooled, through a float64 transposed convolution
    g_conv = pool_native.backward_indexed(g, idx, conv.shape, (2, 2)).double()
    want = torch.nn.grad.conv2d_input(x.shape, w.double(), g_conv)
    # each value sums at most O*KH*KW products: any order errs by <= that many eps * sum|terms|
    scale = torch.nn.grad.conv2d_input(x.shape, w.double().abs(), g_conv.abs())
    bound = 64 * 25 * torch.finfo(torch.float32).eps * scale
    assert ((got.double() - want).abs() <= bound + 1e-12).all()


def test_not_used_for_strides_dilations_or_other_pools() -> None:
    g, idx, w = (
        torch.zeros(1, 2, 3, 3),
        torch.zeros(1, 2, 3, 3, dtype=torch.uint8),
        torch.zeros(2, 1, 3, 3),
    )
    assert pg.usable(g, idx, w, (1, 1), (1, 1), (2, 2))
    assert not pg.usable(g, idx, w, (2, 2), (1, 1), (2, 2))
    assert not pg.usable(g, idx, w, (1, 1), (2, 2), (2, 2))
    assert not pg.usable(g, idx, w, (1, 1), (1, 1), (3, 3))
    assert not pg.usable(g, idx.long(), w, (1, 1), (1, 1), (2, 2))
    assert not pg.usable(g.double(), idx, w.double(), (1, 1), (1, 1), (2, 2))


def test_it_writes_into_the_rows_it_is_given() -> None:
    """The chunked convolution hands each chunk its rows of the whole batch's gradient."""
    x, w, b, pad = case(SHAPES[0], seed=11)
    y, idx = pool_native.forward_indexed(F.conv2d(x, w, b, padding=pad), (2, 2))
    assert idx is not None
    g = torch.randint(-2, 3, y.shape, generator=torch.Generator().manual_seed(12)).float()
    whole = torch.full((len(x) + 2, *x.shape[1:]), 7.0)
    rows = whole[1 : 1 + len(x)]
    got = pg.input_grad(g, idx, w, x.shape, pad, out=rows)
    assert got.data_ptr() == rows.data_ptr()
    assert torch.equal(rows, torch_grads(x, w, b, pad, g)[0])
    assert (whole[0] == 7).all() and (whole[-1] == 7).all()  # nothing outside its rows
    for bad in (rows[:-1], rows.double(), rows.transpose(2, 3)):
        with pytest.raises(ValueError, match="contiguous float32"):
            pg.input_grad(g, idx, w, x.shape, pad, out=bad)
