"""Decoders on hand-made spike trains: silent outputs, ties, decision steps."""

from __future__ import annotations

import math

import torch

from spikeforge import decode
from spikeforge.decode import UNDECIDED, MembraneReduce


def _train(steps: int, spikes_at: dict[int, list[int]], classes: int = 3) -> torch.Tensor:
    """``[T, C]`` spike train with spikes of class ``c`` at the listed steps."""
    s = torch.zeros(steps, classes)
    for c, ts in spikes_at.items():
        for t in ts:
            s[t, c] += 1
    return s


def _batch(*trains: torch.Tensor) -> torch.Tensor:
    return torch.stack(trains, dim=1)  # [T, B, C]


T = 6
SILENT = _train(T, {})
EARLY_1 = _train(T, {1: [1], 2: [3, 4]})  # class 1 first, class 2 most spikes
SAME_FIRST = _train(T, {0: [2], 2: [2, 4]})  # first-spike tie 0/2, class 2 has more spikes
COUNT_TIE = _train(T, {0: [3, 5], 1: [1, 4]})  # count tie, class 1 spikes first
FULL_TIE = _train(T, {0: [2], 1: [2]}, classes=3)
ISI = _train(T, {0: [0, 4], 1: [2, 3]})  # counts tie; ISI 4 vs 1


def test_first_spike_time_and_isi() -> None:
    s = _batch(SILENT, EARLY_1, ISI)
    fst = decode.first_spike_time(s)
    assert fst[0].tolist() == [math.inf] * 3
    assert fst[1].tolist() == [math.inf, 1.0, 3.0]
    isi = decode.first_isi(s)
    assert isi[1].tolist() == [math.inf, math.inf, 1.0]
    assert isi[2].tolist() == [4.0, 1.0, math.inf]
    assert decode.nth_spike_time(s, 2)[2].tolist() == [4.0, 3.0, math.inf]


def test_silent_sample_is_undecided_for_spike_decoders() -> None:
    s = _batch(SILENT, EARLY_1)
    for decide in (decode.decide_rate, decode.decide_ttfs, decode.decide_isi):
        d = decide(s)
        assert d.prediction[0] == UNDECIDED and bool(d.undecided[0])
        assert not bool(d.tied[0])
        assert d.step[0] == T
        assert d.prediction.dtype == torch.int64


def test_ttfs_earliest_wins_and_step_is_first_spike() -> None:
    d = decode.decide_ttfs(_batch(EARLY_1))
    assert d.prediction.tolist() == [1] and d.step.tolist() == [1]
    assert not bool(d.tied[0]) and not bool(d.undecided[0])


def test_ttfs_tie_broken_by_count_then_lowest_index() -> None:
    d = decode.decide_ttfs(_batch(SAME_FIRST, FULL_TIE))
    assert d.prediction.tolist() == [2, 0]
    assert d.tied.tolist() == [True, True]
    # SAME_FIRST: at step 2 the tie goes to class 0 (equal counts); final once class 2
    # spikes again at step 4
    assert d.step.tolist() == [4, 2]


def test_rate_most_spikes_and_tie_rule() -> None:
    d = decode.decide_rate(_batch(EARLY_1, COUNT_TIE, FULL_TIE, ISI))
    assert d.prediction.tolist() == [2, 1, 0, 0]
    assert d.tied.tolist() == [False, True, True, True]
    # EARLY_1: class 1 leads at 1..3 (tie at 3 broken by earlier first spike), class 2 from 4
    assert d.step[0] == 4


def test_isi_shortest_interval_wins() -> None:
    d = decode.decide_isi(_batch(ISI, EARLY_1, SAME_FIRST))
    assert d.prediction.tolist() == [1, 2, 2]
    assert d.step.tolist() == [3, 4, 4]  # the second spike of the winner
    single = decode.decide_isi(_batch(_train(T, {0: [1], 2: [3]})))
    assert single.prediction.tolist() == [UNDECIDED]


def test_isi_tie_broken_by_first_spike() -> None:
    d = decode.decide_isi(_batch(_train(T, {0: [2, 4], 1: [1, 3]})))
    assert d.prediction.tolist() == [1] and d.tied.tolist() == [True]


def test_membrane_max_mean_and_ties() -> None:
    m = torch.tensor(
        [
            [[0.0, 5.0, 1.0], [1.0, 1.0, 0.0]],
            [[2.0, -4.0, 1.5], [0.5, 0.5, 0.0]],
            [[2.0, -4.0, 1.5], [0.0, 0.0, 0.0]],
        ]
    )  # [T=3, B=2, C=3]
    assert decode.membrane_max(m)[0].tolist() == [2.0, 5.0, 1.5]
    assert torch.allclose(decode.membrane_mean(m)[0], torch.tensor([4 / 3, -1.0, 4 / 3]))
    dmax = decode.decide_membrane(m, MembraneReduce.MAX)
    dmean = decode.decide_membrane(m, MembraneReduce.MEAN)
    assert dmax.prediction.tolist() == [1, 0]
    assert dmean.prediction.tolist() == [0, 0]  # 4/3 tie between 0 and 2: lowest index
    assert dmean.tied.tolist() == [True, True]
    assert not bool(dmean.undecided.any())
    assert dmax.step.tolist() == [0, 0]
    # mean of sample 0: step 0 -> class 1; step 1 -> class 2 (1.25 > 1.0 > 0.5);
    # step 2 -> tie 4/3 between 0 and 2 -> class 0, final from step 2
    assert dmean.step.tolist() == [2, 0]


def test_decision_on_float64_and_predict() -> None:
    s = _batch(EARLY_1).double()
    assert decode.first_spike_time(s).dtype == torch.float64
    assert decode.decide_ttfs(s).prediction.tolist() == [1]
    assert decode.predict(torch.tensor([[1.0, 3.0, 3.0]])).tolist() == [1]
