"""Stateless layers applied over time, with time-major tensors ``[T, B, ...]``.

Convolutions, pooling and batch norm fold time into the batch (``[T*B, ...]``), so the
whole sequence is one call of the underlying operator, never a Python loop over ``T``.
Linear layers act on the last dimension and need no folding. Dropout draws one mask per
sample and feature and keeps it for every time step (a neuron that is dropped is dropped
for the whole sequence).

Every layer here also accepts a "static" sequence ``[1, B, ...]`` (an input that does not
change over time): computing it once and broadcasting it later equals computing it ``T``
times, which :class:`spikeforge.network.Sequential` uses for direct encoding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from spikeforge import binary_linear_native, conv_pool_native, pool_native
from spikeforge.conv import ConvSpec, conv2d_chunked
from spikeforge.errors import ConfigError, StateError

__all__ = [
    "CONV_CHUNK_IMAGES",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "fold_time",
]


#: Convolutions run over at most this many images of the folded ``[T*B, ...]`` batch at a
#: time: on our 2-core machines chunks of ~640 images were 15 % (12->64 channels, 12x12) to
#: 2x (1->12, 28x28) faster than one call on 3,200 images, forward+backward, because the
#: im2col buffers of a chunk stay in cache (docs/performance.md).
CONV_CHUNK_IMAGES = 640


def fold_time(
    fn: Callable[[Tensor], Tensor], x: Tensor, name: str = "layer", max_images: int | None = None
) -> Tensor:
    """Apply ``fn`` to ``x`` ``[T, B, ...]`` as one batch ``[T*B, ...]`` and unfold the result.

    With ``max_images``, the time axis is cut into chunks of at most that many images
    (at least one step each), ``fn`` runs once per chunk and the results are concatenated.
    """
    if x.dim() < 3:
        raise StateError(
            f"{name}: expected a time-major input [T, B, ...], got shape {tuple(x.shape)}"
        )
    t, b = x.shape[:2]
    if max_images is not None and t > 1 and t * b > max_images:
        steps = max(1, max_images // b)
        return torch.cat([fold_time(fn, part, name) for part in x.split(steps)])
    y = fn(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


class _FoldTime:
    """Mixin: the wrapped torch layer's ``forward`` applied with time folded into the batch."""

    def forward(self, x: Tensor) -> Tensor:
        return fold_time(super().forward, x, type(self).__name__)  # type: ignore[misc]


