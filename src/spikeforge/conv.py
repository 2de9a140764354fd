"""Convolution over a time-folded batch ``[T*B, C, H, W]``, in chunks, optionally fused with
the max pooling that follows it.

Forward runs ``F.conv2d`` on chunks of at most ``chunk`` images (the im2col buffers of a
chunk stay in cache). With a following non-overlapping max pool, each chunk is pooled right
away, so the full-size convolution output is never materialised nor kept for backward:
only the pooled output and the pooling indices are (one uint8 per output from the native
kernel of :mod:`spikeforge.pool_native` where it applies). Backward runs chunk by chunk too:
the pooling gradient of the chunk, then torch's convolution backward for the input and
weight.

With ``swapped`` (an option, off by default), the weight gradient is instead one more
*forward* convolution per chunk with the roles of batch and channels swapped::

    dL/dW[o, c, i, j] = sum_{n, y, x} g[n, o, y, x] * x_pad[n, c, y*s + i*d, x*s + j*d]
                      = conv2d(x^T, g^T, stride=d, dilation=s, padding=p)[c, o, i, j]

with ``x^T = x.transpose(0, 1)`` (``[C, n, H, W]``: images become input channels) and
``g^T`` (``[O, n, Ho, Wo]``) used as the weight. :class:`spikeforge.layers.Conv2d` does not
use it: on a quiet 2-core machine oneDNN's own weight-gradient primitive was faster even for
the first layer on grayscale images (a training step of the benchmark's conv net took 8 %
less without it; docs/performance.md). Its sum is the same, in another order. Every variant
equals ``F.conv2d`` (and ``F.max_pool2d``) forward and backward in float64
(tests/speed/test_conv_chunked.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from spikeforge import binary_conv_native, pool_native, pooled_conv_grad_native

__all__ = ["ConvSpec", "conv2d_chunked"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class ConvSpec:
    """How to run one convolution (groups 1, zero padding).

    Attributes:
        stride, padding, dilation: as in ``F.conv2d``.
        chunk: images per call of the underlying convolution.
        swapped: compute the weight gradient with the swapped-role forward convolution.
        pool: kernel of a non-overlapping max pool (stride = kernel, no padding) applied
            right after the convolution, or ``None``.
        binary: run a chunk whose input is all 0/1 (spikes) with the binary kernels of
            :mod:`spikeforge.binary_conv_native` (forward and weight gradient) where they
            apply; other chunks run torch's convolution.
    """

    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    chunk: int = 640
    swapped: bool = False
    pool: Pair | None = None
    binary: bool = True


def _pool_forward(y: Tensor, k: Pair) -> tuple[Tensor, Tensor]:
    """Pooled chunk and its indices: the native kernel's uint8 window positions where it
    applies, else torch's int64 flat indices."""
    if pool_native.usable(y, k):
        pooled, idx = pool_native.forward_indexed(y, k)
        assert idx is not None
        return pooled, idx
    return torch.ops.aten.max_pool2d_with_indices(y, k, k, (0, 0), (1, 1), False)


def _pool_backward(gp: Tensor, y_shape: torch.Size, idx: Tensor, k: Pair) -> Tensor:
    if idx.dtype == torch.uint8:
        if torch.is_grad_enabled():  # create_graph=True: torch's (recorded) pooling backward
            return pool_native.backward_differentiable(gp, idx, y_shape, k)
        return pool_native.backward_indexed(gp, idx, y_shape, k)
    like = gp.new_empty(y_shape)  # only its shape is read
    return torch.ops.aten.max_pool2d_with_indices_backward(
        gp, like, k, k, (0, 0), (1, 1), False, idx
    )


def _conv_backward(
    x: Tensor, g: Tensor, weight: Tensor, spec: ConvSpec, need_x: bool, need_w: bool
) -> tuple[Tensor | None, Tensor | None]:
    """``(dL/dx, dL/dW)`` of one chunk; ``x`` ``[n, C, H, W]``, ``g`` ``[n, O, Ho, Wo]``."""
    if not (need_x or need_w):
        return None, None
    args = (spec.stride, spec.padding, spec.dilation, False, [0, 0], 1)
    if not spec.swapped:
        gx, gw, _ = torch.ops.aten.convolution_backward(
            g, x, weight, None, *args, [need_x, need_w, False]
        )
        return gx, gw
    gx = None
    if need_x:
        gx = torch.ops.aten.convolution_backward(g, x, weight, None, *args, [True, False, False])[0]
    gw = None
    if need_w:
        gw = F.conv2d(
            x.transpose(0, 1),
            g.transpose(0, 1),
            stride=spec.dilation,
            padding=spec.padding,
            dilation=spec.stride,
        )
        gw = gw[:, :, : weight.shape[2], : weight.shape[3]].transpose(0, 1)
    return gx, gw


_NO_PATTERNS = torch.empty(0, dtype=torch.uint8)


