"""The spike function and its surrogates: exact Heaviside forward, analytic backward."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import ConfigError
from spikeforge.surrogate import (
    SURROGATES,
    Arctan,
    FastSigmoid,
    Sigmoid,
    Surrogate,
    Triangle,
    heaviside,
    spike,
)

# Points that avoid the kinks of the triangle (x = 0, +-1/k) by more than the gradcheck step.
GRID = torch.tensor(
    [-3.0, -0.9, -0.37, -0.2, -0.11, -0.013, 0.017, 0.09, 0.23, 0.41, 0.77, 2.5],
    dtype=torch.float64,
)


def analytic_derivative(s: Surrogate, x: torch.Tensor) -> torch.Tensor:
    """The derivative each surrogate documents, written out here independently."""
    k = s.scale
    if isinstance(s, FastSigmoid):
        return 1.0 / (1.0 + k * x.abs()) ** 2
    if isinstance(s, Arctan):
        return (k / 2) / (1.0 + (math.pi * k * x / 2) ** 2)
    if isinstance(s, Sigmoid):
        e = torch.exp(-k * x)
        return k * e / (1.0 + e) ** 2
    if isinstance(s, Triangle):
        return torch.where(x.abs() < 1.0 / k, k * (1.0 - k * x.abs()), torch.zeros_like(x))
    raise AssertionError(f"no analytic derivative for {s!r}")


def test_derivative_equals_the_analytic_formula(surrogate):
    torch.testing.assert_close(
        surrogate.derivative(GRID), analytic_derivative(surrogate, GRID), rtol=1e-12, atol=1e-12
    )


def test_derivative_is_the_derivative_of_the_primitive(surrogate):
    class Primitive(torch.autograd.Function):
        """Forward: the primitive. Backward: the surrogate's own derivative."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return surrogate.primitive(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * surrogate.derivative(x)

    x = GRID.clone().requires_grad_()
    # Finite differences of the primitive against derivative() ...
    assert torch.autograd.gradcheck(Primitive.apply, (x,), eps=1e-6, atol=1e-6)
    # ... and autograd through the primitive's own formula.
    (auto,) = torch.autograd.grad(surrogate.primitive(x).sum(), x)
    torch.testing.assert_close(auto, surrogate.derivative(GRID), rtol=1e-10, atol=1e-12)


def test_spike_backward_is_grad_out_times_derivative(surrogate, dtype):
    x = GRID.to(dtype).requires_grad_()
    grad_out = torch.linspace(-2.0, 3.0, GRID.numel(), dtype=dtype)
    (g,) = torch.autograd.grad(spike(x, surrogate), x, grad_out)
    assert g.dtype == dtype
    torch.testing.assert_close(g, grad_out * surrogate.derivative(x.detach()))


def test_spike_gradcheck_against_surrogate_derivative(surrogate):
    # The backward of spike() is exactly the Jacobian-vector product with derivative().
    x = GRID.clone().requires_grad_()
    jac = torch.autograd.functional.jacobian(lambda t: spike(t, surrogate), x)
    torch.testing.assert_close(jac, torch.diag(surrogate.derivative(GRID)))


def test_heaviside_at_zero_is_one():
    x = torch.tensor([-1.0, -1e-30, -0.0, 0.0, 1e-30, 1.0], dtype=torch.float64)
    expected = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.equal(heaviside(x), expected)
    assert torch.equal(spike(x, FastSigmoid()), expected)


def test_heaviside_carries_no_gradient():
    x = torch.zeros(3, requires_grad=True)
    assert not heaviside(x).requires_grad


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_spikes_are_binary_and_keep_shape_and_dtype(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype)
    s = spike(x, Arctan())
    assert s.shape == x.shape and s.dtype == dtype and s.device == x.device
    assert torch.equal(s, (x >= 0).to(dtype))
    assert bool(((s == 0) | (s == 1)).all())


def test_peaks_and_triangle_area():
    zero = torch.zeros((), dtype=torch.float64)
    assert FastSigmoid(7.0).derivative(zero).item() == pytest.approx(1.0)
    assert Arctan(3.0).derivative(zero).item() == pytest.approx(1.5)
    assert Sigmoid(8.0).derivative(zero).item() == pytest.approx(2.0)
    assert Triangle(4.0).derivative(zero).item() == pytest.approx(4.0)
    from scipy.integrate import quad

    tri = Triangle(4.0)
    area, _ = quad(
        lambda v: tri.derivative(torch.tensor(v, dtype=torch.float64)).item(),
        -1,
        1,
        points=[-0.25, 0, 0.25],
    )
    assert area == pytest.approx(1.0, abs=1e-9)


def test_cli_names_map_to_the_classes():
    assert {
        "fast-sigmoid": FastSigmoid,
        "arctan": Arctan,
        "sigmoid": Sigmoid,
        "triangle": Triangle,
    } == SURROGATES
    for cls in SURROGATES.values():
        assert isinstance(cls(), Surrogate)


@pytest.mark.parametrize("cls", [FastSigmoid, Arctan, Sigmoid, Triangle])
@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scale_raises_config_error(cls, scale):
    with pytest.raises(ConfigError, match="scale") as err:
        cls(scale)
    assert "\n" not in str(err.value)
