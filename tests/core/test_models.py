"""Model zoo: shapes and composition, zero input (C06), float64 (C16, C17), save/load (C18)."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from spikeforge.errors import ConfigError
from spikeforge.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d
from spikeforge.models import (
    Arch,
    NeuronKind,
    NeuronSpec,
    Readout,
    build_model,
    spiking_cnn,
    spiking_mlp,
)
from spikeforge.network import Sequential
from spikeforge.neurons import IF, LI, LIF, Neuron, Reset
from spikeforge.surrogate import Arctan

F64 = torch.float64
SPECS = [
    NeuronSpec(),
    NeuronSpec(reset=Reset.ZERO),
    NeuronSpec(kind=NeuronKind.IF),
    NeuronSpec(kind=NeuronKind.IF, reset=Reset.ZERO),
    NeuronSpec(learn_beta=True, learn_threshold=True, per_neuron=True),
]
SPEC_IDS = ["lif-sub", "lif-zero", "if-sub", "if-zero", "lif-learn-per-neuron"]


def _build(arch: Arch, spec: NeuronSpec, readout: Readout, dropout: float = 0.0) -> Sequential:
    torch.manual_seed(0)
    return build_model(
        arch, (1, 8, 8), 10, neuron=spec, readout=readout, hidden=(16,), channels=(4, 8),
        dropout=dropout,
    )  # fmt: skip


def _images(b: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_mlp_composition():
    net = spiking_mlp((1, 8, 8), 10, hidden=(32, 16), dropout=0.2)
    kinds = [type(m) for m in net]
    assert kinds == [Flatten, Linear, LIF, Dropout, Linear, LIF, Dropout, Linear, LIF]
    assert [(m.in_features, m.out_features) for m in net if isinstance(m, Linear)] == [
        (64, 32),
        (32, 16),
        (16, 10),
    ]
    assert isinstance(spiking_mlp((4,), 3, readout=Readout.MEMBRANE)[-1], LI)


def test_cnn_composition_halves_the_image_per_block():
    net = spiking_cnn((3, 16, 16), 5, channels=(4, 8), hidden=12)
    kinds = [type(m) for m in net]
    block = [Conv2d, BatchNorm2d, LIF, MaxPool2d]
    assert kinds == [*block, *block, Flatten, Linear, LIF, Linear, LIF]
    assert net[9].in_features == 8 * 4 * 4
    out, _ = net(torch.rand(2, 3, 16, 16), num_steps=3)
    assert out.shape == (3, 2, 5)


def test_cnn_rejects_images_too_small_for_its_pooling():
    with pytest.raises(ConfigError) as info:
        spiking_cnn((1, 3, 3), 10, channels=(4, 8))
    assert str(info.value) == (
        "--channels 4,8: 2 conv blocks each halve the image side, so they need images of at "
        "least 4x4 pixels, but these are 3x3; give at most 1 block, e.g. --channels 4"
    )
    with pytest.raises(ConfigError, match=r"at least 2x2 pixels, but these are 1x5; use --arch"):
        spiking_cnn((1, 1, 5), 10, channels=(4,))


@pytest.mark.parametrize("arch", list(Arch))
@pytest.mark.parametrize("readout", list(Readout))
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_models_output_shape_and_neuron_settings(arch, readout, spec):
    net = _build(arch, spec, readout, dropout=0.1)
    out, state = net(_images(), num_steps=4)
    assert out.shape == (4, 3, 10) and len(state) == len(net)
    seq_out, _ = net(_images().expand(4, 3, 1, 8, 8))
    assert seq_out.shape == (4, 3, 10)
    neurons = [m for _, m in net.neuron_layers()]
    assert isinstance(neurons[-1], LI if readout is Readout.MEMBRANE else (IF, LIF))
    for m in neurons[:-1] if readout is Readout.MEMBRANE else neurons:
        assert isinstance(m, IF) == (spec.kind is NeuronKind.IF)
        assert m.reset is spec.reset
        assert bool(m.shape) == spec.per_neuron
        assert hasattr(m, "threshold_raw") == spec.learn_threshold
    if readout is Readout.SPIKES:
        assert bool(((out == 0) | (out == 1)).all())


@pytest.mark.parametrize("arch", list(Arch))
@pytest.mark.parametrize("readout", list(Readout))
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_c06_zero_input_gives_exact_zeros_in_every_layer(arch, readout, spec):
    net = _build(arch, spec, readout).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    out, traces = net.trace(torch.zeros(3, 1, 8, 8), num_steps=10)
    assert torch.equal(out, torch.zeros(10, 3, 10))
    for layer in traces:
        assert torch.equal(layer.trace.output, torch.zeros_like(layer.trace.output)), layer.name
        assert torch.equal(layer.trace.membrane, torch.zeros_like(layer.trace.membrane))


@pytest.mark.parametrize("arch", list(Arch))
@pytest.mark.parametrize("readout", list(Readout))
def test_c16_c17_double_model_runs_float64_with_float64_state(arch, readout):
    net = _build(arch, SPECS[-1], readout).double()
    assert all(t.dtype == F64 for t in [*net.parameters(), *net.buffers()] if t.is_floating_point())
    x = _images().double().requires_grad_()
    out, state = net(x, num_steps=3)
    assert out.dtype == F64
    assert all(s.v.dtype == F64 for s in state if s is not None)
    out.sum().backward()
    assert x.grad.dtype == F64
    assert all(p.grad is not None and p.grad.dtype == F64 for p in net.parameters())


# ---------------------------------------------------------------- C18 save / load


def _pitfall_mlp() -> Sequential:
    """Flatten, Linear(784, 128), LIF(0.7), Linear(128, 128), LIF, Linear(128, 10), LIF."""
    return spiking_mlp((28, 28), 10, hidden=(128, 128), neuron=NeuronSpec(beta=0.7))


def test_c18_state_dict_after_a_batch_of_32_loads_strictly_into_a_fresh_copy(tmp_path):
    torch.manual_seed(0)
    model = _pitfall_mlp()
    fresh = copy.deepcopy(model)  # never run
    torch.manual_seed(1)
    for p in fresh.parameters():
        torch.nn.init.normal_(p)
    shapes_before = {k: v.shape for k, v in model.state_dict().items()}
    x = torch.rand(8, 32, 28, 28, generator=torch.Generator().manual_seed(0)) * 3
    out, _ = model(x)
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes_before  # no membrane
    assert not any(32 in v.shape for v in model.state_dict().values())
    torch.save(model.state_dict(), tmp_path / "mlp.pt")
    result = fresh.load_state_dict(torch.load(tmp_path / "mlp.pt"), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for batch in (32, 7):  # the loaded model works for any batch size
        out_fresh, traces_fresh = fresh.trace(x[:, :batch])
        out_orig, traces_orig = model.trace(x[:, :batch])
        assert torch.equal(out_fresh, out_orig)
        for a, b in zip(traces_fresh, traces_orig, strict=True):
            assert torch.equal(a.trace.output, b.trace.output)
            torch.testing.assert_close(a.trace.membrane, b.trace.membrane, rtol=0, atol=1e-6)
    assert out.shape == (8, 32, 10)
    assert traces_orig[0].trace.output.sum() > 0  # the comparison involves spikes


@pytest.mark.parametrize("learn", [False, True])
def test_c18_threshold_survives_a_state_dict_round_trip(learn):
    layer = LIF(0.7, threshold=2.5, learn_threshold=learn, learn_beta=learn)
    default = LIF(learn_threshold=learn, learn_beta=learn)
    default.load_state_dict(layer.state_dict(), strict=True)
    assert default.threshold.item() == pytest.approx(2.5)
    assert default.beta.item() == pytest.approx(0.7)
    per_neuron = IF(threshold=[2.5, 0.5, 1.5], shape=(3,))
    other = IF(shape=(3,))
    other.load_state_dict(per_neuron.state_dict(), strict=True)
    assert other.threshold.tolist() == [2.5, 0.5, 1.5]


def _round_trips(model: torch.nn.Module) -> list[torch.nn.Module]:
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    return [torch.load(buf, weights_only=False), pickle.loads(pickle.dumps(model))]


def test_c18_whole_model_save_and_pickle_keep_every_setting():
    spec = NeuronSpec(
        beta=0.8, threshold=2.5, reset=Reset.ZERO, surrogate=Arctan(3.0), detach_reset=False,
        learn_threshold=True,
    )  # fmt: skip
    model = _build(Arch.CNN, spec, Readout.MEMBRANE).eval()
    x = _images(4, seed=3) * 6
    out, state = model(x, num_steps=6)
    for loaded in _round_trips(model):
        neurons = [m for _, m in loaded.neuron_layers() if not isinstance(m, LI)]
        for m in neurons:
            assert isinstance(m, Neuron)
            assert m.threshold.item() == pytest.approx(2.5)
            assert m.reset is Reset.ZERO and m.surrogate == Arctan(3.0) and not m.detach_reset
        out2, state2 = loaded(x, num_steps=6)
        assert torch.equal(out2, out)
        for a, b in zip(state, state2, strict=True):
            assert (a is None and b is None) or torch.equal(a.v, b.v)


# ---------------------------------------------------------------- typed options


def test_build_model_rejects_untyped_options():
    with pytest.raises(ConfigError, match="Arch"):
        build_model("mlp", (1, 8, 8), 10, neuron=NeuronSpec(), readout=Readout.SPIKES)
    with pytest.raises(ConfigError, match="Readout"):
        build_model(Arch.MLP, (1, 8, 8), 10, neuron=NeuronSpec(), readout="membrane")
    with pytest.raises(ConfigError, match="NeuronKind"):
        NeuronSpec(kind="if")
    with pytest.raises(ConfigError, match="Reset"):
        NeuronSpec(reset="zero")
