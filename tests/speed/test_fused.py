"""The fused kernels equal the reference loop (the pure step under autograd) in float64."""

from __future__ import annotations

import itertools

import pytest
import torch
from helpers import KINDS, Case, assert_same, build, loss_weights, random_state, run

from spikeforge.neurons import Backend, Reset
from spikeforge.surrogate import Arctan, FastSigmoid, Sigmoid, Triangle

KERNELS = (Backend.TORCH, Backend.NATIVE)
SURROGATES = (FastSigmoid(), Arctan(), Sigmoid(), Triangle(scale=0.8))
T, B, SHAPE = 9, 3, (5,)


def compare(
    case: Case, backend: Backend, *, static: bool = False, seed: int = 0, device: str = "cpu"
) -> None:
    """Reference on the CPU against ``backend`` on ``device``, same layer, input and loss."""
    gen = torch.Generator().manual_seed(seed)
    layer = build(case, SHAPE, gen)
    x_shape = (B, *SHAPE) if static else (T, B, *SHAPE)
    x = 1.2 * torch.rand(x_shape, generator=gen, dtype=torch.float64)
    state = random_state(layer, (B, *SHAPE), gen)
    w = loss_weights(T, (B, *SHAPE), len(state), gen)
    steps = T if static else None
    ref = run(layer, Backend.REFERENCE, x, state, num_steps=steps, weights=w)
    assert ref[0].output.sum() > 0, "the case must spike to test anything"
    assert_same(ref, run(layer, backend, x, state, num_steps=steps, weights=w, device=device))


@pytest.mark.parametrize("backend", KERNELS, ids=lambda b: b.value)
@pytest.mark.parametrize(
    ("kind", "reset", "detach", "surrogate"),
    list(itertools.product(KINDS, Reset, (True, False), SURROGATES)),
    ids=lambda v: (
        getattr(v, "value", None) or type(v).__name__ if not isinstance(v, (str, bool)) else str(v)
    ),
)
def test_fused_equals_reference(kind, reset, detach, surrogate, backend) -> None:
    """Values and gradients w.r.t. input, initial state, decay and threshold (shared)."""
    compare(Case(kind, reset, detach, surrogate), backend)


@pytest.mark.parametrize("backend", KERNELS, ids=lambda b: b.value)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reset", Reset, ids=lambda r: r.value)
@pytest.mark.parametrize("detach", (True, False))
def test_per_neuron_parameters(kind, reset, detach, backend) -> None:
    """Per-neuron learnable decay and threshold: gradients summed over batch and time."""
    compare(Case(kind, reset, detach, FastSigmoid(), per_neuron=True), backend, seed=1)


@pytest.mark.parametrize("backend", KERNELS, ids=lambda b: b.value)
@pytest.mark.parametrize("kind", KINDS)
def test_static_input_gradient_is_summed_over_time(kind, backend) -> None:
    """``num_steps`` with a ``[B, ...]`` input equals the reference on T expanded copies."""
    compare(Case(kind, per_neuron=True), backend, static=True, seed=2)


@pytest.mark.parametrize("backend", KERNELS, ids=lambda b: b.value)
def test_fixed_parameters_and_no_grad(backend) -> None:
    """Buffers (no learnable parameter) and inference without autograd give the same spikes."""
    compare(Case("lif", learn=False), backend, seed=3)
    gen = torch.Generator().manual_seed(4)
    layer = build(Case("alif"), SHAPE, gen)
    x = torch.rand((T, B, *SHAPE), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        layer.backend = Backend.REFERENCE
        s_ref, st_ref = layer(x)
        layer.backend = backend
        s_f, st_f = layer(x)
    assert torch.equal(s_ref, s_f)
    assert all(torch.equal(a, b) for a, b in zip(st_ref, st_f, strict=True))
