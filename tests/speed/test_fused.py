"""The fused kernels equal the reference loop (the pure step under autograd) in float64."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.neurons import Backend, Reset, kernel_native, kernel_torch
from spikeforge.neurons.fused import FusedConfig, select_kernel
from spikeforge.surrogate import Arctan, FastSigmoid, Sigmoid, Triangle

from .helpers import KINDS, Case, assert_same, build, loss_weights, random_state, run

NATIVE_BUILT = kernel_native.library_path() is not None
#: The CPU kernels under test (the native one only where a C++ compiler could build it).
KERNELS = (Backend.TORCH, Backend.NATIVE) if NATIVE_BUILT else (Backend.TORCH,)
SURROGATES = (FastSigmoid(), Arctan(), Sigmoid(), Triangle(scale=0.8))
T, B, SHAPE = 9, 3, (5,)


def compare(
    case: Case,
    backend: Backend,
    *,
    static: bool = False,
    seed: int = 0,
    device: str = "cpu",
    steps: int = T,
    batch: int = B,
    shape: tuple[int, ...] = SHAPE,
    require_spikes: bool = True,
) -> None:
    """Reference on the CPU against ``backend`` on ``device``, same layer, input and loss."""
    gen = torch.Generator().manual_seed(seed)
    layer = build(case, shape, gen)
    x_shape = (batch, *shape) if static else (steps, batch, *shape)
    x = 1.2 * torch.rand(x_shape, generator=gen, dtype=torch.float64)
    state = random_state(layer, (batch, *shape), gen)
    w = loss_weights(steps, (batch, *shape), len(state), gen)
    num_steps = steps if static else None
    ref = run(layer, Backend.REFERENCE, x, state, num_steps=num_steps, weights=w)
    if require_spikes:
        assert ref[0].output.sum() > 0, "the case must spike to test anything"
    assert_same(ref, run(layer, backend, x, state, num_steps=num_steps, weights=w, device=device))


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


@settings(max_examples=30, deadline=None)
@given(
    steps=st.integers(1, 12),
    batch=st.integers(1, 4),
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
    static=st.booleans(),
    per_neuron=st.booleans(),
    kind=st.sampled_from(KINDS),
    backend=st.sampled_from(KERNELS),
    seed=st.integers(0, 2**16),
)
def test_any_shape_and_length(steps, batch, shape, static, per_neuron, kind, backend, seed):
    """Property: equality holds for any neuron shape, batch size, T and input mode."""
    case = Case(kind, per_neuron=per_neuron)
    compare(
        case,
        backend,
        static=static,
        seed=seed,
        steps=steps,
        batch=batch,
        shape=shape,
        require_spikes=False,  # tiny random cases may stay silent; the fixed cases do spike
    )


@pytest.mark.parametrize("backend", KERNELS, ids=lambda b: b.value)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("batch", "shape", "static"),
    [(5, (1001,), False), (2100, (3,), True), (9, (7, 13, 11), False), (4500, (1,), False)],
    ids=str,
)
def test_blocks_spanning_samples(kind, batch, shape, static, backend) -> None:
    """Layers larger than one block of the native kernel (blocks start mid-sample and hold
    many samples), with per-neuron parameters, static and per-step inputs."""
    compare(
        Case(kind, per_neuron=True), backend, static=static, seed=6, steps=4, batch=batch,
        shape=shape,
    )


@pytest.mark.skipif(
    not NATIVE_BUILT, reason=f"native kernel not built: {kernel_native.build_error()}"
)
def test_default_backend_picks_the_native_kernel_on_cpu() -> None:
    cfg = FusedConfig(Reset.SUBTRACT, True, FastSigmoid(), Backend.FUSED)
    assert select_kernel(cfg, torch.zeros(2, 3)) is kernel_native
    assert select_kernel(cfg, torch.zeros(2, 3, dtype=torch.float16)) is kernel_torch


@dataclass(frozen=True)
class _Rectangle:
    """A user-defined surrogate (no compiled kernel knows it): box of width 1/scale."""

    scale: float = 2.0

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return (self.scale * x + 0.5).clamp(0.0, 1.0)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * ((self.scale * x).abs() < 0.5).to(x.dtype)


def test_user_surrogate_runs_on_the_torch_kernel_and_equals_reference() -> None:
    cfg = FusedConfig(Reset.SUBTRACT, True, _Rectangle(), Backend.FUSED)
    assert select_kernel(cfg, torch.zeros(2, 3)) is kernel_torch
    compare(Case("alif", surrogate=_Rectangle()), Backend.FUSED, seed=5)
