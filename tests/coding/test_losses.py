"""Losses: values equal their formulas; one gradient step on a hand-made network helps."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from spikeforge import decode, losses
from spikeforge.decode import MembraneReduce
from spikeforge.errors import ConfigError
from spikeforge.neurons import IF, LI

T = 10
TARGET = torch.tensor([1])
#: Constant input currents of three output neurons; the target (1) fires last and least.
W0 = [0.3, 0.2, 0.5]


def _if_output(w: torch.Tensor) -> torch.Tensor:
    """Spikes ``[T, 1, 3]`` of IF neurons (threshold 1) driven by the constant currents ``w``."""
    spikes, _ = IF(threshold=1.0)(w.view(1, 1, -1).expand(T, 1, w.numel()))
    return spikes


def _li_output(w: torch.Tensor) -> torch.Tensor:
    """Membrane ``[T, 1, 3]`` of a leaky readout (beta 0.8) driven by ``w``."""
    membrane, _ = LI(0.8)(w.view(1, 1, -1).expand(T, 1, w.numel()))
    return membrane


def _step(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    run: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, float, float, torch.Tensor, torch.Tensor]:
    """One normalised gradient step of length 0.1 on ``w``: (grad, loss, new loss, out, new out)."""
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    out = run(w)
    loss = loss_fn(out, TARGET)
    assert loss.dtype == torch.float64
    loss.backward()
    grad = w.grad.detach().clone()
    w_new = (w - 0.1 * grad / grad.norm()).detach()
    out_new = run(w_new)
    return grad, float(loss.detach()), float(loss_fn(out_new, TARGET)), out.detach(), out_new


SPIKE_LOSSES = {
    "count_cross_entropy": losses.count_cross_entropy,
    "count_mse": losses.count_mse,
    "ttfs_cross_entropy": losses.ttfs_cross_entropy,
}
MEMBRANE_LOSSES = {
    "membrane_cross_entropy": losses.membrane_cross_entropy,
    "membrane_cross_entropy_max": lambda m, y: losses.membrane_cross_entropy(
        m, y, reduce=MembraneReduce.MAX
    ),
    "tet_loss": losses.tet_loss,
    "tet_loss_mse": lambda m, y: losses.tet_loss(m, y, mse_weight=0.05),
}


@pytest.mark.parametrize("name", sorted(SPIKE_LOSSES))
def test_spike_loss_gradient_favours_target(name: str) -> None:
    grad, loss, new_loss, _, _ = _step(SPIKE_LOSSES[name], _if_output)
    assert grad[1] < 0  # raise the target's current
    assert grad[2] > 0  # lower the strongest wrong class
    assert grad[0] >= 0
    assert new_loss < loss


@pytest.mark.parametrize("name", sorted(MEMBRANE_LOSSES))
def test_membrane_loss_gradient_favours_target(name: str) -> None:
    grad, loss, new_loss, _, _ = _step(MEMBRANE_LOSSES[name], _li_output)
    assert grad[1] < 0 and grad[2] > 0
    assert new_loss < loss


def test_ttfs_step_moves_target_earlier() -> None:
    _, _, _, out, out_new = _step(losses.ttfs_cross_entropy, _if_output)
    before = decode.first_spike_time(out)[0]
    after = decode.first_spike_time(out_new)[0]
    assert after[1] < before[1]
    assert after[2] >= before[2]


def test_soft_first_spike_time_is_exact_on_binary_trains() -> None:
    s = torch.zeros(T, 2, 3, dtype=torch.float64)
    s[4, 0, 0] = s[7, 0, 0] = 1
    s[0, 0, 2] = 1
    s[9, 1, 1] = 1
    t = losses.soft_first_spike_time(s)
    assert t.tolist() == [[4.0, T, 0.0], [T, 9.0, T]]
    assert t.dtype == torch.float64


def test_soft_first_spike_time_gradient_formula() -> None:
    """d t_soft / d s[m] = m - t_first before the first spike (m - T when silent)."""
    s = torch.zeros(T, 1, 2, dtype=torch.float64)
    s[6, 0, 0] = 1
    s.requires_grad_(True)
    losses.soft_first_spike_time(s).sum().backward()
    g = s.grad[:, 0]
    assert g[:6, 0].tolist() == [m - 6.0 for m in range(6)]
    assert g[:, 1].tolist() == [m - float(T) for m in range(T)]


def test_count_losses_equal_formulas() -> None:
    s = torch.zeros(T, 2, 3, dtype=torch.float64)
    s[:3, 0, 0] = 1
    s[:8, 1, 2] = 1
    y = torch.tensor([0, 1])
    counts = [[3.0, 0.0, 0.0], [0.0, 0.0, 8.0]]
    goal = [[0.8, 0.2, 0.2], [0.2, 0.8, 0.2]]
    mse = (
        sum(
            (c / T - g) ** 2
            for rc, rg in zip(counts, goal, strict=True)
            for c, g in zip(rc, rg, strict=True)
        )
        / 6
    )
    assert float(losses.count_mse(s, y)) == pytest.approx(mse, abs=1e-12)
    ce = 0.0
    for row, label in zip(counts, y.tolist(), strict=True):
        ce += -row[label] + math.log(sum(math.exp(v) for v in row))
    assert float(losses.count_cross_entropy(s, y)) == pytest.approx(ce / 2, abs=1e-12)


def test_tet_loss_equals_formula() -> None:
    g = torch.Generator().manual_seed(0)
    out = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 4, 2])
    ce = 0.0
    for t in range(4):
        for b in range(3):
            row = out[t, b].tolist()
            ce += -row[int(y[b])] + math.log(sum(math.exp(v) for v in row))
    ce /= 12
    mse = float(((out - 1.0) ** 2).mean())
    assert float(losses.tet_loss(out, y)) == pytest.approx(ce, abs=1e-12)
    got = float(losses.tet_loss(out, y, mse_weight=0.25))
    assert got == pytest.approx(0.75 * ce + 0.25 * mse, abs=1e-12)


def test_loss_argument_errors() -> None:
    s = torch.zeros(2, 1, 3)
    y = torch.tensor([0])
    with pytest.raises(ConfigError, match="temperature"):
        losses.ttfs_cross_entropy(s, y, temperature=0.0)
    with pytest.raises(ConfigError, match="correct_rate"):
        losses.count_mse(s, y, correct_rate=1.5)
    with pytest.raises(ConfigError, match="mse_weight"):
        losses.tet_loss(s, y, mse_weight=2.0)


ALL_LOSSES: list[tuple[str, Callable[..., torch.Tensor]]] = [
    ("count_cross_entropy", losses.count_cross_entropy),
    ("count_mse", losses.count_mse),
    ("ttfs_cross_entropy", losses.ttfs_cross_entropy),
    ("isi_cross_entropy", losses.isi_cross_entropy),
    ("membrane_cross_entropy", losses.membrane_cross_entropy),
    ("tet_loss", losses.tet_loss),
]
LOSS_IDS = [name for name, _ in ALL_LOSSES]


@pytest.mark.parametrize(("name", "loss"), ALL_LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize(
    ("target", "message"),
    [
        (torch.tensor([0, 3, 1]), "target holds class 3, outside [0, 3) for an output of 3 "
         "classes; targets must be class indices 0..2"),
        (torch.tensor([0, -1, 1]), "target holds class -1, outside [0, 3)"),
        (torch.tensor([0, 1]), "target has shape [2] but the output [T, B, C] = [4, 3, 3] has "
         "a batch of 3; pass one class index per sample, shape [3]"),
        (torch.tensor([[0, 1, 2]]), "target has shape [1, 3] but the output"),
        (torch.tensor([0.0, 1.0, 2.0]), "target must hold integer class indices, got dtype "
         "torch.float32; pass e.g. target.long()"),
        (torch.tensor([True, False, True]), "target must hold integer class indices, got "
         "dtype torch.bool"),
    ],
)
def test_bad_targets_are_config_errors_naming_the_loss(
    name: str, loss: Callable[..., torch.Tensor], target: torch.Tensor, message: str
) -> None:
    """They used to be torch's IndexError / ValueError / RuntimeError."""
    out = torch.rand(4, 3, 3)
    with pytest.raises(ConfigError) as info:
        loss(out, target)
    assert str(info.value).startswith(f"{name}: {message}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("name", "loss"), ALL_LOSSES, ids=LOSS_IDS)
def test_bad_output_shapes_and_empty_batches_are_config_errors(
    name: str, loss: Callable[..., torch.Tensor]
) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: the output must be a \[T, B, C\] tensor"):
        loss(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ConfigError, match=rf"^{name}: the batch is empty"):
        loss(torch.rand(4, 0, 3), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize(("name", "loss"), ALL_LOSSES, ids=LOSS_IDS)
def test_any_integer_target_dtype_gives_the_int64_result(
    name: str, loss: Callable[..., torch.Tensor]
) -> None:
    out = torch.rand(4, 3, 3, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([2, 0, 1])
    expected = loss(out, target)
    for dtype in (torch.int32, torch.int16, torch.uint8):
        assert torch.equal(loss(out, target.to(dtype)), expected)