class Linear(nn.Linear):
    """``nn.Linear`` on ``[T, B, in_features] -> [T, B, out_features]``, one product over
    all ``T*B`` rows.

    When the input is binary (spikes: rate-coded data, or the spikes of a layer) and the
    layer has at least :data:`spikeforge.binary_linear_native.MIN_OUT_FEATURES` outputs
    (float32 on the CPU), :mod:`spikeforge.binary_linear_native` runs it: the product only
    adds weight columns, tabulated eight inputs at a time, and the backward keeps two bits
    per input value instead of the float input. Every other input runs ``F.linear``; both give
    the same values and gradients to float32 rounding.
    """

    def forward(self, x: Tensor) -> Tensor:
        if binary_linear_native.usable(x, self.weight):
            return binary_linear_native.linear(x, self.weight, self.bias)
        return super().forward(x)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` over ``[T, B, C, H, W]``: time folded into the batch, in chunks of at
    most :data:`CONV_CHUNK_IMAGES` images (:mod:`spikeforge.conv`)."""

    def conv_spec(self, x: Tensor, pool: tuple[int, int] | None = None) -> ConvSpec | None:
        """How :mod:`spikeforge.conv` runs this layer on ``x``, or ``None`` when it cannot
        (groups > 1, a padding mode or string padding other than zeros, a non-CPU tensor):
        torch's own convolution then runs, chunk by chunk."""
        if (
            self.groups != 1
            or self.padding_mode != "zeros"
            or isinstance(self.padding, str)
            or x.device.type != "cpu"
        ):
            return None
        return ConvSpec(
            stride=_pair(self.stride),
            padding=_pair(self.padding),
            dilation=_pair(self.dilation),
            chunk=CONV_CHUNK_IMAGES,
            pool=pool,
        )

    def forward(self, x: Tensor) -> Tensor:
        spec = self.conv_spec(x)
        if spec is None:
            return fold_time(super().forward, x, type(self).__name__, CONV_CHUNK_IMAGES)
        return fold_time(lambda z: conv2d_chunked(z, self.weight, self.bias, spec), x, "Conv2d")

    def forward_pooled(self, x: Tensor, pool: MaxPool2d) -> Tensor | None:
        """This convolution then ``pool``, fused chunk by chunk (the full-size convolution
        output is never stored), or ``None`` if they cannot be fused (see
        :meth:`MaxPool2d.fusable_kernel`)."""
        kernel = pool.fusable_kernel()
        if kernel is None:
            return None
        if self._data_layer_kernel(x, kernel):
            padding = _pair(self.padding)  # type: ignore[arg-type]
            return fold_time(
                lambda z: conv_pool_native.conv2d_maxpool2(z, self.weight, self.bias, padding),
                x,
                "Conv2d",
            )
        spec = self.conv_spec(x, kernel)
        if spec is None:
            return None
        return fold_time(lambda z: conv2d_chunked(z, self.weight, self.bias, spec), x, "Conv2d")

    def _data_layer_kernel(self, x: Tensor, pool: tuple[int, int]) -> bool:
        """Whether :mod:`spikeforge.conv_pool_native` runs this convolution and ``pool`` on
        ``x`` ``[T, B, C, H, W]``: an input without gradient (data), few input channels,
        stride 1, 2x2 pooling, float32 on the CPU (see :func:`conv_pool_native.usable`)."""
        if x.dim() != 5 or isinstance(self.padding, str) or self.padding_mode != "zeros":
            return False
        return conv_pool_native.usable(
            x[0],
            self.weight,
            stride=_pair(self.stride),
            padding=_pair(self.padding),
            dilation=_pair(self.dilation),
            groups=self.groups,
            pool=pool,
        )


class MaxPool2d(_FoldTime, nn.MaxPool2d):
    """``nn.MaxPool2d`` over ``[T, B, C, H, W]`` -> ``[T, B, C, Ho, Wo]``.

    Windows that tile the input (``stride == kernel_size``, no padding, no dilation,
    ``ceil_mode=False``, ``return_indices=False``) on float32/float64 CPU tensors run the
    native kernel of :mod:`spikeforge.pool_native` (same values and gradients, several times
    faster); every other case, or a machine without a C++ compiler, runs ``nn.MaxPool2d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        kernel = self.fusable_kernel()
        if kernel is not None and x.dim() == 5:
            folded = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
            if pool_native.usable(folded, kernel):
                y = pool_native.max_pool2d(folded, kernel)
                return y.reshape(*x.shape[:2], *y.shape[1:])
        return super().forward(x)

    def fusable_kernel(self) -> tuple[int, int] | None:
        """The window if this pool can be fused into the convolution before it: windows
        that do not overlap (stride = kernel), no padding, dilation 1, no ceil mode, no
        returned indices; else ``None``."""
        kernel = _pair(self.kernel_size)
        stride = _pair(self.stride) if self.stride is not None else kernel
        if (
            kernel != stride
            or _pair(self.padding) != (0, 0)
            or _pair(self.dilation) != (1, 1)
            or self.ceil_mode
            or self.return_indices
        ):
            return None
        return kernel


class AvgPool2d(_FoldTime, nn.AvgPool2d):
    """``nn.AvgPool2d`` over ``[T, B, C, H, W]``."""


class BatchNorm2d(_FoldTime, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` over ``[T, B, C, H, W]``; statistics pooled over time and batch."""


class BatchNorm1d(_FoldTime, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over ``[T, B, F]``; statistics pooled over time and batch."""


class Flatten(nn.Module):
    """``[T, B, d1, d2, ...] -> [T, B, d1*d2*...]``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2)


class Dropout(nn.Module):
    """Dropout with one mask per sample and feature, shared by every time step.

    ``p`` is the drop probability. In training, kept values are scaled by ``1/(1-p)``.
    The mask is drawn from ``generator`` if given (else torch's default generator).
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"Dropout p must lie in [0, 1) (the drop probability), got {p!r}")
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty(x.shape[1:], dtype=x.dtype, device=x.device)
        keep.bernoulli_(1.0 - self.p, generator=self.generator)
        return x * (keep / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