def _cat(parts: list[Tensor]) -> Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class _ChunkedConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, spec: ConvSpec):  # type: ignore[override]
        outs, idxs, shapes, pats = [], [], [], []
        binary = spec.binary and binary_conv_native.usable(x, weight)
        keep = ctx.needs_input_grad[1]  # grad mode is off inside forward
        for part in x.split(spec.chunk):
            rows = None
            if binary:
                rows = binary_conv_native.pack(
                    part, weight, spec.stride, spec.padding, spec.dilation
                )
            # the chunk's row patterns for a binary weight gradient, else an empty marker
            pats.append(rows if rows is not None and keep else _NO_PATTERNS)
            if rows is not None:
                out_size = binary_conv_native.output_size(
                    part, weight, spec.stride, spec.padding, spec.dilation
                )
                if spec.pool == (2, 2) and min(out_size) >= 2 and pool_native.available():
                    # pooled as it is written: the convolution's output is never formed
                    y, idx = binary_conv_native.conv_forward_pooled(
                        rows, weight, bias, len(part), out_size
                    )
                    shapes.append(torch.Size((len(part), weight.shape[0], *out_size)))
                    idxs.append(idx)
                    outs.append(y)
                    continue
                y = binary_conv_native.conv_forward(rows, weight, bias, len(part), out_size)
            else:
                y = F.conv2d(part, weight, bias, spec.stride, spec.padding, spec.dilation)
            if spec.pool is not None:
                shapes.append(y.shape)
                y, idx = _pool_forward(y, spec.pool)
                idxs.append(idx)
            outs.append(y)
        ctx.spec, ctx.has_bias, ctx.shapes = spec, bias is not None, shapes
        ctx.chunks = len(outs)
        ctx.save_for_backward(x, weight, *idxs, *pats)
        return _cat(outs)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, weight, *rest = ctx.saved_tensors
        spec: ConvSpec = ctx.spec
        idxs = rest[: len(rest) - ctx.chunks]
        pats = rest[len(rest) - ctx.chunks :]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gxs, gw, gb = [], None, None
        # a second-order gradient (create_graph=True, grad mode on here) needs a recorded
        # backward: torch's convolution and pooling backward, not the native kernels
        native = not torch.is_grad_enabled()
        # the native path writes each chunk's input gradient into its rows of the whole
        # gradient (no concatenation); a recorded backward keeps torch's own tensors
        gx_all = (
            torch.empty_like(x, memory_format=torch.contiguous_format)
            if need_x and native and ctx.chunks > 1
            else None
        )
        start = 0
        for i, (xp, gp) in enumerate(zip(x.split(spec.chunk), g.split(spec.chunk), strict=True)):
            rows = gx_all[start : start + len(xp)] if gx_all is not None else None
            start += len(xp)
            gp = gp.contiguous()
            if need_b and ctx.has_bias:
                # the bias gradient sums the output gradient over images and positions: the
                # pooled gradient holds the same values (the rest of the pooling's input
                # gradient is zeros), a quarter as many for 2x2 windows
                gbp = gp.sum((0, 2, 3))
                gb = gbp if gb is None else gb + gbp
            idx = idxs[i] if idxs else None
            # 2x2 pooling with the native kernel's winners: both gradients come straight from
            # the pooled gradient, which is never unpooled
            pooled = native and idx is not None and pooled_conv_grad_native.usable(
                gp, idx, weight, spec.stride, spec.dilation, spec.pool
            )
            binary_w = native and need_w and pats[i].numel() > 0
            gxp = gwp = None
            if need_x and pooled:
                out = rows if rows is not None and rows.dtype == torch.float32 else None
                gxp = pooled_conv_grad_native.input_grad(
                    gp, idx, weight, xp.shape, spec.padding, out=out
                )
            if binary_w and pooled:
                gwp = binary_conv_native.weight_grad_pooled(
                    pats[i], gp, idx, weight.shape, ctx.shapes[i][2:]
                )
            dense_x = need_x and not pooled
            planes_w = need_w and not (binary_w and pooled)  # needs the unpooled gradient
            if spec.pool is not None and (dense_x or planes_w):
                gp = _pool_backward(gp, ctx.shapes[i], idx, spec.pool)
            if binary_w and not pooled:
                gwp = binary_conv_native.weight_grad(pats[i], gp, weight.shape)
            dense_w = need_w and not binary_w
            gxd, gwd = _conv_backward(xp, gp, weight, spec, dense_x, dense_w)
            gxp = gxd if gxd is not None else gxp
            gwp = gwd if gwd is not None else gwp
            if gxp is not None and rows is not None:
                if gxp.data_ptr() != rows.data_ptr():
                    rows.copy_(gxp)
            elif gxp is not None:
                gxs.append(gxp)
            if gwp is not None:
                gw = gwp if gw is None else gw + gwp
        gx = (gx_all if gx_all is not None else _cat(gxs)) if need_x else None
        return gx, (gw.contiguous() if gw is not None else None), gb, None


def conv2d_chunked(
    x: Tensor, weight: Tensor, bias: Tensor | None, spec: ConvSpec = ConvSpec()
) -> Tensor:
    """``F.conv2d`` (groups 1, zero padding) on ``[N, C, H, W]`` in chunks, then the max pool
    of ``spec.pool`` if given.

    Args:
        x: input ``[N, C, H, W]``.
        weight: ``[O, C, kh, kw]``; bias ``[O]`` or ``None``.
        spec: stride, padding, dilation, chunk size, weight-gradient method, pooling.

    Returns:
        ``[N, O, Ho, Wo]`` (pooled: ``[N, O, Ho // ph, Wo // pw]``), equal to
        ``F.conv2d(x, weight, bias, stride, padding, dilation)`` (then ``F.max_pool2d``);
        its gradients equal torch's up to the order of summation.
    """
    return _ChunkedConv2d.apply(x, weight, bias, spec)
