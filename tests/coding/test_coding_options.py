"""Every Encoding/Decoding option wires an encoder, a readout, a decision rule and a loss."""

from __future__ import annotations

import pytest
import torch

from spikeforge import coding
from spikeforge.coding import Decoding, Encoding
from spikeforge.config import TrainConfig
from spikeforge.decode import UNDECIDED
from spikeforge.models import Arch, Readout
from spikeforge.train import Split, evaluate, make_model


@pytest.mark.parametrize("encoding", list(Encoding))
def test_encodings_are_time_major_and_keep_dtype(encoding: Encoding) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64)
    seq = coding.encode_input(encoding, x, 6, g)
    assert seq.shape == (6, 3, 1, 8, 8) and seq.dtype == torch.float64
    if encoding is not Encoding.DIRECT:
        assert bool(((seq == 0) | (seq == 1)).all())


def test_latency_encodings_spike_once_and_silence_zero() -> None:
    x = torch.tensor([[0.0, 0.02, 0.5, 1.0]])
    lin = coding.encode_input(Encoding.LATENCY, x, 8, None)
    log = coding.encode_input(Encoding.LATENCY_LOG, x, 8, None)
    assert lin.sum(0).tolist() == [[0.0, 1.0, 1.0, 1.0]]
    assert log.sum(0).tolist() == [[0.0, 0.0, 1.0, 1.0]]  # 0.02 <= LOG_LATENCY_THRESHOLD
    assert lin[0, 0, 3] == 1 and log[0, 0, 3] == 1  # maximal intensity at step 0


@pytest.mark.parametrize("decoding", list(Decoding))
def test_decodings_have_readout_loss_and_decision(decoding: Decoding) -> None:
    expected = Readout.MEMBRANE if decoding is Decoding.MEMBRANE else Readout.SPIKES
    assert coding.readout_for(decoding) is expected
    g = torch.Generator().manual_seed(1)
    out = (torch.rand(5, 4, 3, generator=g) > 0.6).float().requires_grad_(True)
    target = torch.tensor([0, 1, 2, 0])
    loss = coding.loss_for(decoding)(out, target)
    loss.backward()
    assert loss.ndim == 0 and out.grad is not None
    d = coding.decide(decoding, out.detach())
    assert d.prediction.shape == (4,) and d.prediction.dtype == torch.int64
    assert coding.decision_scores(decoding, out.detach()).shape == (4, 3)


@pytest.mark.parametrize("decoding", [Decoding.RATE, Decoding.TTFS, Decoding.ISI])
def test_evaluate_counts_silent_outputs_as_undecided_errors(decoding: Decoding) -> None:
    """A network whose output never spikes is wrong on every sample, never 'class 0'."""
    config = TrainConfig(arch=Arch.MLP, hidden=(8,), num_steps=3, decoding=decoding)
    model = make_model(config, (1, 4, 4), 3)
    with torch.no_grad():
        model[-2].weight.zero_()
        model[-2].bias.fill_(-1.0)
    split = Split(torch.rand(6, 1, 4, 4), torch.zeros(6, dtype=torch.int64))
    result = evaluate(model, split, config)
    assert result.y_pred.tolist() == [UNDECIDED] * 6
    assert result.accuracy == 0.0
