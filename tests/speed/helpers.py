"""Builders for the fused-kernel tests: a layer, its inputs, a loss touching every output;
and :func:`graph_names`, the autograd nodes behind a result (which path ran)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from spikeforge.neurons import ALIF, IF, LIF, Backend, Neuron, NeuronTrace, Reset
from spikeforge.surrogate import Surrogate

KINDS = ("if", "lif", "alif")


@dataclass(frozen=True)
class Case:
    """One configuration of a layer under test."""

    kind: str = "lif"
    reset: Reset = Reset.SUBTRACT
    detach_reset: bool = True
    surrogate: Surrogate | None = None
    learn: bool = True
    per_neuron: bool = False


def build(case: Case, shape: tuple[int, ...], generator: torch.Generator) -> Neuron:
    """A float64 layer of ``case`` with random (per-neuron or shared) parameters."""
    n_shape = shape if case.per_neuron else ()
    common = dict(
        threshold=0.5 + torch.rand(n_shape, generator=generator, dtype=torch.float64),
        reset=case.reset,
        surrogate=case.surrogate,
        detach_reset=case.detach_reset,
        learn_threshold=case.learn,
        shape=shape if case.per_neuron else None,
    )
    beta = 0.6 + 0.35 * torch.rand(n_shape, generator=generator, dtype=torch.float64)
    if case.kind == "if":
        layer: Neuron = IF(**common)
    elif case.kind == "lif":
        layer = LIF(beta, learn_beta=case.learn, **common)
    else:
        rho = 0.7 + 0.25 * torch.rand(n_shape, generator=generator, dtype=torch.float64)
        layer = ALIF(beta, rho=rho, jump=0.3, learn_beta=case.learn, **common)
    return layer.double()


def random_state(layer: Neuron, step_shape: tuple[int, ...], generator: torch.Generator):
    """A random initial state (leaf tensors that require grad) for ``layer``."""
    state = layer.initial_state(torch.zeros(step_shape, dtype=torch.float64))
    return type(state)(
        *(
            0.5 * torch.rand(step_shape, generator=generator, dtype=torch.float64).requires_grad_()
            for _ in state
        )
    )


def run(
    layer: Neuron,
    backend: Backend,
    x: Tensor,
    state,
    *,
    num_steps: int | None = None,
    weights: dict[str, Tensor],
    device: str = "cpu",
):
    """Run a copy of ``layer`` with ``backend``; return outputs and gradients of a fixed loss.

    The loss is a weighted sum of the spikes, the membrane trace and every final state
    field, so every incoming gradient path of the backward pass is exercised.
    """
    net = copy.deepcopy(layer).to(device)
    net.backend = backend
    x = x.detach().to(device).requires_grad_()
    st = (
        None
        if state is None
        else type(state)(*(t.detach().to(device).requires_grad_() for t in state))
    )
    w = {k: v.to(device) for k, v in weights.items() if k != "state"}
    tr = net.trace(x, st, num_steps=num_steps)
    loss = (w["s"] * tr.output).sum() + (w["u"] * tr.membrane).sum()
    for i, field in enumerate(tr.state):
        loss = loss + (weights["state"][i].to(device) * field).sum()
    leaves = [x, *(st or ()), *net.parameters()]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    cpu = NeuronTrace(
        tr.output.cpu(), tr.membrane.cpu(), type(tr.state)(*(t.cpu() for t in tr.state))
    )
    return cpu, [g.cpu() if g is not None else None for g in grads]


def loss_weights(steps: int, step_shape: tuple[int, ...], fields: int, generator: torch.Generator):
    """Random loss weights for spikes and membranes ``[T, ...]`` and each state field."""
    full = (steps, *step_shape)
    return {
        "s": torch.randn(full, generator=generator, dtype=torch.float64),
        "u": 0.1 * torch.randn(full, generator=generator, dtype=torch.float64),
        "state": [
            torch.randn(step_shape, generator=generator, dtype=torch.float64) for _ in range(fields)
        ],
    }


def assert_same(reference, fused) -> None:
    """Spikes, membranes and states bitwise equal; gradients equal to float64 rounding."""
    (tr_r, g_r), (tr_f, g_f) = reference, fused
    assert torch.equal(tr_r.output, tr_f.output)
    assert torch.equal(tr_r.membrane, tr_f.membrane)
    for a, b in zip(tr_r.state, tr_f.state, strict=True):
        assert torch.equal(a, b)
    assert len(g_r) == len(g_f)
    for a, b in zip(g_r, g_f, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def graph_names(y: Tensor) -> set[str]:
    """Names of the autograd nodes that produced ``y`` (which kernel or fallback ran)."""
    names, todo = set(), [y.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None:
            names.add(type(node).__name__)
            todo.extend(nxt for nxt, _ in node.next_functions)
    return names


def count_calls(monkeypatch, module, name: str) -> list[int]:
    """Replace ``module.name`` by a wrapper that records each call (one entry per call) and
    then runs the original; returns the list it appends to."""
    calls: list[int] = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls
