"""A convolution on binary input (spikes) by the binary-input linear kernels of
:mod:`spikeforge.binary_linear_native`, without forming the im2col matrix.

A convolution is a linear layer on its im2col matrix (one row of ``C*KH*KW`` input values
per output position). When the input is 0/1, ``csrc/binary_linear_cpu.cpp``'s
``sfb_pack_im2col`` packs that matrix's 8-value row patterns straight from the input (each
image's padded planes become bit rows, so the ``KW`` values of a kernel row are one shift).
The forward runs the table kernel of the linear layer on them, with ``K = C*KH*KW``
(optionally max-pooling its output in 2x2 windows as it is written, so that the
convolution's output is never formed); the weight gradient bins the output gradient by the
same patterns, which are all the backward keeps (one bit per im2col value). The input
gradient is torch's (a transposed convolution), or, after a 2x2 max pool,
:mod:`spikeforge.pooled_conv_grad_native`'s. :mod:`spikeforge.conv` runs it on every chunk
whose input is binary.

Float32 CPU tensors, groups 1, zero padding, kernel width up to :data:`MAX_KERNEL_WIDTH`,
at least :data:`binary_linear_native.MIN_OUT_FEATURES` output channels. Results equal
``F.conv2d`` to float32 rounding (the same terms, summed in another order), and bitwise when
the sums are exact: tests/speed/test_binary_conv_native.py.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikeforge import binary_linear_native as bl

__all__ = [
    "MAX_KERNEL_WIDTH",
    "conv_forward",
    "conv_forward_pooled",
    "pack",
    "usable",
    "weight_grad",
    "weight_grad_pooled",
]

#: The widest kernel whose rows the packer reads with one shift of a 64-bit word.
MAX_KERNEL_WIDTH = 32

Pair = tuple[int, int]


def usable(x: Tensor, weight: Tensor) -> bool:
    """True when the kernel can run this convolution (``x`` ``[N, C, H, W]``, ``weight``
    ``[O, C, KH, KW]``, groups 1) if ``x`` turns out binary: float32 CPU tensors, enough
    output channels, ``KW <= MAX_KERNEL_WIDTH`` (builds the library on first call)."""
    return (
        x.dim() == 4
        and weight.dim() == 4
        and x.shape[1] == weight.shape[1]
        and weight.shape[3] <= MAX_KERNEL_WIDTH
        and bl.runs_on(x, weight)
    )


def output_size(x: Tensor, weight: Tensor, stride: Pair, padding: Pair, dilation: Pair) -> Pair:
    """``(OH, OW)`` of ``F.conv2d`` with these settings."""
    kh, kw = weight.shape[2:]
    oh = (x.shape[2] + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (x.shape[3] + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return oh, ow


def pack(x: Tensor, weight: Tensor, stride: Pair, padding: Pair, dilation: Pair) -> Tensor | None:
    """The row patterns of the im2col matrix of a binary ``x`` ``[N, C, H, W]``, or ``None``
    if a value is not 0 or 1.

    Returns:
        ``rows`` ``[N*OH*OW, ceil(K/8)]`` uint8 (``K = C*KH*KW``, rows ordered ``(n, oy, ox)``,
        values ``(c, i, j)`` as in ``weight``; see :func:`binary_linear_native.pack`).
    """
    lib = bl._library()
    assert lib is not None  # checked by usable()
    x = x.contiguous()
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    oh, ow = output_size(x, weight, stride, padding, dilation)
    k, rows_n = c * kh * kw, n * oh * ow
    rows = torch.empty(rows_n, (k + bl.ROW_BITS - 1) // bl.ROW_BITS, dtype=torch.uint8)
    ok = lib.sfb_pack_im2col(
        n,
        c,
        h,
        w,
        kh,
        kw,
        *stride,
        *padding,
        *dilation,
        x.data_ptr(),
        rows.data_ptr(),
        torch.get_num_threads(),
    )
    return rows if ok else None


def conv_forward(
    rows: Tensor, weight: Tensor, bias: Tensor | None, n: int, out_size: Pair
) -> Tensor:
    """The convolution ``[n, O, OH, OW]`` from the im2col row patterns of :func:`pack`."""
    lib = bl._library()
    assert lib is not None
    o = weight.shape[0]
    w2 = weight.detach().reshape(o, -1).contiguous()
    b = bias.detach().contiguous() if bias is not None else None
    positions = out_size[0] * out_size[1]
    y = torch.empty(n, o, *out_size)
    lib.sfb_forward(
        rows.shape[0], w2.shape[1], o, positions, rows.data_ptr(), w2.data_ptr(),
        b.data_ptr() if b is not None else None, y.data_ptr(), bl.MAX_GROUPS,
        torch.get_num_threads(),
    )
    return y


def conv_forward_pooled(
    rows: Tensor, weight: Tensor, bias: Tensor | None, n: int, out_size: Pair
) -> tuple[Tensor, Tensor]:
    """The convolution of :func:`conv_forward` max-pooled in 2x2 windows as it is written:
    ``[n, O, OH // 2, OW // 2]`` and each window's winner ``[n, O, OH // 2, OW // 2]``
    (uint8, row-major in the window), equal to
    :func:`spikeforge.pool_native.forward_indexed` of its output, which is never formed.
    ``out_size`` ``(OH, OW)``, both at least 2."""
    lib = bl._library()
    assert lib is not None
    o = weight.shape[0]
    w2 = weight.detach().reshape(o, -1).contiguous()
    b = bias.detach().contiguous() if bias is not None else None
    shape = (n, o, out_size[0] // 2, out_size[1] // 2)
    y = torch.empty(shape)
    idx = torch.empty(shape, dtype=torch.uint8)
    lib.sfb_forward_pooled(
        rows.shape[0], w2.shape[1], o, *out_size, rows.data_ptr(), w2.data_ptr(),
        b.data_ptr() if b is not None else None, y.data_ptr(), idx.data_ptr(), bl.MAX_GROUPS,
        torch.get_num_threads(),
    )
    return y, idx


def weight_grad(rows: Tensor, gy: Tensor, weight_shape: torch.Size) -> Tensor:
    """``dL/dweight`` ``[O, C, KH, KW]`` from the row patterns of :func:`pack` and the output
    gradient ``gy`` ``[n, O, OH, OW]``."""
    lib = bl._library()
    assert lib is not None
    o = weight_shape[0]
    g = gy.contiguous().to(torch.float32)
    k = weight_shape[1] * weight_shape[2] * weight_shape[3]
    gw = torch.empty(o, k)
    lib.sfb_backward_weight_rows(
        rows.shape[0], k, o, g.shape[2] * g.shape[3], rows.data_ptr(), g.data_ptr(),
        gw.data_ptr(), bl.MAX_GROUPS, torch.get_num_threads(),
    )
    return gw.view(weight_shape)


def weight_grad_pooled(
    rows: Tensor, gp: Tensor, idx: Tensor, weight_shape: torch.Size, conv_size: Pair
) -> Tensor:
    """``dL/dweight`` of a convolution followed by a 2x2 max pool, from the row patterns of
    :func:`pack`, the pooled gradient ``gp`` ``[n, O, PH, PW]`` and its windows' winners
    ``idx`` (uint8, from :func:`conv_forward_pooled` or
    :func:`spikeforge.pool_native.forward_indexed`); ``conv_size`` is the convolution's
    output ``(OH, OW)``. The unpooled gradient is never formed."""
    lib = bl._library()
    assert lib is not None
    o = weight_shape[0]
    g, q = gp.contiguous().to(torch.float32), idx.contiguous()
    k = weight_shape[1] * weight_shape[2] * weight_shape[3]
    gw = torch.empty(o, k)
    lib.sfb_backward_weight_rows_pooled(
        rows.shape[0], k, o, *conv_size, g.shape[2], g.shape[3], rows.data_ptr(),
        g.data_ptr(), q.data_ptr(), gw.data_ptr(), bl.MAX_GROUPS, torch.get_num_threads(),
    )
    return gw.view(weight_shape)
