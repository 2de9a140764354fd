"""LIF, IF and LI neurons: closed-form oracles (float64), properties, and pitfalls.

Our documented convention (``spikeforge.neurons.lif``): ``U[t] = beta U[t-1] + I[t]``,
fire when ``U[t] >= threshold``, reset in the same step (subtract by default, or to zero),
no ``(1 - beta)`` input scaling, ``detach_reset=True`` by default.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spikeforge.errors import ConfigError, StateError
from spikeforge.neurons import (
    IF,
    LI,
    LIF,
    LIFState,
    LIState,
    Reset,
    detach_state,
    li_step,
    lif_step,
)
from spikeforge.surrogate import FastSigmoid

F64 = torch.float64
FAST = settings(max_examples=20, deadline=None)
# Decays exactly representable in float32, so a module built in float32 and cast with
# .double() uses exactly the beta of the formula.
betas = st.integers(1, 63).map(lambda k: k / 64)


def first_spike_index(spikes: torch.Tensor) -> int | None:
    """0-based index of the first spike of a 1-D train, or None."""
    idx = torch.nonzero(spikes).flatten()
    return int(idx[0]) if idx.numel() else None


# ---------------------------------------------------------------- closed-form oracles


@FAST
@given(beta=betas, steps=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_lif_membrane_below_threshold_is_the_discounted_input_sum(beta, steps, seed):
    g = torch.Generator().manual_seed(seed)
    current = torch.rand(steps, 3, generator=g, dtype=F64) * 2 - 1
    lif = LIF(beta, threshold=1e9).double()
    trace = lif.trace(current)
    # U[t] = sum_{k <= t} beta^(t - k) I[k]
    t = torch.arange(steps, dtype=F64)
    lag = t[:, None] - t[None, :]
    weights = torch.where(lag >= 0, beta ** lag.clamp_min(0), torch.zeros_like(lag))
    torch.testing.assert_close(trace.membrane, weights @ current, rtol=1e-12, atol=1e-12)
    assert not trace.output.any()


@FAST
@given(beta=betas, c=st.floats(0.01, 2.0), steps=st.integers(1, 60))
def test_lif_membrane_under_constant_input_is_geometric(beta, c, steps):
    lif = LIF(beta, threshold=1e9).double()
    trace = lif.trace(torch.full((steps, 1), c, dtype=F64))
    t = torch.arange(1, steps + 1, dtype=F64)
    expected = c * (1 - beta**t) / (1 - beta)
    torch.testing.assert_close(trace.membrane[:, 0], expected, rtol=1e-12, atol=1e-12)


@FAST
@given(beta=betas, c=st.floats(0.05, 3.0), theta=st.floats(0.25, 2.0, width=32))
def test_lif_first_spike_step_equals_closed_form(beta, c, theta):
    ratio = theta * (1 - beta) / c
    lif = LIF(beta, threshold=theta).double()
    if ratio >= 1:  # the fixed point c / (1 - beta) lies at or below threshold
        assume(ratio > 1 + 1e-9)
        out, _ = lif(torch.full((300, 1), c, dtype=F64))
        assert not out.any()
        return
    steps_real = math.log(1 - ratio) / math.log(beta)
    expected = max(1, math.ceil(steps_real))  # 1-based step of the first spike

    def u(t: int) -> float:  # closed-form membrane after t steps from rest
        return c * (1 - beta**t) / (1 - beta)

    # Stay clear of crossings that float64 rounding could move by a step.
    assume(u(expected) - theta > 1e-9 and theta - u(expected - 1) > 1e-9)
    out, _ = lif(torch.full((expected + 5, 1), c, dtype=F64))
    assert first_spike_index(out[:, 0]) == expected - 1


def test_lif_first_spike_pinned_example():
    # beta 0.9, c 0.3, theta 1: U = 0.3, 0.57, 0.813, 1.0317 -> first spike at step 4 (1-based)
    expected = math.ceil(math.log(1 - 1.0 * (1 - 0.9) / 0.3) / math.log(0.9))
    assert expected == 4
    out, _ = LIF(0.9).double()(torch.full((6, 1), 0.3, dtype=F64))
    assert first_spike_index(out[:, 0]) == expected - 1


@FAST
@given(steps=st.integers(1, 200), theta=st.floats(0.5, 2.0, width=32), frac=st.floats(0.01, 1.0))
def test_if_subtract_spike_count_is_floor_of_total_input(steps, theta, frac):
    c = frac * theta  # at most one spike per step is needed
    total = steps * c / theta
    assume(abs(total - round(total)) > 1e-6)
    out, state = IF(threshold=theta).double()(torch.full((steps, 1), c, dtype=F64))
    count = math.floor(total)
    assert out.sum().item() == count
    assert state.v.item() == pytest.approx(steps * c - theta * count, abs=1e-9)


@FAST
@given(steps=st.integers(1, 200), theta=st.floats(0.5, 2.0, width=32), frac=st.floats(0.01, 1.0))
def test_if_zero_reset_fires_every_ceil_theta_over_c_steps(steps, theta, frac):
    c = frac * theta
    period_real = theta / c
    assume(abs(period_real - round(period_real)) > 1e-6)
    period = math.ceil(period_real)
    out, _ = IF(threshold=theta, reset=Reset.ZERO).double()(torch.full((steps, 1), c, dtype=F64))
    expected = torch.zeros(steps, dtype=F64)
    expected[period - 1 :: period] = 1.0
    assert torch.equal(out[:, 0], expected)
    assert out.sum().item() == steps // period


def test_if_integer_crossing_pins_heaviside_at_zero():
    # 0.0625 * 16 == 1.0 exactly: with U >= theta the first spike is at step 16, not 17.
    out, _ = IF().double()(torch.full((40, 1), 0.0625, dtype=F64))
    assert first_spike_index(out[:, 0]) == 15
    assert out.sum().item() == math.floor(40 * 0.0625 / 1.0)


@FAST
@given(
    beta=betas,
    theta=st.floats(0.25, 2.0, width=32),
    reset=st.sampled_from(list(Reset)),
    steps=st.integers(1, 30),
    seed=st.integers(0, 2**16),
)
def test_lif_with_spikes_equals_the_documented_rule(lif_reference, beta, theta, reset, steps, seed):
    g = torch.Generator().manual_seed(seed)
    current = torch.rand(steps, 2, 3, generator=g, dtype=F64) * 1.5 - 0.2
    trace = LIF(beta, threshold=theta, reset=reset).double().trace(current)
    spikes, membrane = lif_reference(current, beta, theta, reset)
    assert torch.equal(trace.output, spikes)
    torch.testing.assert_close(trace.membrane, membrane, rtol=0, atol=1e-12)


def test_lif_subtract_closed_form_with_spikes():
    # With subtract reset: U[t] = sum_k beta^(t-k) I[k] - theta sum_{k<t} beta^(t-k) S[k].
    beta, theta = 0.75, 0.8125  # both exact in float32
    g = torch.Generator().manual_seed(3)
    current = torch.rand(25, 1, generator=g, dtype=F64)
    trace = LIF(beta, threshold=theta).double().trace(current)
    s, u = trace.output[:, 0], trace.membrane[:, 0]
    for t in range(25):
        drive = sum(beta ** (t - k) * current[k, 0].item() for k in range(t + 1))
        resets = sum(beta ** (t - k) * s[k].item() for k in range(t))
        assert u[t].item() == pytest.approx(drive - theta * resets, abs=1e-12)
        assert s[t].item() == float(u[t].item() >= theta)
    assert s.sum() > 3  # the example does spike


# ---------------------------------------------------------------- properties


def _by_hand(neuron, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unroll the neuron's pure step function by hand: (outputs, final membrane)."""
    v = torch.zeros_like(x[0])
    outs = []
    for t in range(x.shape[0]):
        if isinstance(neuron, LI):
            v = li_step(x[t], v, neuron.beta)
            outs.append(v)
        else:
            s, _, v = lif_step(
                x[t],
                v,
                neuron.beta,
                neuron.threshold,
                reset=neuron.reset,
                surrogate=neuron.surrogate,
                detach_reset=neuron.detach_reset,
            )
            outs.append(s)
    return torch.stack(outs), v


