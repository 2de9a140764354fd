"""Spiking convolutional network for small images (8x8 digits to 32x32 CIFAR)."""

from __future__ import annotations

from collections.abc import Sequence

from spikeforge.errors import ConfigError
from spikeforge.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d
from spikeforge.models.spec import NeuronSpec, Readout
from spikeforge.network import Sequential

__all__ = ["spiking_cnn"]


def spiking_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    channels: Sequence[int] = (32, 64),
    hidden: int | Sequence[int] = (128,),
    neuron: NeuronSpec | None = None,
    readout: Readout = Readout.SPIKES,
    dropout: float = 0.0,
) -> Sequential:
    """``[Conv3x3 -> BN -> LIF -> MaxPool2] * len(channels) -> [FC -> LIF] * len(hidden) -> FC``
    ``-> readout``.

    ``hidden`` is one width or a sequence of widths. Each block halves the image side.
    Input ``[T, B, C, H, W]`` (or static ``[B, C, H, W]``), output ``[T, B, num_classes]``.
    """
    spec = neuron or NeuronSpec()
    if not channels:
        raise ConfigError("spiking_cnn: channels must name at least one conv block, got none")
    c, h, w = (int(v) for v in input_shape)
    if min(h, w) < 2 ** len(channels):
        fits = min(h, w).bit_length() - 1  # blocks that halve the side down to >= 1 pixel
        given = ",".join(str(int(v)) for v in channels)
        fix = (
            f"give at most {fits} block{'s' if fits != 1 else ''}, e.g. --channels "
            + ",".join(str(int(v)) for v in channels[:fits])
            if fits
            else "use --arch mlp"
        )
        raise ConfigError(
            f"--channels {given}: {len(channels)} conv blocks each halve the image side, so "
            f"they need images of at least {2 ** len(channels)}x{2 ** len(channels)} pixels, "
            f"but these are {h}x{w}; {fix}"
        )
    layers: list = []
    for out_c in channels:
        layers += [
            Conv2d(c, out_c, 3, padding=1, bias=False),
            BatchNorm2d(out_c),
            spec.build((out_c, h, w)),
            MaxPool2d(2),
        ]
        c, h, w = out_c, h // 2, w // 2
    layers.append(Flatten())
    width = c * h * w
    for hid in (hidden,) if isinstance(hidden, int) else hidden:
        layers += [Linear(width, hid), spec.build((hid,))]
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = hid
    layers += [Linear(width, num_classes), spec.build_readout(readout, num_classes)]
    return Sequential(*layers)
