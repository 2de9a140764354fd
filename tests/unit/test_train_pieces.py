"""Config parsing, stratified splits, model building and evaluation determinism."""

from __future__ import annotations

import pytest
import torch

from spikeforge.coding import Decoding, Encoding
from spikeforge.config import TrainConfig
from spikeforge.datasets import load_dataset
from spikeforge.errors import ConfigError
from spikeforge.models import Arch
from spikeforge.neurons import Reset
from spikeforge.surrogate import FastSigmoid
from spikeforge.train import evaluate, make_model, make_splits, stratified_split


def test_config_round_trips_through_json_dict() -> None:
    c = TrainConfig(
        arch=Arch.MLP,
        hidden=(32, 16),
        encoding=Encoding.RATE,
        decoding=Decoding.MEMBRANE,
        reset=Reset.ZERO,
        surrogate=FastSigmoid(10.0),
        learn_beta=True,
        beta=0.8,
    )
    d = c.to_dict()
    assert d["arch"] == "mlp" and d["surrogate"] == {"name": "fast-sigmoid", "scale": 10.0}
    assert TrainConfig.from_dict(d) == c


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"num_steps": -1}, "--num-steps"),
        ({"lr": 0.0}, "--lr"),
        ({"beta": 1.5}, "--beta"),
        ({"threshold": 0.0}, "--threshold"),
        ({"arch": "transformer"}, "--arch"),
        ({"reset": "never"}, "--reset"),
        ({"learn_beta": True, "beta": 1.0}, "--learn-beta"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_config_rejects_bad_values(change: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("-", r"\-")):
        TrainConfig.from_dict({**TrainConfig().to_dict(), **change})


def test_stratified_split_keeps_class_proportions_and_is_disjoint() -> None:
    y = torch.arange(10).repeat_interleave(torch.tensor([50, 40, 30, 20, 10, 50, 40, 30, 20, 10]))
    g = torch.Generator().manual_seed(3)
    rest, val, test = stratified_split(y, (0.2, 0.1), g)
    assert torch.cat([rest, val, test]).sort().values.equal(torch.arange(len(y)))
    for c, n in enumerate([50, 40, 30, 20, 10, 50, 40, 30, 20, 10]):
        assert int((y[val] == c).sum()) == round(0.2 * n)
        assert int((y[test] == c).sum()) == round(0.1 * n)
    again = stratified_split(y, (0.2, 0.1), torch.Generator().manual_seed(3))
    assert all(a.equal(b) for a, b in zip((rest, val, test), again, strict=True))


def test_digits_splits_and_deterministic_evaluation() -> None:
    data = load_dataset("digits")
    config = TrainConfig(arch=Arch.MLP, hidden=(16,), num_steps=3, encoding=Encoding.RATE)
    s = make_splits(data, config)
    assert len(s.train) + len(s.val) + len(s.test) == 1797
    assert len(s.test) == 359 and len(s.val) == 269
    model = make_model(config, data.input_shape, data.num_classes)
    same = make_model(config, data.input_shape, data.num_classes)
    assert all(a.equal(b) for a, b in zip(model.parameters(), same.parameters(), strict=True))
    state = torch.get_rng_state()
    r1 = evaluate(model, s.test, config)
    r2 = evaluate(model, s.test, config)
    assert torch.get_rng_state().equal(state)  # no global RNG consumed
    assert r1.y_pred.equal(r2.y_pred) and r1.loss == r2.loss


def test_learnable_parameters_shared_or_per_neuron() -> None:
    base = {"arch": Arch.MLP, "hidden": (7,), "learn_beta": True, "learn_threshold": True}
    shared = make_model(TrainConfig(**base), (1, 8, 8), 10)
    per = make_model(TrainConfig(**base, per_neuron=True), (1, 8, 8), 10)
    assert shared[2].beta_logit.shape == () and shared[2].threshold_raw.shape == ()
    assert per[2].beta_logit.shape == (7,) and per[2].threshold_raw.shape == (7,)
    assert per[4].beta.shape == (10,)
    assert torch.allclose(per[2].beta, torch.full((7,), 0.9))


def test_train_epoch_warns_once_when_the_output_is_silent() -> None:
    import warnings

    from spikeforge.errors import SilentNetworkWarning
    from spikeforge.train import Split, optimizer_for, train_epoch

    config = TrainConfig(arch=Arch.MLP, hidden=(8,), num_steps=3, batch_size=4, threshold=1e6)
    model = make_model(config, (1, 4, 4), 3)
    data = Split(torch.rand(8, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    opt, _ = optimizer_for(model, config)

    def epoch(n: int) -> None:
        train_epoch(model, data, config, opt, shuffle=torch.Generator().manual_seed(0),
                    encode=torch.Generator().manual_seed(1), epoch=n)

    with pytest.warns(SilentNetworkWarning, match="output layer emitted no spikes"):
        epoch(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        epoch(2)  # only after the first epoch
