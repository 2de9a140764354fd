"""Decoders and losses on output sequences [T, B, C] with integer targets [B]."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge import decode, losses
from spikeforge.neurons import LI, LIF

F64 = torch.float64


def _seq(seed: int = 0, shape: tuple[int, ...] = (6, 4, 5)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_spike_count_and_membrane_decoders_match_their_formulas(dtype):
    x = _seq().to(dtype)
    t, b, c = x.shape
    rows = x.tolist()  # [T][B][C] Python floats
    over_time = [[[rows[k][i][j] for k in range(t)] for j in range(c)] for i in range(b)]
    for got, want in (
        (decode.spike_count(x), [[sum(v) for v in per_class] for per_class in over_time]),
        (decode.membrane_max(x), [[max(v) for v in per_class] for per_class in over_time]),
        (decode.membrane_mean(x), [[sum(v) / t for v in per_class] for per_class in over_time]),
    ):
        assert got.shape == (b, c) and got.dtype == dtype
        torch.testing.assert_close(got, torch.tensor(want, dtype=dtype))


def test_predict_takes_the_lowest_index_on_ties():
    scores = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0], [4.0, 4.0, 0.0]])
    pred = decode.predict(scores)
    assert pred.dtype == torch.int64 and pred.shape == (4,)
    assert pred.tolist() == [1, 0, 2, 0]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), steps=st.integers(1, 8), batch=st.integers(1, 5))
def test_losses_equal_cross_entropy_written_out(seed, steps, batch):
    g = torch.Generator().manual_seed(seed)
    spikes = torch.randint(0, 2, (steps, batch, 4), generator=g).to(F64)
    membrane = torch.randn(steps, batch, 4, generator=g, dtype=F64)
    target = torch.randint(0, 4, (batch,), generator=g)
    count_loss = losses.count_cross_entropy(spikes, target)
    mem_loss = losses.membrane_cross_entropy(membrane, target)
    assert count_loss.dtype == mem_loss.dtype == F64 and count_loss.shape == ()
    assert math.isclose(count_loss.item(), _manual_ce(spikes.sum(0), target), rel_tol=1e-12)
    assert math.isclose(mem_loss.item(), _manual_ce(membrane.mean(0), target), rel_tol=1e-12)


def _manual_ce(scores: torch.Tensor, target: torch.Tensor) -> float:
    rows = scores.tolist()
    return sum(
        math.log(sum(math.exp(v) for v in row)) - row[y]
        for row, y in zip(rows, target.tolist(), strict=True)
    ) / len(rows)


def test_losses_backpropagate_through_spiking_and_readout_layers():
    x = (_seq(1) + 1.0).requires_grad_()
    target = torch.tensor([0, 1, 2, 3])
    spikes, _ = LIF(0.9).double()(x)
    losses.count_cross_entropy(spikes, target).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    x.grad = None
    membrane, _ = LI(0.9).double()(x)
    losses.membrane_cross_entropy(membrane, target).backward()
    # d/dx[t] of mean_t U[t] with U[t] = sum_k beta^(t-k) x[k]: (1/T) sum_{t>=k} beta^(t-k)
    steps = x.shape[0]
    coef = [sum(0.9 ** (t - k) for t in range(k, steps)) / steps for k in range(steps)]
    probs = torch.softmax(membrane.detach().mean(0), -1)
    onehot = torch.nn.functional.one_hot(target, 5).to(F64)
    expected = torch.stack([c * (probs - onehot) / 4 for c in coef])
    torch.testing.assert_close(x.grad, expected, rtol=1e-6, atol=1e-9)
