"""A linear layer on binary input (spikes: every value 0 or 1) as a small C++/OpenMP library
compiled at first use.

A rate-coded image, or the spikes of a layer, make the input of a linear layer a 0/1
matrix, and its product with the weights only adds weight columns. The kernel
(``csrc/binary_linear_cpu.cpp``) uses the method of the four Russians: for every group of
eight inputs the 256 possible sums of their weight columns are tabulated once, and each
sample adds one table row per group: an eighth of a dense GEMM's additions and no
multiplications.
The weight gradient ``gy.T @ x`` is the same product the other way round (groups of four
samples, tables of the 16 sums of their output-gradient rows). The backward keeps a 4-bit
pattern per four input values (one byte), not the float input: 1/16 of its memory.

The sums are exact sums of the same terms as ``F.linear``'s, in another order, so results
equal it to float32 rounding, and bitwise when every partial sum is exact (small integer
weights): tests/speed/test_binary_linear_native.py. Float32 CPU tensors only.
:func:`linear` checks that the input is binary (one pass, which also packs it) and runs
``F.linear`` when it is not; :class:`spikeforge.layers.Linear` uses it when
:func:`usable` says so.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx

from spikeforge.errors import StateError
from spikeforge.native import NativeLibrary

__all__ = [
    "MIN_OUT_FEATURES",
    "build_error",
    "linear",
    "pack",
    "runs_on",
    "unpack_columns",
    "usable",
]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_NATIVE = NativeLibrary(
    Path(__file__).with_name("csrc") / "binary_linear_cpu.cpp",
    signatures={
        "sfb_pack": ([_I64, _I64, _PTR, _PTR, _PTR, _I64], _I64),
        "sfb_pack_im2col": ([_I64] * 12 + [_PTR, _PTR, _I64], _I64),
        "sfb_forward": ([_I64] * 4 + [_PTR] * 4 + [_I64, _I64], None),
        "sfb_forward_pooled": ([_I64] * 5 + [_PTR] * 5 + [_I64, _I64], None),
        "sfb_backward_weight": ([_I64] * 3 + [_PTR] * 3 + [_I64, _I64], None),
        "sfb_backward_weight_rows": ([_I64] * 4 + [_PTR] * 3 + [_I64, _I64], None),
        "sfb_backward_weight_rows_pooled": ([_I64] * 7 + [_PTR] * 4 + [_I64, _I64], None),
    },
)

#: Inputs per forward pattern: the forward tabulates the 256 sums of 8 weight columns.
ROW_BITS = 8
#: Samples per weight-gradient pattern: 16 sums of 4 output-gradient rows.
COL_BITS = 4
#: Fewer outputs than this run ``F.linear``. A tile is 16 outputs wide, yet on 3,200 x 1,000
#: spikes, forward + backward with the packing, the kernel was 1.5x faster than F.linear at
#: 10 outputs (1.9x at 64, 2x at 128; one thread).
MIN_OUT_FEATURES = 8
#: Groups of eight inputs whose tables the forward keeps at a time, per tile of 16 outputs
#: (256 sums x 64 bytes = 16 KiB a group): 40 groups, 640 KiB, stay in the 1 MiB L2 cache
#: of our machines' cores; more inputs are cut into even blocks. On 3,200 x 784 inputs,
#: 1,000 outputs, 16 to 49 groups were within 2 % of each other; 40 takes a 5x5 convolution
#: on 12 channels (K = 300, 38 groups) in one block.
MAX_GROUPS = 40
#: Groups of four samples whose tables (16 sums x 64 bytes) the weight gradient keeps at a
#: time: 64 (64 KiB) was the fastest of 32 to 256 on the same sizes.
MAX_QUADS = 64


def build_error() -> str | None:
    """Why the library could not be built or loaded (``None`` if it was, or was not tried)."""
    return _NATIVE.error


def _library() -> ctypes.CDLL | None:
    return _NATIVE.load()


def runs_on(x: Tensor, weight: Tensor) -> bool:
    """Whether the library takes these tensors: float32 on the CPU, a non-empty input, at
    least :data:`MIN_OUT_FEATURES` outputs (``weight.shape[0]``); builds it on first call."""
    return (
        x.device.type == "cpu"
        and weight.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.numel() > 0
        and weight.dim() >= 2
        and weight.shape[0] >= MIN_OUT_FEATURES
        and _library() is not None
    )


def usable(x: Tensor, weight: Tensor) -> bool:
    """True when the kernel can run ``F.linear(x, weight, ...)`` if ``x`` turns out binary
    (see :func:`runs_on`)."""
    return (
        weight.dim() == 2
        and x.dim() >= 1
        and x.shape[-1] == weight.shape[1]
        and runs_on(x, weight)
    )


def pack(x: Tensor, columns: bool) -> tuple[Tensor, Tensor | None] | None:
    """The 4-bit patterns of a binary ``x`` ``[N, K]``, or ``None`` if a value is not 0 or 1.

    Returns:
        ``rows`` ``[N, ceil(K/4)]`` uint8, ``rows[n, g] = sum_j x[n, 4g+j] * 2**j``, and if
        ``columns``, ``cols`` ``[K, ceil(N/4)]`` uint8, ``cols[k, h] = sum_j x[4h+j, k] * 2**j``
        (values past the end count as 0).
    """
    lib = _library()
    assert lib is not None  # checked by usable()
    n, k = x.shape
    x = x.contiguous()
    rows = torch.empty(n, (k + ROW_BITS - 1) // ROW_BITS, dtype=torch.uint8)
    cols = torch.empty(k, (n + COL_BITS - 1) // COL_BITS, dtype=torch.uint8) if columns else None
    ok = lib.sfb_pack(
        n,
        k,
        x.data_ptr(),
        rows.data_ptr(),
        cols.data_ptr() if cols is not None else None,
        torch.get_num_threads(),
    )
    return (rows, cols) if ok else None


def unpack_columns(cols: Tensor, n: int) -> Tensor:
    """The binary input ``[n, K]`` (uint8 0/1) back from its column patterns ``cols``
    ``[K, ceil(n/4)]`` (:func:`pack`)."""
    bits = (cols.unsqueeze(-1) >> torch.arange(COL_BITS, dtype=torch.uint8)) & 1
    return bits.reshape(cols.shape[0], -1)[:, :n].t()


class _BinaryLinear(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        rows: Tensor,
        cols: Tensor | None,
        blocks: tuple[int, int],
    ) -> Tensor:
        lib = _library()
        assert lib is not None
        w = weight.detach().contiguous()
        b = bias.detach().contiguous() if bias is not None else None
        n, k = x.shape
        y = x.new_empty(n, w.shape[0])
        lib.sfb_forward(
            n,
            k,
            w.shape[0],
            0,  # y is [N, O]
            rows.data_ptr(),
            w.data_ptr(),
            b.data_ptr() if b is not None else None,
            y.data_ptr(),
            blocks[0],
            torch.get_num_threads(),
        )
        ctx.save_for_backward(weight, cols)
        ctx.meta = (n, k, blocks[1])  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        weight, cols = ctx.saved_tensors
        n, k, max_quads = ctx.meta
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gy = gy.contiguous()
        gx = gy @ weight if need_x else None
        gw = None
        if need_w and torch.is_grad_enabled():
            # create_graph=True: the weight gradient as a recorded product with the input,
            # rebuilt from its column patterns (a constant: the float input is not kept)
            if need_x:
                raise StateError(
                    "a second-order gradient (create_graph=True) through a Linear on spikes "
                    "whose input needs a gradient is not supported: the binary kernel keeps "
                    "only the input's bit patterns; use torch.nn.Linear for this layer"
                )
            assert cols is not None
            gw = gy.t() @ unpack_columns(cols, n).to(gy.dtype)
        elif need_w:
            lib = _library()
            assert lib is not None and cols is not None
            gw = gy.new_empty(weight.shape)
            lib.sfb_backward_weight(
                n,
                k,
                weight.shape[0],
                cols.data_ptr(),
                gy.data_ptr(),
                gw.data_ptr(),
                max_quads,
                torch.get_num_threads(),
            )
        gb = gy.sum(0) if need_b else None
        return gx, gw, gb, None, None, None


def linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    max_groups: int = MAX_GROUPS,
    max_quads: int = MAX_QUADS,
) -> Tensor:
    """``F.linear(x, weight, bias)``, by the binary kernel when ``x`` is binary.

    Args:
        x: input ``[..., K]``; requires :func:`usable`. If any value is not exactly 0 or 1,
            ``F.linear`` runs instead (same result).
        weight: ``[O, K]``; bias ``[O]`` or ``None``.
        max_groups, max_quads: table block sizes (tests use small ones to cover blocking).

    Returns:
        ``[..., O]``; gradients flow to ``x`` (``gy @ weight``), ``weight`` and ``bias``.
    """
    flat = x.reshape(-1, x.shape[-1])
    packed = pack(flat, columns=torch.is_grad_enabled() and weight.requires_grad)
    if packed is None:
        return F.linear(x, weight, bias)
    y = _BinaryLinear.apply(flat, weight, bias, *packed, (max_groups, max_quads))
    return y.reshape(*x.shape[:-1], weight.shape[0])
