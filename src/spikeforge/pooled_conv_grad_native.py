"""The input gradient of a convolution followed by a 2x2 max pool, computed from the pooled
gradient alone, as a small C++/OpenMP library compiled at first use.

Only the winner of each pooling window carries gradient back into the convolution, so
three quarters of the convolution's output gradient are zeros, and a transposed
convolution (torch's input gradient) spends three quarters of its work on them. The kernel
(``csrc/pooled_conv_grad_cpu.cpp``) adds ``g * weight[o]`` at each winner's place instead,
in a channels-last image buffer that stays in L1, and never forms the unpooled gradient.
:mod:`spikeforge.conv` uses it for the input gradient of a convolution fused with its
pooling (stride 1, no dilation, zero padding, float32 CPU tensors, the native pooling's
uint8 winner positions). Results equal torch's to float32 rounding, and bitwise when the
products and sums are exact: tests/speed/test_pooled_conv_grad_native.py.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import Tensor

from spikeforge.native import NativeLibrary

__all__ = ["build_error", "input_grad", "usable"]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_NATIVE = NativeLibrary(
    Path(__file__).with_name("csrc") / "pooled_conv_grad_cpu.cpp",
    ("-ffp-contract=fast",),
    signatures={"sfg_input_grad": ([_I64] * 11 + [_PTR] * 4 + [_I64], None)},
)


def build_error() -> str | None:
    """Why the library could not be built or loaded (``None`` if it was, or was not tried)."""
    return _NATIVE.error


def usable(
    gp: Tensor,
    idx: Tensor,
    weight: Tensor,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pool: tuple[int, int] | None,
) -> bool:
    """True when :func:`input_grad` applies: a 2x2 pool whose winners are the native
    pooling's uint8 positions, stride 1, dilation 1, float32 CPU tensors (builds the library
    on first call)."""
    return (
        pool == (2, 2)
        and stride == (1, 1)
        and dilation == (1, 1)
        and idx.dtype == torch.uint8
        and gp.dtype == torch.float32
        and weight.dtype == torch.float32
        and gp.device.type == "cpu"
        and weight.device.type == "cpu"
        and gp.dim() == 4
        and _NATIVE.load() is not None
    )


def input_grad(
    gp: Tensor,
    idx: Tensor,
    weight: Tensor,
    x_shape: torch.Size,
    padding: tuple[int, int],
    out: Tensor | None = None,
) -> Tensor:
    """``dL/dx`` of ``max_pool2d(conv2d(x, weight, padding=padding), 2)``.

    Args:
        gp: the pooled output's gradient ``[N, O, PH, PW]``.
        idx: each window's winner ``[N, O, PH, PW]`` uint8, row-major in the 2x2 window
            (from :func:`spikeforge.pool_native.forward_indexed`).
        weight: ``[O, C, KH, KW]``.
        x_shape: ``(N, C, H, W)`` of the convolution's input.
        padding: the convolution's zero padding ``(ph, pw)``.
        out: where to write it (contiguous float32 ``x_shape``, e.g. a chunk's rows of the
            whole batch's gradient), else a new tensor.

    Returns:
        ``[N, C, H, W]`` float32 (``out`` if given).
    """
    lib = _NATIVE.load()
    assert lib is not None  # checked by usable()
    n, c, h, w = x_shape
    o, _, kh, kw = weight.shape
    gp, idx = gp.contiguous(), idx.contiguous()
    wt = weight.detach().contiguous()
    if out is not None and (
        out.shape != (n, c, h, w) or out.dtype != torch.float32 or not out.is_contiguous()
    ):
        raise ValueError(f"out must be a contiguous float32 tensor of shape {tuple(x_shape)}")
    gx = out if out is not None else torch.empty(n, c, h, w)
    lib.sfg_input_grad(
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        padding[0],
        padding[1],
        gp.shape[2],
        gp.shape[3],
        gp.data_ptr(),
        idx.data_ptr(),
        wt.data_ptr(),
        gx.data_ptr(),
        torch.get_num_threads(),
    )
    return gx
