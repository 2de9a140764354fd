"""A feed-forward spiking network: stateless layers and neurons applied in order over time.

``Sequential(*layers)`` runs ``[T, B, ...]`` sequences. Its state is a tuple with one entry
per layer (``None`` for stateless layers), passed in and returned like a neuron's state.

Static input (direct encoding): ``forward(x, num_steps=T)`` with ``x`` ``[B, ...]`` means the
same input at each of ``T`` steps. The stateless layers before the first neuron then run
once on ``[1, B, ...]`` and the first neuron reads their result at every step (its
``num_steps`` argument), summing the gradient over time; this equals, forward and backward,
running them on ``T`` copies. A batch norm in training mode is the exception: it runs on the
``T`` copies so that its running statistics are those of them.

A :class:`~spikeforge.layers.Conv2d` directly followed by a non-overlapping
:class:`~spikeforge.layers.MaxPool2d` runs fused (:mod:`spikeforge.conv`): same values and
gradients, without storing the full-size convolution output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from spikeforge.errors import ConfigError, StateError
from spikeforge.layers import Conv2d, MaxPool2d
from spikeforge.neurons.base import Neuron, NeuronTrace

__all__ = ["LayerTrace", "Sequential"]


def _global_hooks() -> bool:
    """Whether forward hooks registered for every module (``nn.modules.module``) exist."""
    mod = nn.modules.module
    return bool(mod._global_forward_hooks or mod._global_forward_pre_hooks)


def _per_step(layer: nn.Module) -> bool:
    """Whether a static input must be expanded to every step before ``layer``.

    A batch norm in training mode updates its running variance with the unbiased estimate,
    whose ``n / (n - 1)`` factor depends on how many copies it sees, so computing it once
    would not equal running it on ``T`` copies. A neuron is not expanded for: it takes the
    static input as ``[B, ...]`` with ``num_steps`` and reads it at every step.
    """
    return isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.training


class LayerTrace(NamedTuple):
    """What one neuron layer did: its index and name in the network and its trace."""

    index: int
    name: str
    trace: NeuronTrace


class Sequential(nn.Sequential):
    """Layers applied in order over time (see module docstring).

    ``forward(x, state=None, *, num_steps=None) -> (output [T, B, ...], state tuple)``.
    """

    def neuron_layers(self) -> list[tuple[int, Neuron]]:
        """``(index, module)`` of every neuron layer, in order."""
        return [(i, m) for i, m in enumerate(self) if isinstance(m, Neuron)]

    def _run(
        self, x: Tensor, state: tuple[Any, ...] | None, num_steps: int | None, record: bool
    ) -> tuple[Tensor, tuple[Any, ...], list[LayerTrace]]:
        if state is not None and len(state) != len(self):
            raise StateError(
                f"Sequential: state has {len(state)} entries but the network has {len(self)} "
                "layers; pass state=None to start from rest"
            )
        if not isinstance(x, Tensor):
            raise StateError(
                f"Sequential: input must be a torch.Tensor [T, B, ...] (or [B, ...] with "
                f"num_steps), got {type(x).__name__}"
            )
        if num_steps is not None:
            if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
                raise ConfigError(f"num_steps must be an integer >= 1, got {num_steps!r}")
            h = x.unsqueeze(0)  # static: [1, B, ...]
        else:
            h = x
        new_state: list[Any] = []
        traces: list[LayerTrace] = []
        fused_into_previous = False
        for i, layer in enumerate(self):
            if fused_into_previous:  # a max pool already applied by the convolution before it
                fused_into_previous = False
                new_state.append(None)
                continue
            if num_steps is not None and h.shape[0] == 1 and num_steps > 1 and _per_step(layer):
                h = h.expand(num_steps, *h.shape[1:])
            if isinstance(layer, Neuron):
                static = num_steps is not None and h.shape[0] == 1 and num_steps > 1
                # a static input goes in as [B, ...] with num_steps: the neuron reads it at
                # every step and sums its gradient over time (no T copies, no expand backward)
                h_in, steps = (h.squeeze(0), num_steps) if static else (h, None)
                s_in = state[i] if state is not None else None
                if record:
                    tr = layer.trace(h_in, s_in, num_steps=steps)
                    traces.append(LayerTrace(i, f"{i}:{type(layer).__name__}", tr))
                    h, s_out = tr.output, tr.state
                else:
                    h, s_out = layer(h_in, s_in, num_steps=steps)
                new_state.append(s_out)
            else:
                pooled = self._conv_pool(i, h)
                fused_into_previous = pooled is not None
                h = pooled if pooled is not None else layer(h)
                new_state.append(None)
        if num_steps is not None and h.shape[0] != num_steps:
            h = h.expand(num_steps, *h.shape[1:])
        return h, tuple(new_state), traces

    def _conv_pool(self, i: int, h: Tensor) -> Tensor | None:
        """Layers ``i`` (a convolution) and ``i + 1`` (a max pool) run fused, or ``None``.

        Not fused when either has hooks (they would not see the convolution's output).
        """
        if i + 1 >= len(self):
            return None
        conv, pool = self[i], self[i + 1]
        if not (isinstance(conv, Conv2d) and isinstance(pool, MaxPool2d)):
            return None
        if any(m._forward_hooks or m._forward_pre_hooks for m in (conv, pool)) or _global_hooks():
            return None
        return conv.forward_pooled(h, pool)

    def forward(  # type: ignore[override]
        self, x: Tensor, state: tuple[Any, ...] | None = None, *, num_steps: int | None = None
    ) -> tuple[Tensor, tuple[Any, ...]]:
        """Run the network; see the class docstring for shapes."""
        out, new_state, _ = self._run(x, state, num_steps, record=False)
        return out, new_state

    def trace(
        self, x: Tensor, state: tuple[Any, ...] | None = None, *, num_steps: int | None = None
    ) -> tuple[Tensor, list[LayerTrace]]:
        """Run the network and return its output and the trace of every neuron layer."""
        out, _, traces = self._run(x, state, num_steps, record=True)
        return out, traces
