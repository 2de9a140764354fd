"""Convolution over a time-folded batch ``[T*B, C, H, W]``, in chunks, with a faster backward.

Forward runs ``F.conv2d`` on chunks of at most ``chunk`` images (the im2col buffers of a
chunk stay in cache). Backward computes the gradient of the input with torch's own
convolution backward (per chunk, only when the input needs it) and the gradient of the
weight as one more *forward* convolution per chunk, with the roles of batch and channels
swapped::

    dL/dW[o, c, i, j] = sum_{n, y, x} g[n, o, y, x] * x_pad[n, c, y*s + i*d, x*s + j*d]
                      = conv2d(x^T, g^T, stride=d, dilation=s, padding=p)[c, o, i, j]

with ``x^T = x.transpose(0, 1)`` (``[C, n, H, W]``: images become input channels) and
``g^T`` (``[O, n, Ho, Wo]``) used as the weight. On our CPUs oneDNN runs this forward
convolution 1.5-3x faster than its weight-gradient primitive for the small-channel,
many-image convolutions of spiking networks (docs/performance.md); the sum is the same, in
another order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["conv2d_chunked"]

Pair = tuple[int, int]


def _weight_grad(
    x: Tensor, g: Tensor, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
) -> Tensor:
    """``dL/dW`` ``[O, C, kh, kw]`` of one chunk: input ``x`` ``[n, C, H, W]``, output
    gradient ``g`` ``[n, O, Ho, Wo]``."""
    gw = F.conv2d(
        x.transpose(0, 1), g.transpose(0, 1), stride=dilation, padding=padding, dilation=stride
    )
    return gw[:, :, : kernel[0], : kernel[1]].transpose(0, 1)


class _ChunkedConv2d(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        stride: Pair,
        padding: Pair,
        dilation: Pair,
        chunk: int,
    ) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, chunk, bias is not None)
        parts = [F.conv2d(p, weight, bias, stride, padding, dilation) for p in x.split(chunk)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding, dilation, chunk, has_bias = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = g.contiguous()
        gx = gw = gb = None
        if need_x:
            mask = [True, False, False]
            gx = torch.cat(
                [
                    torch.ops.aten.convolution_backward(
                        gp, xp, weight, None, stride, padding, dilation, False, [0, 0], 1, mask
                    )[0]
                    for xp, gp in zip(x.split(chunk), g.split(chunk), strict=True)
                ]
            )
        if need_w:
            kernel = (weight.shape[2], weight.shape[3])
            for xp, gp in zip(x.split(chunk), g.split(chunk), strict=True):
                part = _weight_grad(xp, gp, kernel, stride, padding, dilation)
                gw = part if gw is None else gw + part
            gw = gw.contiguous()
        if need_b and has_bias:
            gb = g.sum((0, 2, 3))
        return gx, gw, gb, None, None, None, None


def conv2d_chunked(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    chunk: int = 640,
) -> Tensor:
    """``F.conv2d`` (groups 1, zero padding) on ``[N, C, H, W]`` in chunks of ``chunk`` images.

    Args:
        x: input ``[N, C, H, W]``.
        weight: ``[O, C, kh, kw]``; bias ``[O]`` or ``None``.
        stride, padding, dilation: as in ``F.conv2d`` (pairs of ints).
        chunk: images per call of the underlying convolution.

    Returns:
        ``[N, O, Ho, Wo]``, equal to ``F.conv2d(x, weight, bias, stride, padding, dilation)``;
        its gradients equal torch's up to the order of summation (module docstring).
    """
    return _ChunkedConv2d.apply(x, weight, bias, stride, padding, dilation, chunk)
