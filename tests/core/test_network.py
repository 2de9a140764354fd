"""Sequential: static input equals direct encoding, state passing, batch independence, isolation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikeforge import encode
from spikeforge.errors import ConfigError, StateError
from spikeforge.layers import (
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
)
from spikeforge.network import LayerTrace, Sequential
from spikeforge.neurons import IF, LI, LIF, LIFState, Reset

F64 = torch.float64
FAST = settings(max_examples=15, deadline=None)


def _mlp(seed: int = 0, reset: Reset = Reset.SUBTRACT) -> Sequential:
    torch.manual_seed(seed)
    return Sequential(
        Flatten(), Linear(12, 8), LIF(0.75, reset=reset), Linear(8, 3), LI(0.875)
    ).double()


def _cnn(seed: int = 0, dropout_seed: int = 7) -> Sequential:
    torch.manual_seed(seed)
    return Sequential(
        Conv2d(1, 3, 3, padding=1),
        BatchNorm2d(3),
        Dropout(0.3, generator=torch.Generator().manual_seed(dropout_seed)),
        IF(threshold=0.5),
        AvgPool2d(2),
        MaxPool2d(1),
        Flatten(),
        Linear(3 * 2 * 2, 4),
        LIF(0.5),
    ).double()


def _images(b: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 1, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---------------------------------------------------------------- static input


@pytest.mark.parametrize("build", [_mlp, _cnn], ids=["mlp", "cnn-bn-dropout"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("steps", [1, 6])
def test_static_input_equals_direct_encoding_forward_and_backward(build, train, steps):
    static, explicit = build(), build()
    static.train(train)
    explicit.train(train)
    x = (_images() if build is _cnn else torch.randn(5, 3, 4, dtype=F64)) * 2
    xs = x.clone().requires_grad_()
    xe = x.clone().requires_grad_()
    out_s, state_s = static(xs, num_steps=steps)
    out_e, state_e = explicit(encode.direct(xe, steps))
    assert out_s.shape == out_e.shape and out_s.shape[0] == steps
    torch.testing.assert_close(out_s, out_e, rtol=1e-12, atol=1e-12)
    for a, b in zip(state_s, state_e, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a.v, b.v, rtol=1e-12, atol=1e-12)
    w = torch.randn(out_s.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    (out_s * w).sum().backward()
    (out_e * w).sum().backward()
    torch.testing.assert_close(xs.grad, xe.grad, rtol=1e-10, atol=1e-12)
    for (name, ps), pe in zip(static.named_parameters(), explicit.parameters(), strict=True):
        torch.testing.assert_close(ps.grad, pe.grad, rtol=1e-10, atol=1e-12, msg=name)
    # Module side effects (batch-norm running statistics) are the same too.
    for (name, bs), be in zip(static.named_buffers(), explicit.buffers(), strict=True):
        torch.testing.assert_close(bs, be, rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("record", [False, True], ids=["forward", "trace"])
def test_the_first_neuron_reads_a_static_input_once(train: bool, record: bool) -> None:
    """Sequential hands the first neuron the static input ``[B, ...]`` with ``num_steps``
    (no ``[T, B, ...]`` expansion, whose gradient would be formed per step and summed);
    only a training-mode batch norm before it sees the T copies."""
    seen: list[tuple[tuple[int, ...], object]] = []
    net = _mlp()
    net.train(train)
    lif = net[2]
    if record:  # trace() calls the neuron's trace, not the module
        trace = lif.trace

        def spy(x, state=None, *, num_steps=None):
            seen.append((tuple(x.shape), num_steps))
            return trace(x, state, num_steps=num_steps)

        lif.trace = spy
        net.trace(torch.randn(5, 3, 4, dtype=F64), num_steps=6)
    else:
        lif.register_forward_pre_hook(
            lambda _m, args, kwargs: seen.append((tuple(args[0].shape), kwargs.get("num_steps"))),
            with_kwargs=True,
        )
        net(torch.randn(5, 3, 4, dtype=F64), num_steps=6)
    assert seen == [((5, 8), 6)]
    seen.clear()
    cnn = _cnn()
    cnn.train(train)
    cnn[3].register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append((tuple(args[0].shape), kwargs.get("num_steps"))),
        with_kwargs=True,
    )
    cnn(_images(), num_steps=6)
    # the batch norm before it: T copies in training mode (running statistics), else once
    assert seen == ([((6, 5, 3, 4, 4), None)] if train else [((5, 3, 4, 4), 6)])


def test_static_input_without_neurons_still_has_t_steps():
    net = Sequential(Flatten(), Linear(4, 2)).double()
    out, state = net(torch.randn(3, 2, 2, dtype=F64), num_steps=5)
    assert out.shape == (5, 3, 2) and state == (None, None)


@pytest.mark.parametrize("steps", [0, -2, 2.5, True, "3"])
def test_num_steps_must_be_a_positive_integer(steps):
    with pytest.raises(ConfigError, match="num_steps") as err:
        _mlp()(torch.zeros(2, 3, 4, dtype=F64), num_steps=steps)
    assert "\n" not in str(err.value)


def test_non_tensor_input_raises_state_error():
    with pytest.raises(StateError, match=r"torch\.Tensor"):
        _mlp()([[0.0] * 12], num_steps=2)
    with pytest.raises(StateError, match=r"torch\.Tensor"):
        _mlp()([[[0.0] * 12]])


# ---------------------------------------------------------------- state passing


@settings(max_examples=8, deadline=None)
@given(t1=st.integers(1, 4), t2=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_sequential_t1_plus_t2_equals_t1_then_t2(t1, t2, seed):
    net = _cnn().eval()
    x = torch.randn(t1 + t2, 2, 1, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=F64)
    whole, state_w = net(x * 3)
    first, state_1 = net(x[:t1] * 3)
    second, state_2 = net(x[t1:] * 3, state_1)
    assert torch.equal(torch.cat([first, second]), whole)
    for a, b in zip(state_2, state_w, strict=True):
        assert (a is None and b is None) or torch.equal(a.v, b.v)
    # The same with static input.
    img = x[0] * 3
    whole_s, _ = net(img, num_steps=t1 + t2)
    first_s, st1 = net(img, num_steps=t1)
    second_s, _ = net(img, st1, num_steps=t2)
    assert torch.equal(torch.cat([first_s, second_s]), whole_s)


def test_state_with_wrong_number_of_entries_raises():
    with pytest.raises(StateError, match=r"2 entries.*5 layers.*state=None"):
        _mlp()(torch.zeros(2, 3, 12, dtype=F64), (None, None))


def test_c05_state_of_another_batch_size_raises_through_the_network():
    net = _mlp()
    _, state = net(torch.rand(2, 102, 12, dtype=F64))
    with pytest.raises(StateError, match=r"LIF: state\.v has shape \(102, 8\).*state=None"):
        net(torch.rand(2, 101, 12, dtype=F64), state)
    _, state1 = net(torch.rand(2, 1, 12, dtype=F64))
    with pytest.raises(StateError, match="state=None"):
        net(torch.zeros(2, 4, 12, dtype=F64), state1)  # never broadcast a batch-of-1 state
    out, _ = net(torch.rand(2, 101, 12, dtype=F64), None)
    assert out.shape == (2, 101, 3)


def test_trace_reports_every_neuron_layer():
    net = _mlp()
    x = torch.rand(4, 2, 12, dtype=F64) * 2
    out, traces = net.trace(x)
    fwd, state = net(x)
    assert torch.equal(out, fwd)
    assert [(t.index, t.name) for t in traces] == [(2, "2:LIF"), (4, "4:LI")]
    assert all(isinstance(t, LayerTrace) for t in traces)
    assert [i for i, _ in net.neuron_layers()] == [2, 4]
    assert torch.equal(traces[1].trace.output, out)
    assert torch.equal(traces[0].trace.state.v, state[2].v)
    assert traces[0].trace.membrane.shape == (4, 2, 8)


# ---------------------------------------------------------------- C05 batch independence


def _linear_lif(seed: int = 0) -> Sequential:
    torch.manual_seed(seed)
    return Sequential(Linear(2, 4), LIF(0.9)).double()


@FAST
@given(seed=st.integers(0, 2**16), batch=st.integers(2, 6))
def test_c05_sample_alone_equals_sample_in_batch_and_permutations(seed, batch):
    net = _linear_lif()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, batch, 2, generator=g, dtype=F64) * 2
    out, state = net(x)
    for i in range(batch):
        alone, _ = net(x[:, i : i + 1])
        torch.testing.assert_close(alone[:, 0], out[:, i], rtol=0, atol=1e-6)
    perm = torch.randperm(batch, generator=g)
    out_p, state_p = net(x[:, perm])
    assert torch.equal(out_p, out[:, perm])
    assert torch.equal(state_p[1].v, state[1].v[perm])


def test_c05_transposed_input_does_not_pass_silently():
    net = _linear_lif()
    x = torch.randn(5, 3, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 2
    out, _ = net(x)
    wrong, _ = net(x.transpose(0, 1))  # [B, T, F] read as [T, B, F], T != B on purpose
    # It cannot raise (a [3, 5, 2] tensor is a valid [T, B, F]), so it must not pass: read back
    # in the documented layout, the samples differ from the true per-sample outputs.
    back = wrong.transpose(0, 1)
    assert back.shape == out.shape
    assert not torch.allclose(back, out, atol=1e-6)
    assert any(not torch.allclose(back[:, i], out[:, i], atol=1e-6) for i in range(3))


# ---------------------------------------------------------------- C01 isolation


class _Held:
    """A single LIF (beta 0.9, theta 1, subtract) held in a given kind of container."""

    def __init__(self, kind: str) -> None:
        lif = LIF(0.9, threshold=1.0)
        self.kind = kind
        self.module = {
            "bare": lif,
            "sequential": Sequential(lif),
            "modulelist": nn.ModuleList([lif]),
            "moduledict": nn.ModuleDict({"neuron": lif}),
        }[kind]

    def step(self, x: torch.Tensor, state):
        """Run ``x`` [T, 1, 1]; returns (spikes, membrane after reset, state to pass on)."""
        if self.kind == "sequential":
            out, state = self.module(x, state)
            return out, state[0].v, state
        if self.kind == "modulelist":
            neuron = self.module[0]
        elif self.kind == "moduledict":
            neuron = self.module["neuron"]
        else:
            neuron = self.module
        out, state = neuron(x, state)
        return out, state.v, state


@pytest.mark.parametrize(
    ("kind_a", "kind_b"),
    [("bare", "bare"), ("bare", "sequential"), ("sequential", "modulelist"),
     ("modulelist", "moduledict"), ("moduledict", "bare")],
)  # fmt: skip
def test_c01_resetting_one_network_leaves_another_alone(kind_a, kind_b):
    a, b = _Held(kind_a), _Held(kind_b)
    c = _Held(kind_a)  # a third model, built after A, in A's kind of container
    x3 = torch.full((3, 1, 1), 0.3, dtype=F64)
    _, v_a, _ = a.step(x3, None)
    _, v_b, state_b = b.step(x3, None)
    _, _, state_c = c.step(x3, None)
    expected_b3 = 0.3 * (1 + 0.9 + 0.9**2)  # 0.3 -> 0.57 -> 0.813
    assert v_a.item() == pytest.approx(expected_b3, abs=1e-6)
    assert v_b.item() == pytest.approx(expected_b3, abs=1e-6)
    # "Reset A" (start it from rest); B and C keep their own states.
    step = torch.full((1, 1, 1), 0.3, dtype=F64)
    out_a, v_a, _ = a.step(step, None)
    out_b, v_b, _ = b.step(step, state_b)
    out_c, v_c, _ = c.step(step, state_c)
    assert v_a.item() == pytest.approx(0.3, abs=1e-6) and out_a.item() == 0.0
    u4 = 0.9 * expected_b3 + 0.3  # 1.0317 >= 1: B spikes at step 4
    assert out_b.item() == 1.0 and out_c.item() == 1.0
    assert v_b.item() == pytest.approx(u4 - 1.0, abs=1e-6)  # 0.0317
    assert v_c.item() == pytest.approx(u4 - 1.0, abs=1e-6)


def test_c01_running_a_network_changes_nothing_in_it():
    net = _mlp()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(4, 2, 12, dtype=F64)
    first, _ = net(x)
    second, _ = net(x)
    assert torch.equal(first, second)
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_c16_float64_through_a_network_backward_runs():
    net = _cnn()
    x = _images().requires_grad_()
    out, state = net(x, num_steps=3)
    assert out.dtype == F64
    assert all(s is None or (isinstance(s, LIFState) and s.v.dtype == F64) for s in state)
    out.sum().backward()
    assert x.grad.dtype == F64
    assert all(p.grad is not None and p.grad.dtype == F64 for p in net.parameters())
