"""The Triton kernels equal the reference loop: on a GPU if there is one, else interpreted.

Without CUDA the kernels run through Triton's interpreter (``TRITON_INTERPRET=1``, set
here before Triton is first imported) on CPU tensors. Triton is not a test dependency
(it is a large download and only useful with a GPU): without it these tests skip.
"""

from __future__ import annotations

import itertools
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

pytest.importorskip(
    "triton", reason="triton is not installed (pip install triton) - Triton kernels untested"
)

from spikeforge.neurons import Backend, Reset
from spikeforge.neurons.kernel_triton import interpreted

from .helpers import KINDS, Case
from .test_fused import SURROGATES, compare

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

if DEVICE == "cpu" and not interpreted():
    pytest.skip(
        "no GPU and TRITON_INTERPRET is set to something other than 1", allow_module_level=True
    )


@pytest.mark.parametrize(
    ("kind", "reset", "detach"), list(itertools.product(KINDS, Reset, (True, False)))
)
def test_triton_equals_reference(kind, reset, detach) -> None:
    """Every neuron family, reset mode and detach setting, learnable shared parameters."""
    compare(Case(kind, reset, detach, SURROGATES[0]), Backend.TRITON, device=DEVICE)


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_triton_surrogates(surrogate) -> None:
    compare(Case("alif", Reset.SUBTRACT, False, surrogate), Backend.TRITON, device=DEVICE)


@pytest.mark.parametrize("kind", KINDS)
def test_triton_per_neuron_and_static_input(kind) -> None:
    compare(Case(kind, per_neuron=True), Backend.TRITON, device=DEVICE, seed=1)
    compare(Case(kind, per_neuron=True), Backend.TRITON, device=DEVICE, static=True, seed=2)
