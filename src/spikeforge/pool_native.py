"""Non-overlapping 2-D max pooling as a small C++/OpenMP library, compiled at first use.

The source (``csrc/pool_cpu.cpp``) is built and cached by :mod:`spikeforge.native` and called
through :mod:`ctypes`; OpenMP threads follow ``torch.get_num_threads()``. It covers the
pooling of most convolutional SNNs, a window that tiles the input (``stride == kernel_size``,
no padding, no dilation, ``ceil_mode=False``) on float32/float64 CPU tensors ``[N, C, H, W]``,
and equals ``F.max_pool2d`` bitwise, ties (the first maximum in row-major order), NaN (a NaN
wins) and ``-inf`` included. Instead of torch's int64 indices it keeps one uint8 per output
(the winner's position inside its window), and its backward writes the whole input gradient
in one pass (no zero fill, no scatter). :func:`usable` says when it applies;
:class:`spikeforge.layers.MaxPool2d` falls back to torch otherwise.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from spikeforge.native import NativeLibrary

__all__ = [
    "MaxPool2dFunction",
    "available",
    "backward_differentiable",
    "backward_indexed",
    "build_error",
    "forward_indexed",
    "library_path",
    "max_pool2d",
    "usable",
]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_NATIVE = NativeLibrary(
    Path(__file__).with_name("csrc") / "pool_cpu.cpp",
    ("-fno-trapping-math",),
    signatures={
        "sfp_forward": ([_I64] * 6 + [_PTR] * 3 + [_I64], None),
        "sfp_backward": ([_I64] * 6 + [_PTR] * 3 + [_I64], None),
    },
)
_DTYPES = (torch.float32, torch.float64)
#: The largest window: positions inside it are stored as uint8.
MAX_WINDOW = 255


def library_path() -> Path | None:
    """Path of the compiled library, building it if needed; ``None`` if it cannot be built."""
    return _NATIVE.path()


def build_error() -> str | None:
    """Why the library could not be built or loaded (``None`` if it was, or was not tried)."""
    return _NATIVE.error


def _library() -> ctypes.CDLL | None:
    return _NATIVE.load()


def available() -> bool:
    """Whether the library is built and loaded (builds it on first call)."""
    return _library() is not None


def usable(x: Tensor, kernel: tuple[int, int]) -> bool:
    """True when the kernel can pool ``x`` ``[N, C, H, W]`` with windows ``kernel`` (kh, kw)
    and stride ``kernel``, no padding/dilation/ceil mode (builds the library on first call)."""
    kh, kw = kernel
    return (
        x.device.type == "cpu"
        and x.dtype in _DTYPES
        and x.dim() == 4
        and x.numel() > 0
        and 1 <= kh <= x.shape[2]
        and 1 <= kw <= x.shape[3]
        and kh * kw <= MAX_WINDOW
        and _library() is not None
    )


def _threads(planes: int) -> int:
    return max(1, min(torch.get_num_threads(), planes))


def forward_indexed(
    x: Tensor, kernel: tuple[int, int], with_index: bool = True
) -> tuple[Tensor, Tensor | None]:
    """Pooled ``x`` ``[N, C, H, W]`` -> ``[N, C, H // kh, W // kw]`` and, if ``with_index``,
    the uint8 position of each window's winner (row-major inside the window); requires
    :func:`usable`."""
    lib = _library()
    assert lib is not None  # checked by usable()
    x = x.contiguous()
    n, c, h, w = x.shape
    kh, kw = kernel
    shape = (n, c, h // kh, w // kw)
    y = x.new_empty(shape)
    idx = torch.empty(shape, dtype=torch.uint8) if with_index else None
    lib.sfp_forward(
        int(x.dtype == torch.float64), n * c, h, w, kh, kw,
        x.data_ptr(), y.data_ptr(), idx.data_ptr() if idx is not None else None,
        _threads(n * c),
    )
    return y, idx


def backward_indexed(
    grad: Tensor, idx: Tensor, shape: torch.Size, kernel: tuple[int, int]
) -> Tensor:
    """Input gradient ``shape`` (``[N, C, H, W]``) from the output gradient and the uint8
    positions of :func:`forward_indexed`: the whole tensor written in one pass."""
    lib = _library()
    assert lib is not None
    grad = grad.contiguous()
    n, c, h, w = shape
    gx = grad.new_empty(shape)
    lib.sfp_backward(
        int(grad.dtype == torch.float64), n * c, h, w, *kernel,
        grad.data_ptr(), idx.data_ptr(), gx.data_ptr(), _threads(n * c),
    )
    return gx


def backward_differentiable(
    grad: Tensor, idx: Tensor, shape: torch.Size, kernel: tuple[int, int]
) -> Tensor:
    """:func:`backward_indexed` by torch's own (differentiable) pooling backward: the uint8
    window positions become torch's flat indices. For a second-order gradient
    (``create_graph=True``), where the native kernel would record nothing."""
    kh, kw = kernel
    w = shape[3]
    ho, wo = idx.shape[2:]
    q = idx.long()
    rows = torch.arange(ho).view(ho, 1) * kh + q // kw
    cols = torch.arange(wo).view(1, wo) * kw + q % kw
    like = grad.new_empty(shape)  # only its shape is read
    return torch.ops.aten.max_pool2d_with_indices_backward(
        grad, like, kernel, kernel, (0, 0), (1, 1), False, rows * w + cols
    )


class MaxPool2dFunction(torch.autograd.Function):
    """Autograd node of :func:`max_pool2d`: saves the uint8 window positions ``[N, C, Ho, Wo]``
    (not the input). A second-order gradient (``create_graph=True``) runs torch's pooling
    backward, which is differentiable again."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, kh: int, kw: int) -> Tensor:  # type: ignore[override]
        y, idx = forward_indexed(x, (kh, kw), with_index=True)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape  # type: ignore[attr-defined]
        ctx.kernel = (kh, kw)  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (idx,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a backward that is recorded
            return backward_differentiable(grad, idx, ctx.shape, ctx.kernel), None, None
        return backward_indexed(grad, idx, ctx.shape, ctx.kernel), None, None


def max_pool2d(x: Tensor, kernel: tuple[int, int]) -> Tensor:
    """``F.max_pool2d(x, kernel)`` (stride = ``kernel``) on ``x`` ``[N, C, H, W]`` ->
    ``[N, C, H // kh, W // kw]``, same values and gradient; requires :func:`usable`.

    Without a gradient to record (``x`` does not require grad, or grad mode is off) no
    window positions are stored.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return MaxPool2dFunction.apply(x, *kernel)
    return forward_indexed(x, kernel, with_index=False)[0]
