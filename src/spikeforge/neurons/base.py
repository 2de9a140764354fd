"""The one time loop and the base class of every trainable discrete-time neuron.

A neuron module owns its parameters and nothing else: its state goes in and comes out,
``forward(x_seq, state=None) -> (out_seq, final_state)``, with time-major tensors
``[T, B, ...]``. ``state=None`` starts from rest. There is no hidden state, so resetting
one network can never touch another (pitfall C01), a new batch size can never meet an old
state silently (C05), and a run is reproducible from its arguments.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from spikeforge.errors import ConfigError, StateError

__all__ = [
    "Backend",
    "Neuron",
    "NeuronTrace",
    "Reset",
    "check_input",
    "check_state",
    "detach_state",
    "set_backend",
    "unroll",
]


class Reset(enum.Enum):
    """What happens to the membrane in the step a spike is emitted."""

    SUBTRACT = "subtract"  #: ``U <- U - threshold * S`` (keeps the overshoot)
    ZERO = "zero"  #: ``U <- U * (1 - S)``


class Backend(enum.Enum):
    """How a neuron layer runs its time loop (the results agree; see docs/performance.md).

    ``FUSED`` (default) runs the whole loop as one autograd node whose backward is the
    reverse-time recurrence, with the fastest kernel available for the tensor's device,
    dtype and surrogate (compiled C++ on CPU, Triton on CUDA, vectorised torch otherwise).
    ``TORCH``, ``NATIVE`` and ``TRITON`` force one kernel of the fused path (an error if it
    cannot run). ``REFERENCE`` unrolls the pure step under autograd, one node per op and step.
    """

    FUSED = "fused"
    TORCH = "torch"
    NATIVE = "native"
    TRITON = "triton"
    REFERENCE = "reference"


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


class Neuron(nn.Module, metaclass=abc.ABCMeta):
    """Base of the trainable neurons. Subclasses define :meth:`initial_state` and :meth:`step`.

    ``forward(x, state=None) -> (output [T, B, ...], final_state)``;
    ``trace(x, state=None) -> NeuronTrace`` also returns the membrane sequence.
    With ``num_steps=T`` the input ``x`` is static ``[B, ...]``: the same input at each of
    ``T`` steps (direct encoding); its gradient is the sum over the steps.
    Subclasses with a fused kernel set ``supports_fused`` and define :meth:`_fused_unroll`;
    ``backend`` (a :class:`Backend`) chooses between it and the reference loop.
    """

    #: True for neurons whose output is spikes; False for non-spiking readouts.
    spiking: bool = True
    #: True when :meth:`_fused_unroll` is implemented.
    supports_fused: bool = False
    #: How the time loop runs (set per instance, or on a whole model with :func:`set_backend`).
    backend: Backend = Backend.FUSED

    @abc.abstractmethod
    def initial_state(self, x0: Tensor) -> Any:
        """The resting state for one input step ``x0`` ``[B, ...]`` (dtype/device of ``x0``)."""

    @abc.abstractmethod
    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Tensor, Any]:
        """One time step: ``(output_t, membrane_before_reset_t, new_state)``."""

    def _fused_unroll(self, x: Tensor, state: Any, num_steps: int) -> NeuronTrace:
        """The fused loop over ``num_steps`` steps of ``x`` ``[T or 1, B, ...]``.

        Neurons with ``supports_fused = True`` override this; the others run the reference loop.
        """
        raise ConfigError(
            f"{type(self).__name__} has no fused kernel; use backend=Backend.REFERENCE"
        )

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

    def _sequence(self, x: Tensor, num_steps: int | None) -> tuple[Tensor, int]:
        """``x`` as ``[T, B, ...]`` (or ``[1, B, ...]`` when static) and the number of steps."""
        if num_steps is None:
            return x, (x.shape[0] if isinstance(x, Tensor) and x.dim() > 0 else 0)
        if num_steps < 1:
            raise StateError(f"{type(self).__name__}: num_steps must be >= 1, got {num_steps}")
        if not isinstance(x, Tensor) or x.dim() < 1:
            raise StateError(
                f"{type(self).__name__}: a static input must be a tensor [B, ...], got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
            )
        return x.unsqueeze(0), int(num_steps)

    def _unroll(
        self, x: Tensor, state: Any, record_membrane: bool, num_steps: int | None = None
    ) -> NeuronTrace:
        x_seq, steps = self._sequence(x, num_steps)
        state = self._prepare(x_seq, state)
        if self.supports_fused and self.backend is not Backend.REFERENCE:
            return self._fused_unroll(x_seq, state, steps)
        if x_seq.shape[0] != steps:
            x_seq = x_seq.expand(steps, *x_seq.shape[1:])
        return unroll(self.step, x_seq, state, record_membrane=record_membrane)

    def forward(
        self, x: Tensor, state: Any = None, *, num_steps: int | None = None
    ) -> tuple[Tensor, Any]:
        """Run over ``x`` ``[T, B, ...]`` (or static ``[B, ...]`` with ``num_steps``)."""
        result = self._unroll(x, state, False, num_steps)
        return result.output, result.state

    def trace(self, x: Tensor, state: Any = None, *, num_steps: int | None = None) -> NeuronTrace:
        """Like :meth:`forward` but also returns the membrane before reset at every step."""
        return self._unroll(x, state, True, num_steps)


def set_backend(model: nn.Module, backend: Backend) -> nn.Module:
    """Set ``backend`` on every :class:`Neuron` inside ``model``; returns ``model``."""
    if not isinstance(backend, Backend):
        raise ConfigError(f"backend must be a spikeforge.neurons.Backend, got {backend!r}")
    for m in model.modules():
        if isinstance(m, Neuron):
            m.backend = backend
    return model
