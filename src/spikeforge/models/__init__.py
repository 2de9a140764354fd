"""Model zoo: spiking MLP and CNN built from a :class:`NeuronSpec`."""

import enum
from collections.abc import Sequence

from spikeforge.errors import ConfigError
from spikeforge.models.cnn import spiking_cnn
from spikeforge.models.mlp import spiking_mlp
from spikeforge.models.spec import NeuronKind, NeuronSpec, Readout
from spikeforge.network import Sequential

__all__ = [
    "Arch",
    "NeuronKind",
    "NeuronSpec",
    "Readout",
    "build_model",
    "spiking_cnn",
    "spiking_mlp",
]


class Arch(enum.Enum):
    """Architectures :func:`build_model` knows."""

    MLP = "mlp"
    CNN = "cnn"


def build_model(
    arch: Arch,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    neuron: NeuronSpec,
    readout: Readout,
    hidden: Sequence[int] = (256,),
    channels: Sequence[int] = (32, 64),
    dropout: float = 0.0,
) -> Sequential:
    """Build ``arch`` for images of ``input_shape`` ``(C, H, W)`` and ``num_classes`` classes."""
    if not isinstance(arch, Arch):
        raise ConfigError(f"arch must be an Arch (one of {[a.value for a in Arch]}), got {arch!r}")
    if arch is Arch.MLP:
        return spiking_mlp(
            input_shape,
            num_classes,
            hidden=hidden,
            neuron=neuron,
            readout=readout,
            dropout=dropout,
        )
    return spiking_cnn(
        input_shape,
        num_classes,
        channels=channels,
        hidden=hidden[0] if hidden else 128,
        neuron=neuron,
        readout=readout,
        dropout=dropout,
    )
