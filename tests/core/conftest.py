"""Shared fixtures of the core tests: every neuron configuration and every surrogate.

Hypothesis-driven tests use these session-scoped fixtures (function-scoped ones would trip
hypothesis's health check); the factories build a fresh module per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch

from spikeforge.neurons import IF, LI, LIF, Neuron, Reset
from spikeforge.surrogate import Arctan, FastSigmoid, Sigmoid, Surrogate, Triangle


@dataclass(frozen=True)
class NeuronConfig:
    """One neuron class in one reset mode: call it (with constructor keywords) to build one.

    ``learnable`` holds the keywords that make every trainable parameter of the class learnable.
    """

    name: str
    build: Callable[..., Neuron]
    learnable: dict[str, bool] = field(default_factory=dict)

    def __call__(self, **kwargs) -> Neuron:
        return self.build(**kwargs)


_LIF_LEARN = {"learn_beta": True, "learn_threshold": True}

#: Every neuron class in every reset mode it has.
NEURON_CONFIGS: list[NeuronConfig] = [
    NeuronConfig("lif-subtract", lambda **kw: LIF(0.875, reset=Reset.SUBTRACT, **kw), _LIF_LEARN),
    NeuronConfig("lif-zero", lambda **kw: LIF(0.875, reset=Reset.ZERO, **kw), _LIF_LEARN),
    NeuronConfig(
        "if-subtract", lambda **kw: IF(reset=Reset.SUBTRACT, **kw), {"learn_threshold": True}
    ),
    NeuronConfig("if-zero", lambda **kw: IF(reset=Reset.ZERO, **kw), {"learn_threshold": True}),
    NeuronConfig("li", lambda **kw: LI(0.875, **kw), {"learn_beta": True}),
]

#: Every surrogate at its default scale and at another one.
SURROGATE_CASES: list[Surrogate] = [
    FastSigmoid(),
    FastSigmoid(3.0),
    Arctan(),
    Arctan(0.5),
    Sigmoid(),
    Sigmoid(1.5),
    Triangle(),
    Triangle(4.0),
]


@pytest.fixture(scope="session", params=NEURON_CONFIGS, ids=[c.name for c in NEURON_CONFIGS])
def make_neuron(request) -> NeuronConfig:
    """A factory of one neuron configuration (keyword arguments go to the constructor)."""
    return request.param


@pytest.fixture(scope="session", params=SURROGATE_CASES, ids=repr)
def surrogate(request) -> Surrogate:
    return request.param


@pytest.fixture(scope="session", params=[torch.float32, torch.float64], ids=str)
def dtype(request) -> torch.dtype:
    return request.param


@pytest.fixture(scope="session")
def lif_reference() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The plain-Python reading of the documented LIF rule, see :func:`_lif_reference`."""
    return _lif_reference


def _lif_reference(
    x: torch.Tensor, beta: float, threshold: float, reset: Reset
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-Python float64 reading of the documented rule: (spikes, membrane before reset).

    ``x`` is ``[T, ...]``; this loops over every element with Python floats, so it shares no
    code with the library.
    """
    flat = x.detach().to(torch.float64).reshape(x.shape[0], -1).tolist()
    n = len(flat[0])
    v = [0.0] * n
    spikes, membranes = [], []
    for row in flat:
        s_row, u_row = [], []
        for i, xi in enumerate(row):
            u = beta * v[i] + xi
            s = 1.0 if u >= threshold else 0.0
            v[i] = u - threshold * s if reset is Reset.SUBTRACT else u * (1.0 - s)
            s_row.append(s)
            u_row.append(u)
        spikes.append(s_row)
        membranes.append(u_row)
    shape = x.shape
    return (
        torch.tensor(spikes, dtype=torch.float64).reshape(shape),
        torch.tensor(membranes, dtype=torch.float64).reshape(shape),
    )
