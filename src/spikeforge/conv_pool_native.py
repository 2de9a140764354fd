"""A convolution on data (few input channels) fused with the 2x2 max pooling after it, as a
small C++/OpenMP library compiled at first use.

The first layer of a convolutional SNN on images, e.g. ``Conv2d(1, 12, 5)`` then
``MaxPool2d(2)`` on MNIST, is a poor fit for a GEMM (``im2col`` gives ``K = C*KH*KW = 25``)
and its output is four times larger than what the network keeps. The kernel
(``csrc/conv_pool_cpu.cpp``) computes two convolution rows at a time for every output
channel in vector registers, pools them at once (torch's rule: first maximum in row-major
order, a NaN wins) and writes only the pooled output and one uint8 window position per
output. Its backward computes the weight and bias gradients from the pooled gradient and
those positions alone (only the winners carry gradient), so neither the convolution output
nor its gradient is ever stored. The input must not need a gradient (it is data), which is
what makes this layer the first one.

Float32 CPU tensors, stride 1, no dilation, zero padding, groups 1, kernel width up to 8 and
``C * KH * KW`` up to :data:`MAX_PATCH`. Results equal ``F.max_pool2d(F.conv2d(...), 2)`` to
float32 rounding (the sums run in another order, with fused multiply-adds), and exactly when
the products and sums are exact (binary input, small integer weights):
tests/speed/test_conv_pool_native.py. :func:`usable` says when it applies;
:class:`spikeforge.layers.Conv2d` uses it for a convolution followed by ``MaxPool2d(2)``.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from spikeforge import pool_native
from spikeforge.native import NativeLibrary

__all__ = ["MAX_KERNEL_WIDTH", "MAX_PATCH", "build_error", "conv2d_maxpool2", "usable"]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_NATIVE = NativeLibrary(
    Path(__file__).with_name("csrc") / "conv_pool_cpu.cpp",
    ("-ffp-contract=fast",),
    signatures={
        "sfc_forward": ([_I64] * 9 + [_PTR] * 5 + [_I64], None),
        "sfc_backward_weight": ([_I64] * 9 + [_PTR] * 5 + [_I64], None),
    },
)
#: The widest kernel the backward's 8-lane patch rows hold.
MAX_KERNEL_WIDTH = 8
#: The largest ``in_channels * kh * kw`` the kernel takes (a 3-channel 5x5 first layer);
#: wider inputs run torch's convolution, which a GEMM then suits.
MAX_PATCH = 75


def build_error() -> str | None:
    """Why the library could not be built or loaded (``None`` if it was, or was not tried)."""
    return _NATIVE.error


def _library() -> ctypes.CDLL | None:
    return _NATIVE.load()


def usable(
    x: Tensor,
    weight: Tensor,
    *,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    pool: tuple[int, int] | None,
) -> bool:
    """True when the fused kernel can run this convolution (``x`` ``[N, C, H, W]``, ``weight``
    ``[O, C, KH, KW]``) followed by the max pool ``pool``; builds the library on first call."""
    if x.dim() != 4 or weight.dim() != 4 or pool != (2, 2) or groups != 1:
        return False
    _, c, kh, kw = weight.shape
    oh = x.shape[2] + 2 * padding[0] - kh + 1
    ow = x.shape[3] + 2 * padding[1] - kw + 1
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not x.requires_grad
        and stride == (1, 1)
        and dilation == (1, 1)
        and min(padding) >= 0
        and x.shape[1] == c
        and kw <= MAX_KERNEL_WIDTH
        and c * kh * kw <= MAX_PATCH
        and oh >= 2
        and ow >= 2
        and x.shape[0] > 0
        and _library() is not None
    )


def _geometry(x: Tensor, weight: Tensor, padding: tuple[int, int]) -> list[int]:
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    return [n, c, h, w, o, kh, kw, padding[0], padding[1]]


class _ConvMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int]
    ) -> Tensor:
        lib = _library()
        assert lib is not None  # checked by usable()
        x, w = x.contiguous(), weight.detach().contiguous()
        b = bias.detach().contiguous() if bias is not None else None
        geo = _geometry(x, w, padding)
        oh = x.shape[2] + 2 * padding[0] - w.shape[2] + 1
        ow = x.shape[3] + 2 * padding[1] - w.shape[3] + 1
        shape = (x.shape[0], w.shape[0], oh // 2, ow // 2)
        y = x.new_empty(shape)
        idx = torch.empty(shape, dtype=torch.uint8)
        lib.sfc_forward(
            *geo, x.data_ptr(), w.data_ptr(), b.data_ptr() if b is not None else None,
            y.data_ptr(), idx.data_ptr(), torch.get_num_threads(),
        )
        ctx.save_for_backward(x, idx)
        ctx.meta = (geo, weight.shape, bias is not None)  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[None, Tensor | None, Tensor | None, None]:  # type: ignore[override]
        lib = _library()
        assert lib is not None
        x, idx = ctx.saved_tensors
        geo, w_shape, has_bias = ctx.meta
        _, need_w, need_b, _ = ctx.needs_input_grad
        if not (need_w or need_b):
            return None, None, None, None
        if torch.is_grad_enabled():  # create_graph=True: torch's recorded backward
            return (None, *_recorded_grads(x, gy, idx, geo, w_shape, need_w, need_b), None)
        gy = gy.contiguous().to(torch.float32)
        gw = gy.new_empty(w_shape)
        gb = gy.new_empty(w_shape[0]) if has_bias else None
        lib.sfc_backward_weight(
            *geo, x.data_ptr(), gy.data_ptr(), idx.data_ptr(), gw.data_ptr(),
            gb.data_ptr() if gb is not None else None, torch.get_num_threads(),
        )
        return None, (gw if need_w else None), (gb if need_b else None), None


def _recorded_grads(
    x: Tensor, gy: Tensor, idx: Tensor, geo: list[int], w_shape: torch.Size, need_w: bool,
    need_b: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """Weight and bias gradients by torch's differentiable pooling and convolution backward
    (for a second-order gradient)."""
    n, _, h, w, o, kh, kw, ph, pw = geo
    conv_shape = torch.Size((n, o, h + 2 * ph - kh + 1, w + 2 * pw - kw + 1))
    g = pool_native.backward_differentiable(gy, idx, conv_shape, (2, 2))
    gw = torch.ops.aten.convolution_backward(
        g, x, x.new_empty(w_shape), None, (1, 1), (ph, pw), (1, 1), False, [0, 0], 1,
        [False, True, False],
    )[1] if need_w else None  # fmt: skip
    return gw, (g.sum((0, 2, 3)) if need_b else None)


def conv2d_maxpool2(
    x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int] = (0, 0)
) -> Tensor:
    """``F.max_pool2d(F.conv2d(x, weight, bias, padding=padding), 2)`` fused; requires
    :func:`usable` (stride 1, no dilation, ``x`` without gradient).

    Args:
        x: input ``[N, C, H, W]`` float32 (data: no gradient flows into it).
        weight: ``[O, C, KH, KW]``; bias ``[O]`` or ``None``.
        padding: zero padding ``(ph, pw)``.

    Returns:
        ``[N, O, OH // 2, OW // 2]`` with ``OH = H + 2 ph - KH + 1``, ``OW = W + 2 pw - KW + 1``;
        gradients flow to ``weight`` and ``bias``.
    """
    return _ConvMaxPool.apply(x, weight, bias, padding)
