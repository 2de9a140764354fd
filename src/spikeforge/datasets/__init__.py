"""Dataset registry: ``load_dataset(name, data_dir)`` returns an :class:`ImageDataset`.

Loaders register themselves on import; import each loader module here.
"""

from spikeforge.datasets import cifar as _cifar  # noqa: F401  (registers "cifar10")
from spikeforge.datasets import digits as _digits  # noqa: F401  (registers "digits")
from spikeforge.datasets import mnist as _mnist  # noqa: F401  ("mnist", "fashion-mnist")
from spikeforge.datasets import nmnist as _nmnist  # noqa: F401  (registers "nmnist")
from spikeforge.datasets.base import ImageDataset, dataset_names, load_dataset, register

__all__ = ["ImageDataset", "dataset_names", "load_dataset", "register"]
