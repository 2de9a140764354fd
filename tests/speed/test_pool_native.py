"""The native max-pooling kernel equals torch's ``F.max_pool2d`` bitwise, forward and backward.

Compared bit patterns (integer views), so signed zeros and NaN payloads count too; inputs
with ties (spikes: values from {0, -0, 1}), NaN and -inf exercise torch's rule (the first
maximum in row-major order wins, a NaN always wins, the last NaN of a window).
"""

from __future__ import annotations

import itertools
import zlib

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge import layers, pool_native

from .helpers import graph_names

pytestmark = pytest.mark.skipif(
    pool_native.library_path() is None,
    reason=f"the native pooling library cannot be built: {pool_native.build_error()}",
)

DTYPES = (torch.float32, torch.float64)
KERNELS = ((2, 2), (3, 3), (2, 3))
#: (H, W): divisible by every kernel above, and not (trailing rows/columns dropped); even
#: sides (2x2 then runs the row-pair path) and one odd side (it does not).
SIZES = ((12, 12), (13, 14), (8, 8), (14, 13))
KINDS = ("random", "ties", "nan_inf")


def bits(t: Tensor) -> Tensor:
    """The tensor's bit pattern as integers (bitwise comparison, NaN and -0 included)."""
    return t.contiguous().view(torch.int32 if t.dtype == torch.float32 else torch.int64)


def assert_bitwise(a: Tensor, b: Tensor) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.equal(bits(a), bits(b))


