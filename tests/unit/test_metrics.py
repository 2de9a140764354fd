"""Classification metrics against their definitions and against scikit-learn."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikeforge.metrics import SpikeCounter, classification_metrics, confusion_matrix
from spikeforge.models import NeuronSpec, spiking_mlp


def test_hand_example() -> None:
    y_true = torch.tensor([0, 0, 0, 1, 1, 2])
    y_pred = torch.tensor([0, 0, 1, 1, 2, 2])
    m = classification_metrics(y_true, y_pred, ("a", "b", "c"))
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class a: tp 2, predicted 2, true 3; b: tp 1, predicted 2, true 2; c: tp 1, predicted 2, true 1
    p = [2 / 2, 1 / 2, 1 / 2]
    r = [2 / 3, 1 / 2, 1 / 1]
    f = [2 * pi * ri / (pi + ri) for pi, ri in zip(p, r, strict=True)]
    for name, pi, ri, fi, n in zip("abc", p, r, f, (3, 2, 1), strict=True):
        row = m["per_class"][name]
        assert row == {
            "precision": pytest.approx(pi),
            "recall": pytest.approx(ri),
            "f1": pytest.approx(fi),
            "support": n,
        }
    assert m["precision_macro"] == pytest.approx(sum(p) / 3)
    assert m["recall_macro"] == pytest.approx(sum(r) / 3)
    assert m["f1_macro"] == pytest.approx(sum(f) / 3)


def test_class_never_predicted_has_zero_precision() -> None:
    m = classification_metrics(torch.tensor([0, 1]), torch.tensor([0, 0]), ("x", "y"))
    assert m["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_undecided_predictions_are_counted_wrong_but_in_no_column() -> None:
    cm = confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, -1, 1]), 2)
    assert cm.tolist() == [[1, 0], [0, 1]]
    m = classification_metrics(torch.tensor([0, 1, 1]), torch.tensor([0, -1, 1]), ("x", "y"))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["per_class"]["y"]["recall"] == pytest.approx(1 / 2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
def test_matches_sklearn(pairs: list[tuple[int, int]]) -> None:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true = torch.tensor([a for a, _ in pairs])
    y_pred = torch.tensor([b for _, b in pairs])
    m = classification_metrics(y_true, y_pred, tuple("abcde"))
    labels = list(range(5))
    p, r, f, s = precision_recall_fscore_support(
        y_true.numpy(), y_pred.numpy(), labels=labels, zero_division=0
    )
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true.numpy(), y_pred.numpy()))
    for i, name in enumerate("abcde"):
        row = m["per_class"][name]
        assert row["precision"] == pytest.approx(p[i])
        assert row["recall"] == pytest.approx(r[i])
        assert row["f1"] == pytest.approx(f[i])
        assert row["support"] == s[i]
    assert m["f1_macro"] == pytest.approx(f.mean())


def test_spike_counter_counts_every_spiking_layer() -> None:
    model = spiking_mlp((4,), 3, hidden=(5,), neuron=NeuronSpec(beta=0.5))
    for mod in model:
        if isinstance(mod, nn.Linear):
            nn.init.constant_(mod.weight, 1.0)
            nn.init.zeros_(mod.bias)
    x = torch.ones(6, 2, 4)  # each hidden neuron gets 4 per step: fires at every step
    with torch.no_grad(), SpikeCounter(model) as counter:
        out, _ = model(x)
    rates = counter.rates()
    assert list(rates) == ["2:LIF", "4:LIF"]
    assert rates["2:LIF"] == 1.0  # 5 inputs of 1 into each output: fires every step too
    assert counter.counts()["4:LIF"] == float(out.sum()) == 6 * 2 * 3
    # hooks are removed when the block ends
    with torch.no_grad():
        model(x)
    assert counter.counts()["4:LIF"] == 36
