"""Synaptic operations: how many weight accumulations the events of a run trigger.

A synaptic operation (SynOp) is one weight read and accumulate caused by one non-zero
input (a spike, or an analog value) reaching one target neuron. For a linear layer each
non-zero input costs ``out_features`` SynOps; for a convolution each non-zero input pixel
costs the number of outputs it reaches (``out_channels / groups`` times the kernel
positions that cover it, fewer at padded borders). The count is exact: it applies the
layer's connectivity with unit weights to the mask of non-zero inputs and sums.

The count covers the operations actually executed: a static input (direct encoding) runs
the layers before the first neuron once and reuses their output at every step, so they are
counted once. Inputs that are not binary (direct encoding) make those operations
multiply-accumulates rather than accumulates; they are counted the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spikeforge.metrics import LayerHooks

__all__ = ["SynOpsCounter", "layer_synops"]


def layer_synops(layer: nn.Module, x: Tensor) -> int:
    """Exact SynOps of ``layer`` (``nn.Linear`` or ``nn.Conv2d``) on input ``x``.

    Args:
        layer: a linear layer (input ``[..., in_features]``) or a 2-D convolution (input
            ``[T, B, C, H, W]`` or ``[N, C, H, W]``).
        x: the input the layer receives.

    Returns:
        The number of (input event, target neuron) pairs, an ``int``.
    """
    active = (x != 0).to(torch.float32)
    if isinstance(layer, nn.Linear):
        return int(active.sum().item()) * layer.out_features
    if isinstance(layer, nn.Conv2d):
        flat = active.reshape(-1, *active.shape[-3:])
        ones = torch.ones(
            (layer.out_channels, layer.in_channels // layer.groups, *layer.kernel_size),
            device=x.device,
        )
        reached = F.conv2d(
            flat,
            ones,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
        )
        return int(reached.sum().item())
    raise TypeError(f"layer_synops: unsupported layer {type(layer).__name__}")


class SynOpsCounter(LayerHooks):
    """Counts the SynOps of every linear and 2-D convolution layer of ``model`` while open.

    ``with SynOpsCounter(model) as c: model(x)`` then ``c.total()`` (all layers) or
    ``c.counts()`` (per layer name).
    """

    def __init__(self, model: nn.Module) -> None:
        self._layers = [
            (name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))
        ]
        self._counts: dict[str, int] = {name: 0 for name, _ in self._layers}

    def _register(self, name: str, module: nn.Module) -> Any:
        return module.register_forward_pre_hook(self._hook(name))

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            self._counts[name] += layer_synops(module, args[0].detach())

        return hook

    def counts(self) -> dict[str, int]:
        """SynOps per layer name."""
        return dict(self._counts)

    def total(self) -> int:
        """SynOps of all layers."""
        return sum(self._counts.values())
