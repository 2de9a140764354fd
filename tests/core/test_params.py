"""Neuron parameters: ranges kept by reparametrisation (C10), tau <-> beta (C11), validation."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.errors import ConfigError
from spikeforge.neurons import IF, LI, LIF, LIFState, beta_from_tau, tau_from_beta
from spikeforge.neurons.params import THRESHOLD_FLOOR, inverse_softplus

F64 = torch.float64
FAST = settings(max_examples=25, deadline=None)


def _sgd_step(lif: LIF, grad_beta_logit: float, grad_threshold_raw: float) -> None:
    """One SGD step (lr = 1) with the given gradients on the raw parameters."""
    opt = torch.optim.SGD(lif.parameters(), lr=1.0)
    lif.beta_logit.grad = torch.full_like(lif.beta_logit, grad_beta_logit)
    lif.threshold_raw.grad = torch.full_like(lif.threshold_raw, grad_threshold_raw)
    opt.step()


def _assert_in_range_and_silent(lif: LIF) -> None:
    beta, theta = lif.beta.detach(), lif.threshold.detach()
    assert bool(((beta >= 0) & (beta <= 1)).all()), beta
    assert bool((theta >= THRESHOLD_FLOOR).all()), theta
    out, _ = lif(torch.zeros(10, 2, *lif.shape))
    assert out.sum().item() == 0  # a threshold <= 0 would fire at all 10 steps


# ---------------------------------------------------------------- C10


def test_c10_reparametrisation_values_and_slope():
    lif = LIF(0.99, threshold=1.0, learn_beta=True, learn_threshold=True).double()
    assert lif.beta_logit.item() == pytest.approx(math.log(0.99 / 0.01), abs=1e-5)  # 4.5951
    assert lif.beta.item() == pytest.approx(0.99, abs=1e-6)
    assert lif.threshold.item() == pytest.approx(1.0, abs=1e-6)
    (slope,) = torch.autograd.grad(lif.beta, lif.beta_logit)
    assert slope.item() == pytest.approx(0.99 * (1 - 0.99), abs=1e-6)  # 0.0099, never 0


@pytest.mark.parametrize("shape", [None, (3,)])
def test_c10_pitfall_step_keeps_ranges_and_training(shape):
    lif = LIF(0.99, threshold=1.0, learn_beta=True, learn_threshold=True, shape=shape)
    # The pitfall's push: -0.1 on the decay (raw 0.99 -> 1.09) and +1.5 on the threshold
    # (raw 1.0 -> -0.5), applied here to the raw parameters with SGD(lr=1).
    _sgd_step(lif, -0.1, 1.5)
    _assert_in_range_and_silent(lif)
    # The value exposed is the value used: U2 = beta * U1 for U1 below threshold.
    x = torch.zeros(2, 1, *lif.shape)
    x[0] = 0.05
    trace = lif.trace(x)
    torch.testing.assert_close(trace.membrane[1, 0] / 0.05, lif.beta.detach().expand(lif.shape))
    # Still trainable: a loss that prefers a smaller decay has a non-zero gradient ...
    lif.zero_grad()
    loss = lif.trace(torch.full((5, 1, *lif.shape), 0.01)).membrane.sum()
    loss.backward()
    assert bool((lif.beta_logit.grad > 0).all())
    # ... and a step along it lowers the decay.
    before = lif.beta.detach().clone()
    torch.optim.SGD([lif.beta_logit], lr=1.0).step()
    assert bool((lif.beta.detach() < before).all())


@FAST
@given(
    g_beta=st.floats(-1e6, 1e6),
    g_theta=st.floats(-1e6, 1e6),
    start_beta=st.floats(0.01, 0.99),
    start_theta=st.floats(0.01, 5.0),
)
def test_c10_any_step_keeps_decay_in_unit_interval_and_threshold_positive(
    g_beta, g_theta, start_beta, start_theta
):
    lif = LIF(start_beta, threshold=start_theta, learn_beta=True, learn_threshold=True)
    _sgd_step(lif, g_beta, g_theta)
    _assert_in_range_and_silent(lif)


@FAST
@given(g_beta=st.floats(-10.0, 10.0))
def test_c10_decay_gradient_stays_nonzero_after_realistic_steps(g_beta):
    lif = LIF(0.99, learn_beta=True, learn_threshold=True)
    _sgd_step(lif, g_beta, 0.0)
    (grad,) = torch.autograd.grad(lif.beta.sum(), lif.beta_logit)
    assert grad.item() > 0


# ---------------------------------------------------------------- C11


@pytest.mark.parametrize("tau", [20.0, 1.0, 0.5, 0.25])
@pytest.mark.parametrize("cast", [torch.float32, F64])
def test_c11_exact_exponential_sequences(tau, cast):
    dt = 1.0
    lif = LIF(tau=tau, dt=dt, threshold=1e9).to(cast)
    trace = lif.trace(torch.zeros(3, 1, dtype=cast), LIFState(torch.ones(1, dtype=cast)))
    expected = torch.tensor([math.exp(-t * dt / tau) for t in (1, 2, 3)], dtype=cast)
    torch.testing.assert_close(trace.membrane[:, 0], expected, rtol=0, atol=1e-6)
    assert lif.beta.item() == pytest.approx(math.exp(-dt / tau), rel=1e-6)


@pytest.mark.parametrize("cast", [torch.float32, F64])
def test_c11_hundred_steps_with_dt_four_times_tau_never_flip_sign(cast):
    lif = LIF(tau=0.25, dt=1.0, threshold=1e9).to(cast)
    trace = lif.trace(torch.zeros(100, 1, dtype=cast), LIFState(torch.ones(1, dtype=cast)))
    u = trace.membrane[:, 0]
    assert bool(torch.isfinite(u).all()) and bool((u >= 0).all())
    assert bool((u[1:] <= u[:-1]).all())
    assert u[-1].item() <= math.exp(-100 / 0.25) + 1e-30


@FAST
@given(tau=st.floats(1e-3, 1.0), ratio=st.floats(1.0, 50.0))
def test_c11_dt_at_or_above_tau_decays_monotonically(tau, ratio):
    dt = tau * ratio
    lif = LIF(tau=tau, dt=dt, threshold=1e9).double()
    assert 0.0 <= lif.beta.item() < 1.0
    trace = lif.trace(torch.zeros(20, 1, dtype=F64), LIFState(torch.ones(1, dtype=F64)))
    u = trace.membrane[:, 0]
    assert bool((u >= 0).all()) and bool((u[1:] <= u[:-1]).all())


def test_c11_tau_beta_round_trip_of_the_pitfall():
    beta, dt = 0.9, 1.0
    tau = tau_from_beta(beta, dt)
    assert tau == pytest.approx(-dt / math.log(beta), rel=1e-12)  # 9.49122 ms, not 10 ms
    assert beta_from_tau(tau, dt) == pytest.approx(beta, abs=1e-12)
    direct = LIF(beta).double()
    via_tau = LIF(tau=tau, dt=dt).double()
    assert via_tau.beta.item() == pytest.approx(beta, abs=1e-6)
    x = torch.rand(40, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    a, b = direct.trace(x), via_tau.trace(x)
    assert torch.equal(a.output, b.output)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=0, atol=1e-6)
    readout = LI(tau=tau, dt=dt)
    assert readout.beta.item() == pytest.approx(beta, abs=1e-6)


@FAST
@given(beta=st.floats(1e-6, 1 - 1e-6), dt=st.floats(1e-3, 10.0))
def test_beta_tau_round_trip(beta, dt):
    assert beta_from_tau(tau_from_beta(beta, dt), dt) == pytest.approx(beta, rel=1e-9)


@pytest.mark.parametrize(
    ("tau", "dt"), [(0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (math.inf, 1.0), (1.0, 0.0)]
)
def test_beta_from_tau_rejects_bad_values(tau, dt):
    with pytest.raises(ConfigError, match=r"> 0 \(ms\)"):
        beta_from_tau(tau, dt)
    with pytest.raises(ConfigError):
        LIF(tau=tau, dt=dt)


@pytest.mark.parametrize("beta", [0.0, 1.0, 1.5, -0.2])
def test_tau_from_beta_rejects_beta_without_finite_tau(beta):
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        tau_from_beta(beta, 1.0)


@pytest.mark.parametrize("dt", [0.0, -1.0, math.nan, math.inf])
def test_tau_from_beta_rejects_bad_dt(dt):
    with pytest.raises(ConfigError, match=r"dt must be a finite time step > 0"):
        tau_from_beta(0.9, dt)


# ---------------------------------------------------------------- validation and storage


@pytest.mark.parametrize("threshold", [0.0, -1.0, THRESHOLD_FLOOR / 2, math.nan, math.inf])
@pytest.mark.parametrize("learn", [False, True])
def test_threshold_must_be_positive_and_finite(threshold, learn):
    with pytest.raises(ConfigError, match="threshold") as err:
        LIF(threshold=threshold, learn_threshold=learn)
    assert "\n" not in str(err.value)


def test_per_neuron_threshold_with_one_bad_entry_raises():
    with pytest.raises(ConfigError, match="threshold"):
        IF(threshold=[1.0, 0.0, 2.0], shape=(3,))


@pytest.mark.parametrize("beta", [-0.1, 1.1, math.nan, [0.5, 1.2]])
def test_beta_outside_unit_interval_raises(beta):
    for make in (lambda: LIF(beta), lambda: LI(beta)):
        with pytest.raises(ConfigError, match="beta") as err:
            make()
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_learnable_beta_on_the_boundary_raises(beta):
    with pytest.raises(ConfigError, match=r"strictly inside \(0, 1\).*learn_beta=False"):
        LIF(beta, learn_beta=True)
    assert LIF(beta).beta.item() == beta  # fixed boundary values are fine


def test_parameter_that_does_not_fit_the_neuron_shape_raises():
    with pytest.raises(ConfigError, match=r"does not broadcast to the neuron shape \(4,\)"):
        LIF([0.5, 0.6, 0.7], shape=(4,))


def test_fixed_values_are_buffers_and_learnable_ones_parameters():
    fixed = LIF(0.8, threshold=1.5)
    assert dict(fixed.named_parameters()) == {}
    assert set(fixed.state_dict()) == {"beta_value", "threshold_value"}
    learn = LIF(0.8, threshold=1.5, learn_beta=True, learn_threshold=True)
    assert set(dict(learn.named_parameters())) == {"beta_logit", "threshold_raw"}
    assert learn.beta.item() == pytest.approx(0.8) and learn.threshold.item() == pytest.approx(1.5)
    if_neuron = IF()
    assert if_neuron.beta.item() == 1.0 and dict(if_neuron.named_parameters()) == {}


def test_per_neuron_parameters_act_per_neuron():
    betas, thetas = [0.25, 0.5, 0.75], [0.5, 1.0, 2.0]
    layer = LIF(betas, threshold=thetas, shape=(3,)).double()
    x = torch.rand(15, 2, 3, generator=torch.Generator().manual_seed(4), dtype=F64) * 1.5
    out = layer.trace(x)
    for i in range(3):
        single = LIF(betas[i], threshold=thetas[i]).double().trace(x[..., i])
        assert torch.equal(out.output[..., i], single.output)
        assert torch.equal(out.membrane[..., i], single.membrane)


@FAST
@given(y=st.floats(1e-6, 80.0))
def test_inverse_softplus_inverts_softplus(y):
    t = torch.tensor(y, dtype=F64)
    assert torch.nn.functional.softplus(inverse_softplus(t)).item() == pytest.approx(y, rel=1e-9)


@pytest.mark.parametrize("learn", [False, True])
def test_parameters_given_as_tensors_with_grad_are_copied_not_linked(learn):
    beta = torch.tensor(0.9, requires_grad=True)
    theta = torch.tensor([1.0, 2.0], requires_grad=True) * 1.0  # not a leaf
    lif = LIF(beta, threshold=theta, shape=(2,), learn_beta=learn, learn_threshold=learn)
    for t in [*lif.buffers(), *lif.parameters()]:
        assert t.grad_fn is None  # no link to the caller's graph
    assert all(not b.requires_grad for b in lif.buffers())
    clone = copy.deepcopy(lif)
    x = torch.rand(3, 1, 2)
    for _ in range(2):  # backward twice: no shared, already-freed graph
        lif.trace(x.requires_grad_()).membrane.sum().backward()
    assert beta.grad is None
    assert torch.equal(clone(x)[0], lif(x)[0])
    with torch.no_grad():
        beta.fill_(0.1)
    assert lif.beta.detach().tolist() == pytest.approx([0.9, 0.9])
