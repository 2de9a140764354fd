"""spikeforge: spiking neural networks on PyTorch."""

__version__ = "0.1.0"

__all__ = ["__version__"]
