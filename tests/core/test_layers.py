"""Stateless layers over [T, B, ...]: equal to a per-step loop; dropout shared in time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.errors import ConfigError, StateError
from spikeforge.layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    fold_time,
)

F64 = torch.float64
T, B = 4, 3


def _seq(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(T, B, *shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _layer_cases() -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    return [
        ("conv", Conv2d(2, 3, 3, padding=1), (2, 6, 6)),
        ("conv-stride", Conv2d(2, 4, 3, stride=2), (2, 7, 7)),
        ("maxpool", MaxPool2d(2), (2, 6, 6)),
        ("avgpool", AvgPool2d(3, stride=2), (2, 7, 7)),
        ("bn2d", BatchNorm2d(2), (2, 5, 5)),
        ("bn1d", BatchNorm1d(5), (5,)),
        ("linear", Linear(5, 2), (5,)),
        ("flatten", Flatten(), (2, 3, 4)),
    ]


CASES = _layer_cases()


def _randomise_bn(layer: nn.Module) -> None:
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        g = torch.Generator().manual_seed(9)
        with torch.no_grad():
            layer.running_mean.copy_(torch.randn(layer.num_features, generator=g))
            layer.running_var.copy_(torch.rand(layer.num_features, generator=g) + 0.5)
            layer.weight.copy_(torch.randn(layer.num_features, generator=g))
            layer.bias.copy_(torch.randn(layer.num_features, generator=g))


@pytest.mark.parametrize(("name", "layer", "shape"), CASES, ids=[c[0] for c in CASES])
def test_layer_over_time_equals_a_per_step_loop(name, layer, shape):
    layer = layer.double().eval()
    _randomise_bn(layer)
    x = _seq(*shape).requires_grad_()
    y = layer(x)
    assert y.dtype == F64 and y.shape[:2] == (T, B)
    x_loop = x.detach().clone().requires_grad_()
    if name == "flatten":
        ref = torch.stack([x_loop[t].flatten(1) for t in range(T)])
    else:
        plain = {
            "linear": nn.Linear.forward,
            "conv": nn.Conv2d.forward,
            "conv-stride": nn.Conv2d.forward,
            "maxpool": nn.MaxPool2d.forward,
            "avgpool": nn.AvgPool2d.forward,
            "bn2d": nn.BatchNorm2d.forward,
            "bn1d": nn.BatchNorm1d.forward,
        }[name]
        ref = torch.stack([plain(layer, x_loop[t]) for t in range(T)])
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    (gx,) = torch.autograd.grad((y * w).sum(), x)
    (gref,) = torch.autograd.grad((ref * w).sum(), x_loop)
    torch.testing.assert_close(gx, gref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("name", "layer", "shape"), CASES, ids=[c[0] for c in CASES])
def test_static_step_broadcast_equals_computing_every_step(name, layer, shape):
    layer = layer.double().eval()
    _randomise_bn(layer)
    x = _seq(*shape)[:1]  # [1, B, ...]
    once = layer(x).expand(T, *layer(x).shape[1:])
    every = layer(x.expand(T, *x.shape[1:]))
    # a BLAS product may take another kernel, and another order of its sums, for 24 rows
    # than for 4 (MKL does on Intel Xeons): equal to float64 rounding; the rest bitwise
    tol = 4 * shape[0] * torch.finfo(F64).eps if name == "linear" else 0.0
    torch.testing.assert_close(once, every, rtol=tol, atol=tol)


@pytest.mark.parametrize("cls", [BatchNorm2d, BatchNorm1d])
def test_batchnorm_training_pools_statistics_over_time_and_batch(cls):
    shape = (2, 3, 3) if cls is BatchNorm2d else (2,)
    bn = cls(2).double().train()
    x = _seq(*shape) * 3 + 1
    y = bn(x)
    dims = (0, 1, 3, 4) if cls is BatchNorm2d else (0, 1)
    view = (1, 1, 2, 1, 1) if cls is BatchNorm2d else (1, 1, 2)
    mean = x.mean(dims).reshape(view)
    var = x.var(dims, unbiased=False).reshape(view)
    torch.testing.assert_close(y, (x - mean) / torch.sqrt(var + bn.eps), rtol=1e-10, atol=1e-10)
    # running statistics: momentum 0.1 from (0, 1), unbiased variance over all T*B*H*W values
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(dims))
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * x.var(dims, unbiased=True))


def test_fold_time_needs_a_time_major_input():
    with pytest.raises(StateError, match=r"time-major input \[T, B, \.\.\.\]"):
        fold_time(lambda v: v, torch.zeros(3, 4), "Conv2d")
    with pytest.raises(StateError, match="Conv2d"):
        Conv2d(1, 1, 3)(torch.zeros(3, 4))


def test_flatten_keeps_time_and_batch():
    x = _seq(2, 3, 4)
    y = Flatten()(x)
    assert y.shape == (T, B, 24)
    assert torch.equal(y, x.reshape(T, B, 24))


# ---------------------------------------------------------------- dropout


def test_dropout_mask_is_shared_across_time():
    drop = Dropout(0.5, generator=torch.Generator().manual_seed(0)).train()
    x = torch.ones(6, 8, 50, dtype=F64)
    y = drop(x)
    assert y.dtype == F64
    for t in range(1, 6):
        assert torch.equal(y[t], y[0])
    assert set(y.unique().tolist()) == {0.0, 2.0}  # kept values scaled by 1 / (1 - p)
    kept = (y[0] > 0).to(F64).mean().item()
    n = 8 * 50
    assert abs(kept - 0.5) < 5 * (0.25 / n) ** 0.5  # binomial, 5 sigma


def test_dropout_scales_each_input_not_a_constant():
    drop = Dropout(0.25, generator=torch.Generator().manual_seed(1)).train()
    x = _seq(20)
    y = drop(x)
    mask = (y[0] != 0).to(F64)
    torch.testing.assert_close(y, x * mask / 0.75)


def test_dropout_is_reproducible_with_a_seeded_generator():
    x = torch.ones(3, 4, 10)
    a = Dropout(0.3, generator=torch.Generator().manual_seed(5))(x)
    b = Dropout(0.3, generator=torch.Generator().manual_seed(5))(x)
    assert torch.equal(a, b)


def test_dropout_static_input_equals_every_step():
    x = _seq(10)[:1]
    once = Dropout(0.4, generator=torch.Generator().manual_seed(2))(x)
    every = Dropout(0.4, generator=torch.Generator().manual_seed(2))(x.expand(T, B, 10))
    assert torch.equal(once.expand(T, B, 10), every)


def test_dropout_is_identity_in_eval_and_for_p_zero():
    x = _seq(10)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ConfigError, match=r"Dropout p must lie in \[0, 1\)") as err:
        Dropout(p)
    assert "\n" not in str(err.value)
