"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 images, values 0..16."""

from __future__ import annotations

from pathlib import Path

import torch

from spikeforge.datasets.base import (
    DatasetInfo,
    FileCheck,
    Found,
    ImageDataset,
    register,
    register_info,
)

__all__ = ["load_digits"]


@register("digits")
def load_digits(data_dir: Path | None = None, download: bool = False) -> ImageDataset:
    """Load the digits (no download, no files needed; ``data_dir`` is ignored).

    Returns all 1,797 images as ``x_train`` ``[1797, 1, 8, 8]`` scaled to ``[0, 1]`` (value/16)
    and no official test split (``x_test is None``).
    """
    from sklearn.datasets import load_digits as _sk_load

    bunch = _sk_load()
    x = torch.from_numpy(bunch.images).to(torch.float32).div_(16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target).to(torch.int64)
    return ImageDataset(
        name="digits",
        x_train=x.contiguous(),
        y_train=y,
        x_test=None,
        y_test=None,
        class_names=tuple(str(i) for i in range(10)),
        source="sklearn.datasets.load_digits",
    )


register_info("digits", DatasetInfo(
    description="1,797 grey 8x8 handwritten digits bundled with scikit-learn (no test split)",
    class_names=tuple(str(i) for i in range(10)),
    locate=lambda data_dir: Found("embedded", "sklearn.datasets.load_digits", ()),
    verify=lambda found: [FileCheck("digits", True, "embedded in scikit-learn; no files")],
    downloadable=False,
))
