"""Batched image augmentation on ``[B, C, H, W]`` tensors, without torchvision.

Every random transform draws all of its random numbers for the whole batch at once from the
``generator`` it is given (on the tensor's device), so a seeded generator reproduces a run
exactly, and no Python loop runs per image. Inputs are never modified in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spikeforge.errors import ConfigError

__all__ = ["Augmentation", "cutout", "horizontal_flip", "normalize", "random_crop"]


def _check_batch(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ConfigError(f"augmentation expects [B, C, H, W] images, got shape {tuple(x.shape)}")


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None, fill: float = 0.0
) -> torch.Tensor:
    """Pad each image by ``padding`` pixels on every side with ``fill``, then crop a random
    ``H x W`` window (offsets uniform in ``[0, 2 * padding]``, drawn per image).

    Args:
        x: ``[B, C, H, W]`` images.
        padding: pixels added on each side (``0`` returns a copy of ``x``).
        generator: source of the offsets.
        fill: value of the padded border.

    Returns:
        ``[B, C, H, W]``, same dtype and device.
    """
    _check_batch(x)
    if padding < 0:
        raise ConfigError(f"crop padding must be >= 0, got {padding}")
    if padding == 0:
        return x.clone()
    b, c, h, w = x.shape
    n = 2 * padding + 1
    padded = F.pad(x, (padding, padding, padding, padding), value=fill)  # contiguous
    hp, wp = h + 2 * padding, w + 2 * padding
    # a view of every window: [B, dy, dx, C, H, W]; picking one (dy, dx) per image copies
    # whole windows at once, much faster than gathering pixel by pixel
    windows = padded.as_strided((b, n, n, c, h, w), (c * hp * wp, wp, 1, hp * wp, wp, 1))
    dy, dx = torch.randint(0, n, (2, b), generator=generator, device=x.device)
    return windows[torch.arange(b, device=x.device), dy, dx]


def horizontal_flip(
    x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-right with probability ``p`` (one draw per image).

    Args:
        x: ``[B, C, H, W]`` images. p: flip probability in ``[0, 1]``.

    Returns:
        ``[B, C, H, W]``, same dtype and device.
    """
    _check_batch(x)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"flip probability must be in [0, 1], got {p}")
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def cutout(
    x: torch.Tensor, size: int, generator: torch.Generator | None = None, fill: float = 0.0
) -> torch.Tensor:
    """Set a ``size x size`` square of each image to ``fill`` (DeVries & Taylor, 2017).

    The square's centre is uniform over the image, so squares near the border are clipped to
    it (the area cut is at most ``size**2``).

    Args:
        x: ``[B, C, H, W]`` images. size: side of the square in pixels (``0``: a copy of ``x``).

    Returns:
        ``[B, C, H, W]``, same dtype and device.
    """
    _check_batch(x)
    if size < 0:
        raise ConfigError(f"cutout size must be >= 0, got {size}")
    b, _, h, w = x.shape
    if size == 0:
        return x.clone()
    cy = torch.randint(0, h, (b, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b, 1), generator=generator, device=x.device)
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    top, left = cy - size // 2, cx - size // 2
    in_rows = (ys >= top) & (ys < top + size)  # [B, H]
    in_cols = (xs >= left) & (xs < left + size)  # [B, W]
    mask = in_rows[:, :, None] & in_cols[:, None, :]  # [B, H, W]
    return torch.where(mask[:, None], torch.tensor(fill, dtype=x.dtype, device=x.device), x)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Per-channel ``(x - mean[c]) / std[c]`` (deterministic, no generator).

    Args:
        x: ``[B, C, H, W]``. mean, std: ``C`` values each, ``std > 0``.

    Returns:
        ``[B, C, H, W]``, same dtype and device.
    """
    _check_batch(x)
    c = x.shape[1]
    if len(mean) != c or len(std) != c or any(s <= 0 for s in std):
        raise ConfigError(
            f"normalize needs {c} means and {c} positive stds, got mean={list(mean)} "
            f"std={list(std)}"
        )
    m = torch.tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    s = torch.tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x - m) / s


@dataclass(frozen=True)
class Augmentation:
    """A training-time pipeline: crop with padding, flip, cutout, then normalisation.

    Attributes:
        crop_padding: pixels of padding for :func:`random_crop` (0: no crop).
        flip_p: probability of :func:`horizontal_flip` (0: never).
        cutout_size: side of the :func:`cutout` square (0: none).
        mean, std: per-channel statistics for :func:`normalize`, or ``None`` for none.

    The CIFAR-10 recipe is ``Augmentation(4, 0.5, 8, CIFAR10_MEAN, CIFAR10_STD)``.
    """

    crop_padding: int = 0
    flip_p: float = 0.0
    cutout_size: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Apply the pipeline to ``[B, C, H, W]`` images; returns the same shape."""
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator)
        if self.flip_p:
            x = horizontal_flip(x, self.flip_p, generator)
        if self.cutout_size:
            x = cutout(x, self.cutout_size, generator)
        if self.mean is not None or self.std is not None:
            if self.mean is None or self.std is None:
                raise ConfigError("normalisation needs both mean and std")
            x = normalize(x, self.mean, self.std)
        return x
