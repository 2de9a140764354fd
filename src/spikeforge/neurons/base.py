"""The one time loop and the base class of every trainable discrete-time neuron.

A neuron module owns its parameters and nothing else: its state goes in and comes out,
``forward(x_seq, state=None) -> (out_seq, final_state)``, with time-major tensors
``[T, B, ...]``. ``state=None`` starts from rest. There is no hidden state, so resetting
one network can never touch another (pitfall C01), a new batch size can never meet an old
state silently (C05), and a run is reproducible from its arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from spikeforge.errors import ConfigError, StateError

__all__ = ["Neuron", "NeuronTrace", "Reset", "check_input", "check_state", "detach_state", "unroll"]


class Reset(enum.Enum):
    """What happens to the membrane in the step a spike is emitted."""

    SUBTRACT = "subtract"  #: ``U <- U - threshold * S`` (keeps the overshoot)
    ZERO = "zero"  #: ``U <- U * (1 - S)``


class NeuronTrace(NamedTuple):
    """Everything a layer did over a sequence.

    Attributes:
        output: ``[T, B, ...]`` spikes (0/1) of a spiking neuron, or the membrane of a readout.
        membrane: ``[T, B, ...]`` membrane after integrating the input and before the reset.
        state: the final state, to pass on to the next chunk of the sequence.
    """

    output: Tensor
    membrane: Tensor
    state: Any


#: A step maps (input at t, state) to (output at t, membrane before reset at t, new state).
Step = Callable[[Tensor, Any], tuple[Tensor, Tensor, Any]]


def unroll(step: Step, x: Tensor, state: Any, *, record_membrane: bool) -> NeuronTrace:
    """Run ``step`` over the time axis of ``x`` ``[T, B, ...]`` with autograd per step.

    This is the reference loop; fused kernels are alternatives tested against it.
    """
    outputs: list[Tensor] = []
    membranes: list[Tensor] = []
    for t in range(x.shape[0]):
        out, v_pre, state = step(x[t], state)
        outputs.append(out)
        if record_membrane:
            membranes.append(v_pre)
    out_seq = torch.stack(outputs)
    mem_seq = torch.stack(membranes) if record_membrane else out_seq.new_empty((0,))
    return NeuronTrace(out_seq, mem_seq, state)


def detach_state(state: Any) -> Any:
    """A copy of ``state`` (a NamedTuple of tensors, or ``None``) cut from the autograd graph.

    Use between chunks for truncated backprop through time: every field, including the
    spike of recurrent neurons, is detached (pitfall C03).
    """
    if state is None:
        return None
    return type(state)(*(t.detach() for t in state))


def check_input(name: str, x: Tensor) -> None:
    """Reject inputs that are not time-major ``[T, B, ...]`` floating-point tensors."""
    if not isinstance(x, Tensor):
        raise StateError(
            f"{name}: input must be a torch.Tensor [T, B, ...], got {type(x).__name__}"
        )
    if x.dim() < 2:
        raise StateError(
            f"{name}: input must be time-major [T, B, ...] with at least 2 dims, "
            f"got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise StateError(f"{name}: input must be a floating-point tensor, got {x.dtype}")
    if x.shape[0] < 1:
        raise StateError(
            f"{name}: input must have at least one time step, got shape {tuple(x.shape)}"
        )


def check_state(name: str, state: Any, step_shape: torch.Size) -> None:
    """Reject a state whose tensors do not have exactly the shape of one input step."""
    fields = getattr(state, "_fields", None)
    if not isinstance(state, tuple) or fields is None:
        raise StateError(
            f"{name}: state must be the state a previous call returned (a NamedTuple such as "
            f"LIFState) or None to start from rest, got {type(state).__name__}"
        )
    for field, value in zip(fields, state, strict=True):
        if value.shape != step_shape:
            raise StateError(
                f"{name}: state.{field} has shape {tuple(value.shape)} but one input step has "
                f"shape {tuple(step_shape)} (batch size changed?); pass state=None to start "
                "from rest"
            )


class Neuron(nn.Module):
    """Base of the trainable neurons. Subclasses define :meth:`initial_state` and :meth:`step`.

    ``forward(x, state=None) -> (output [T, B, ...], final_state)``;
    ``trace(x, state=None) -> NeuronTrace`` also returns the membrane sequence.
    """

    #: True for neurons whose output is spikes; False for non-spiking readouts.
    spiking: bool = True

    def initial_state(self, x0: Tensor) -> Any:
        """The resting state for one input step ``x0`` ``[B, ...]`` (dtype/device of ``x0``)."""
        raise NotImplementedError  # abstract

    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Tensor, Any]:
        """One time step: ``(output_t, membrane_before_reset_t, new_state)``."""
        raise NotImplementedError  # abstract

    def _prepare(self, x: Tensor, state: Any) -> Any:
        name = type(self).__name__
        check_input(name, x)
        shape = getattr(self, "shape", ())
        if shape and tuple(x.shape[2:]) != shape:
            raise ConfigError(
                f"{name} was built for neuron shape {shape} but the input is [T, B, ...] = "
                f"{tuple(x.shape)}"
            )
        if state is None:
            return self.initial_state(x[0])
        check_state(name, state, x.shape[1:])
        return state

    def _unroll(self, x: Tensor, state: Any, record_membrane: bool) -> NeuronTrace:
        return unroll(self.step, x, state, record_membrane=record_membrane)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Run over ``x`` ``[T, B, ...]`` from ``state`` (``None``: rest)."""
        result = self._unroll(x, self._prepare(x, state), False)
        return result.output, result.state

    def trace(self, x: Tensor, state: Any = None) -> NeuronTrace:
        """Like :meth:`forward` but also returns the membrane before reset at every step."""
        return self._unroll(x, self._prepare(x, state), True)