def make_input(kind: str, shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> Tensor:
    """Random values; or many ties from {0, -0, 1}; or random values with NaN and -inf."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "ties":
        choice = torch.randint(0, 3, shape, generator=gen)
        return torch.tensor([0.0, -0.0, 1.0], dtype=dtype)[choice]
    x = torch.randn(shape, generator=gen, dtype=dtype)
    if kind == "nan_inf":
        u = torch.rand(shape, generator=gen)
        x[u < 0.15] = float("nan")
        x[(u >= 0.15) & (u < 0.4)] = float("-inf")
    return x


def upstream(shape: torch.Size, dtype: torch.dtype, seed: int) -> Tensor:
    """A random output gradient with some -0 entries."""
    gen = torch.Generator().manual_seed(seed + 1)
    g = torch.randn(shape, generator=gen, dtype=dtype)
    g[torch.rand(shape, generator=gen) < 0.1] = -0.0
    return g


def pool_and_grad(fn, x: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    x = x.detach().clone().requires_grad_()
    y = fn(x)
    y.backward(upstream(y.shape, y.dtype, seed))
    assert x.grad is not None
    return y.detach(), x.grad


@pytest.mark.parametrize(
    ("dtype", "kernel", "size", "kind"), list(itertools.product(DTYPES, KERNELS, SIZES, KINDS))
)
def test_equals_torch_bitwise(
    dtype: torch.dtype, kernel: tuple[int, int], size: tuple[int, int], kind: str
) -> None:
    seed = zlib.crc32(repr((dtype, kernel, size, kind)).encode())
    x = make_input(kind, (2, 3, *size), dtype, seed)
    y, gx = pool_and_grad(lambda t: pool_native.max_pool2d(t, kernel), x, seed)
    y_ref, gx_ref = pool_and_grad(lambda t: F.max_pool2d(t, kernel), x, seed)
    assert_bitwise(y, y_ref)
    assert_bitwise(gx, gx_ref)
    with torch.no_grad():  # the path that keeps no window positions
        assert_bitwise(pool_native.max_pool2d(x, kernel), y_ref)


def test_ties_keep_first_and_nan_wins() -> None:
    """The rule itself, on hand-made 2x2 windows: first maximum, and the last NaN."""
    nan = float("nan")
    x = torch.tensor([[[[1.0, 1.0, nan, 2.0], [1.0, 0.0, 3.0, nan]]]]).requires_grad_()
    y = pool_native.max_pool2d(x, (2, 2))
    y.backward(torch.ones_like(y))
    assert y[0, 0, 0, 0] == 1.0 and y[0, 0, 0, 1].isnan()
    assert x.grad is not None
    assert x.grad.tolist() == [[[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]]


@pytest.mark.parametrize("kernel", [(2, 2), (2, 3)])
def test_gradcheck(kernel: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 5, 7, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: pool_native.max_pool2d(t, kernel), (x,))


@pytest.mark.parametrize("static", [False, True])
def test_layer_time_major_uses_kernel(static: bool) -> None:
    """On ``[T, B, C, H, W]`` (and a static ``[1, B, ...]``) the layer runs the kernel and
    equals torch's pooling of the folded batch, values and input gradient."""
    t, b, c, h, w = 1 if static else 4, 3, 2, 9, 10
    x = make_input("ties", (t, b, c, h, w), torch.float32, 5)
    y, gx = pool_and_grad(layers.MaxPool2d(2), x, 6)
    assert y.shape == (t, b, c, 4, 5)
    y_ref, gx_ref = pool_and_grad(
        lambda v: F.max_pool2d(v.reshape(t * b, c, h, w), 2).reshape(y.shape), x, 6
    )
    assert_bitwise(y, y_ref)
    assert_bitwise(gx, gx_ref)
    assert "MaxPool2dFunctionBackward" in graph_names(layers.MaxPool2d(2)(x.requires_grad_()))


def test_layer_non_contiguous_input() -> None:
    x = torch.randn(3, 2, 4, 10, 8, dtype=torch.float64).transpose(3, 4)
    assert not x.is_contiguous()
    y = layers.MaxPool2d((2, 3), stride=(2, 3))(x)
    y_ref = F.max_pool2d(x.reshape(6, 4, 8, 10), (2, 3)).reshape(3, 2, 4, 4, 3)
    assert_bitwise(y, y_ref)


@pytest.mark.parametrize(
    "options",
    [
        dict(kernel_size=2, padding=1),
        dict(kernel_size=3, stride=2),
        dict(kernel_size=2, ceil_mode=True),
        dict(kernel_size=2, dilation=2),
    ],
    ids=["padding", "overlapping", "ceil_mode", "dilation"],
)
def test_layer_falls_back_to_torch(options: dict) -> None:
    x = torch.randn(2, 3, 2, 9, 9, dtype=torch.float64).requires_grad_()
    y = layers.MaxPool2d(**options)(x)
    assert "MaxPool2DWithIndicesBackward0" in graph_names(y)
    y_ref = F.max_pool2d(x.detach().reshape(6, 2, 9, 9), **options)
    assert_bitwise(y.detach(), y_ref.reshape(2, 3, *y_ref.shape[1:]))


def test_layer_falls_back_for_other_dtypes() -> None:
    x = torch.randn(2, 3, 2, 8, 8, dtype=torch.bfloat16).requires_grad_()
    y = layers.MaxPool2d(2)(x)
    assert "MaxPool2DWithIndicesBackward0" in graph_names(y)
    y_ref = F.max_pool2d(x.detach().reshape(6, 2, 8, 8), 2).reshape(2, 3, 2, 4, 4)
    assert torch.equal(y.detach(), y_ref)


@pytest.mark.parametrize(("kernel", "size"), [((2, 2), (5, 2 * 5000 + 1)), ((3, 2), (7, 2 * 3000))])
def test_rows_longer_than_the_kernel_buffer(kernel: tuple[int, int], size: tuple[int, int]) -> None:
    """Output rows longer than the kernel's 4096-position buffer are done in parts."""
    x = make_input("nan_inf", (1, 2, *size), torch.float32, 7)
    y, gx = pool_and_grad(lambda t: pool_native.max_pool2d(t, kernel), x, 7)
    y_ref, gx_ref = pool_and_grad(lambda t: F.max_pool2d(t, kernel), x, 7)
    assert_bitwise(y, y_ref)
    assert_bitwise(gx, gx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(64, 12, 8, 8), (7, 5, 24, 24), (2, 1, 4, 2048), (1, 2, 4, 2050), (3, 1, 6, 2)],
    ids=["many-blocks", "24x24", "one-row-pair-per-block", "rows-beyond-buffer", "narrow"],
)
def test_2x2_row_pairs_across_planes_and_blocks(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """2x2 windows on even sides run as blocks of row pairs that span planes (and, past
    2048 columns, the per-plane code): every block boundary gives torch's result bitwise."""
    for kind in KINDS:
        seed = zlib.crc32(repr((shape, dtype, kind)).encode())
        x = make_input(kind, shape, dtype, seed)
        y, gx = pool_and_grad(lambda t: pool_native.max_pool2d(t, (2, 2)), x, seed)
        y_ref, gx_ref = pool_and_grad(lambda t: F.max_pool2d(t, (2, 2)), x, seed)
        assert_bitwise(y, y_ref)
        assert_bitwise(gx, gx_ref)