@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_module_equals_its_pure_step_unrolled_by_hand(make_neuron, detach_reset, per_neuron):
    kw = dict(make_neuron.learnable)
    if isinstance(make_neuron(), LIF):
        kw["detach_reset"] = detach_reset
    if per_neuron:
        kw["shape"] = (4,)
    neuron = make_neuron(**kw).double()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(12, 3, 4, generator=g, dtype=F64) * 0.8).requires_grad_()
    out, state = neuron(x)
    ref, v = _by_hand(neuron, x)
    assert torch.equal(out, ref)
    assert torch.equal(state.v, v)
    params = [x, *neuron.parameters()]
    weights = torch.linspace(-1, 1, out.numel(), dtype=F64).reshape(out.shape)
    g_mod = torch.autograd.grad((out * weights).sum() + state.v.sum(), params)
    g_ref = torch.autograd.grad((ref * weights).sum() + v.sum(), params)
    for a, b in zip(g_mod, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@FAST
@given(t1=st.integers(1, 10), t2=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_unrolling_t1_plus_t2_equals_t1_then_t2(make_neuron, t1, t2, seed):
    neuron = make_neuron().double()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(t1 + t2, 2, 3, generator=g, dtype=F64) * 0.9
    whole = neuron.trace(x)
    first = neuron.trace(x[:t1])
    second = neuron.trace(x[t1:], first.state)
    assert torch.equal(torch.cat([first.output, second.output]), whole.output)
    assert torch.equal(torch.cat([first.membrane, second.membrane]), whole.membrane)
    assert torch.equal(second.state.v, whole.state.v)


@FAST
@given(
    steps=st.integers(1, 20),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_outputs_are_binary_and_keep_shape_and_dtype(make_neuron, steps, shape, dtype, seed):
    neuron = make_neuron()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, *shape, generator=g, dtype=dtype)
    trace = neuron.trace(x)
    for t in (trace.output, trace.membrane, trace.state.v):
        assert t.dtype == dtype and t.device == x.device
    assert trace.output.shape == x.shape and trace.membrane.shape == x.shape
    assert trace.state.v.shape == x.shape[1:]
    if neuron.spiking:
        assert bool(((trace.output == 0) | (trace.output == 1)).all())
    else:
        assert torch.equal(trace.output, trace.membrane)


@FAST
@given(
    steps=st.integers(1, 30),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_zero_input_from_rest_never_spikes(make_neuron, steps, shape, dtype):
    out, state = make_neuron()(torch.zeros(steps, *shape, dtype=dtype))
    assert torch.equal(out, torch.zeros_like(out))
    assert torch.equal(state.v, torch.zeros_like(state.v))


# ---------------------------------------------------------------- pitfalls


def test_c06_zero_input_exact_zeros_for_ten_steps(make_neuron):
    neuron = make_neuron().double()
    trace = neuron.trace(torch.zeros(10, 1, 1, dtype=F64))
    assert torch.equal(trace.output, torch.zeros(10, 1, 1, dtype=F64))
    assert torch.equal(trace.membrane, torch.zeros(10, 1, 1, dtype=F64))


@pytest.mark.parametrize("cls", [LIF, IF])
@pytest.mark.parametrize("reset", list(Reset))
def test_c06_value_after_one_spike(cls, reset):
    theta, u = 1.0, 1.2
    neuron = cls(reset=reset, threshold=theta).double()
    trace = neuron.trace(torch.tensor([[u]], dtype=F64))
    assert trace.output.item() == 1.0 and trace.membrane.item() == u
    expected = u - theta * 1.0 if reset is Reset.SUBTRACT else 0.0  # 0.2, never 1.2
    assert trace.state.v.item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("reset", list(Reset))
def test_c08_gradient_through_the_reset(reset):
    # Our convention resets in the same step, so U2 = beta * v1 + x2 with v1 the membrane after
    # the step-1 reset. (The pitfall's 0.9 - 1/36 assumes a next-step reset U2 = beta U1 - theta
    # S1; with our rule the attached gradient is beta * dv1/dx1.)
    beta, theta, x1 = 0.9, 1.0, 1.2
    sg = 1.0 / (1.0 + 25 * abs(x1 - theta)) ** 2  # FastSigmoid(25) at U1 - theta = 0.2: 1/36
    if reset is Reset.SUBTRACT:
        u2 = beta * (x1 - theta)  # 0.18
        dv1_detached, dv1_attached = 1.0, 1.0 - theta * sg
    else:
        u2 = 0.0
        dv1_detached, dv1_attached = 0.0, -x1 * sg
    results = {}
    for detach in (True, False):
        lif = LIF(beta, reset=reset, surrogate=FastSigmoid(25.0), detach_reset=detach).double()
        x = torch.tensor([[x1], [0.0]], dtype=F64, requires_grad=True)
        trace = lif.trace(x)
        (grad,) = torch.autograd.grad(trace.membrane[1, 0], x)
        results[detach] = (trace.membrane.detach(), grad[0, 0].item())
    assert torch.equal(results[True][0], results[False][0])  # forward identical
    assert results[True][0][1, 0].item() == pytest.approx(u2, abs=1e-6)
    assert results[True][1] == pytest.approx(beta * dv1_detached, abs=1e-6)
    assert results[False][1] == pytest.approx(beta * dv1_attached, abs=1e-6)
    if reset is Reset.SUBTRACT:
        assert results[False][1] == pytest.approx(0.875, abs=1e-6)


def test_c08_detach_reset_default_is_true_as_documented():
    assert inspect.signature(LIF).parameters["detach_reset"].default is True
    assert inspect.signature(IF).parameters["detach_reset"].default is True
    assert LIF().detach_reset and IF().detach_reset
    assert "detach_reset=True" in inspect.getdoc(inspect.getmodule(LIF))


def test_c03_detach_state_cuts_the_graph(make_neuron):
    neuron = make_neuron().double()
    # A stays below threshold so that B depends on it in every reset mode.
    xa = torch.tensor([[0.7]], dtype=F64, requires_grad=True)
    _, state_a = neuron(xa)
    xb = torch.full((3, 1), 0.2, dtype=F64)
    # Without detaching, B's membrane depends on A's input ...
    (g_attached,) = torch.autograd.grad(neuron.trace(xb, state_a).membrane.sum(), xa)
    assert g_attached.abs().sum() > 0
    # ... with detach_state it does not, and backward does not touch A's freed graph.
    loss = neuron.trace(xb, detach_state(state_a)).membrane.sum()
    assert not loss.requires_grad
    _, state_a2 = neuron(xa)
    loss = neuron.trace(xb.requires_grad_(), detach_state(state_a2)).membrane.sum()
    (g_b,) = torch.autograd.grad(loss, xb)
    assert g_b.abs().sum() > 0
    assert xa.grad is None
    assert detach_state(None) is None


def test_c03_fresh_state_after_a_spike_is_rest(make_neuron):
    neuron = make_neuron().double()
    neuron(torch.tensor([[1.2]], dtype=F64))
    trace = neuron.trace(torch.zeros(3, 1, dtype=F64), None)
    assert torch.equal(trace.membrane, torch.zeros(3, 1, dtype=F64))
    assert torch.equal(trace.output, torch.zeros(3, 1, dtype=F64))


def test_c05_state_of_another_batch_size_raises(make_neuron):
    neuron = make_neuron()
    _, state1 = neuron(torch.full((1, 1, 2), 0.5))
    assert torch.equal(state1.v, torch.full((1, 2), 0.5))
    with pytest.raises(StateError, match="state=None") as err:
        neuron(torch.zeros(1, 4, 2), state1)  # must not broadcast 0.45 over four samples
    assert "\n" not in str(err.value)
    out3, _ = neuron(torch.full((1, 4, 2), 0.5), None)
    if neuron.spiking:
        assert torch.equal(out3, torch.zeros(1, 4, 2))
    else:
        assert torch.equal(out3, torch.full((1, 4, 2), 0.5))
    _, state102 = neuron(torch.rand(2, 102, 3))
    with pytest.raises(StateError, match=r"batch size changed\?.*state=None"):
        neuron(torch.rand(2, 101, 3), state102)


def test_c05_state_membrane_of_fresh_batch_is_the_input(make_neuron):
    trace = make_neuron().trace(torch.full((1, 4), 0.5))
    assert torch.equal(trace.membrane, torch.full((1, 4), 0.5))


def test_c16_float64_through_every_neuron_backward_runs(make_neuron):
    neuron = make_neuron(**make_neuron.learnable).double()
    x = torch.rand(5, 2, 4, dtype=F64, requires_grad=True)
    trace = neuron.trace(x)
    assert trace.output.dtype == trace.membrane.dtype == trace.state.v.dtype == F64
    (trace.output.sum() + trace.membrane.sum()).backward()
    assert x.grad is not None and x.grad.dtype == F64
    for p in neuron.parameters():
        assert p.dtype == F64 and p.grad is not None and p.grad.dtype == F64


def test_c16_float64_input_into_float32_module_stays_float64(make_neuron, dtype):
    out, state = make_neuron()(torch.rand(3, 2, 4, dtype=dtype))
    assert out.dtype == state.v.dtype == dtype


def test_c17_double_then_fresh_state_is_float64(make_neuron):
    neuron = make_neuron().double()
    for b in neuron.buffers():
        assert b.dtype == F64
    state = neuron.initial_state(torch.zeros(2, 4, dtype=F64))
    assert state.v.dtype == F64 and state.v.shape == (2, 4)
    out, final = neuron(torch.rand(3, 2, 4, dtype=F64))
    assert out.dtype == final.v.dtype == F64
    assert isinstance(final, LIState if isinstance(neuron, LI) else LIFState)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=str)
def test_c16_c17_half_precision_module_keeps_its_dtype(make_neuron, half):
    neuron = make_neuron(**make_neuron.learnable, shape=(4,)).to(half)
    assert all(t.dtype == half for t in [*neuron.buffers(), *neuron.parameters()])
    x = torch.rand(3, 2, 4, dtype=half, requires_grad=True)
    assert neuron.initial_state(x[0]).v.dtype == half
    trace = neuron.trace(x)
    assert trace.output.dtype == trace.membrane.dtype == trace.state.v.dtype == half
    (trace.output.sum() + trace.membrane.sum()).backward()
    assert x.grad.dtype == half
    assert all(p.grad is not None and p.grad.dtype == half for p in neuron.parameters())


def test_c17_state_and_output_follow_the_module_device(make_neuron):
    # The "meta" device stands in for an accelerator: nothing may fall back to the CPU.
    neuron = make_neuron(**make_neuron.learnable).to("meta")
    assert all(t.device.type == "meta" for t in [*neuron.buffers(), *neuron.parameters()])
    x = torch.zeros(3, 2, 4, device="meta")
    assert neuron.initial_state(x[0]).v.device.type == "meta"
    trace = neuron.trace(x)
    assert trace.output.device.type == trace.state.v.device.type == "meta"
    assert trace.output.shape == (3, 2, 4)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("shape", [None, (3,)])
@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        ([[0.0, 1.0]], "torch.Tensor"),
        (torch.zeros(3), "at least 2 dims"),
        (torch.zeros(3, 2, 3, dtype=torch.int64), "floating-point"),
        (torch.zeros(0, 2, 3), "at least one time step"),
    ],
    ids=["list", "1-D", "int64", "T=0"],
)
def test_bad_input_raises_state_error(make_neuron, shape, bad, pattern):
    neuron = make_neuron(shape=shape)
    with pytest.raises(StateError, match=pattern) as err:
        neuron(bad)
    assert "\n" not in str(err.value)


def test_wrong_neuron_shape_raises_config_error(make_neuron):
    neuron = make_neuron(shape=(4,))
    for x in (torch.zeros(3, 2, 5), torch.zeros(3, 2, 1), torch.zeros(3, 2, 4, 1)):
        with pytest.raises(ConfigError, match=r"neuron shape \(4,\)") as err:
            neuron(x)
        assert "\n" not in str(err.value)
    out, _ = neuron(torch.zeros(3, 2, 4))
    assert out.shape == (3, 2, 4)


def test_reset_must_be_the_enum():
    with pytest.raises(ConfigError, match="Reset"):
        LIF(reset="zero")  # type: ignore[arg-type]


def test_state_that_is_not_a_neuron_state_raises(make_neuron):
    neuron = make_neuron()
    _, state = neuron(torch.zeros(2, 3, 4))
    for bad in (state.v, (None, state), [state.v]):
        with pytest.raises(StateError, match="state must be the state a previous call returned"):
            neuron(torch.zeros(2, 3, 4), bad)
