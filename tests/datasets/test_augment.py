"""Batched augmentation: each transform against a per-image oracle, seeding, bad options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.augment import Augmentation, cutout, horizontal_flip, normalize, random_crop
from spikeforge.errors import ConfigError


def images(b: int = 16, c: int = 3, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    """Random images whose pixels are all distinct (so a window matches at one offset only)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(b * c * h * w, generator=g).reshape(b, c, h, w).float() + 1


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_crop_is_a_window_of_the_padded_image() -> None:
    x, p = images(), 3
    out = random_crop(x, p, gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = F.pad(x, (p, p, p, p))
    h, w = x.shape[-2:]
    offsets = set()
    for i in range(len(x)):
        hits = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + h, dx : dx + w])
        ]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1  # offsets differ between images


def test_flip_mirrors_each_image_or_keeps_it() -> None:
    x = images(b=400)
    out = horizontal_flip(x, 0.5, gen())
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped ^ kept).all())
    assert 150 < int(flipped.sum()) < 250  # Binomial(400, 0.5): mean 200, sd 10
    assert torch.equal(horizontal_flip(x, 0.0, gen()), x)
    assert torch.equal(horizontal_flip(x, 1.0, gen()), x.flip(-1))


def test_cutout_blanks_one_clipped_square_per_image() -> None:
    x = torch.ones(64, 3, 16, 16)
    size = 6
    out = cutout(x, size, gen())
    zero = out == 0
    assert bool((zero == zero[:, :1]).all())  # the same square in every channel
    full = 0
    for m in zero[:, 0]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert int(rows[-1] - rows[0] + 1) == len(rows) <= size  # contiguous
        assert int(cols[-1] - cols[0] + 1) == len(cols) <= size
        assert int(m.sum()) == len(rows) * len(cols)  # a rectangle
        full += int(m.sum()) == size * size
    assert full > 0
    assert torch.equal(x, torch.ones(64, 3, 16, 16))  # input untouched


def test_normalize_matches_formula() -> None:
    x = images(c=3).double()
    mean, std = (1.0, 2.0, 3.0), (0.5, 4.0, 2.0)
    out = normalize(x, mean, std)
    for c in range(3):
        torch.testing.assert_close(out[:, c], (x[:, c] - mean[c]) / std[c], rtol=0, atol=1e-12)


def test_pipeline_is_reproducible_with_a_seed() -> None:
    aug = Augmentation(
        crop_padding=4, flip_p=0.5, cutout_size=8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)
    )
    x = torch.rand(32, 3, 32, 32, generator=gen(7))
    a, b, c = aug(x, gen(3)), aug(x, gen(3)), aug(x, gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == x.dtype


@pytest.mark.parametrize(
    "call",
    [
        lambda x: random_crop(x, -1),
        lambda x: horizontal_flip(x, 1.5),
        lambda x: cutout(x, -2),
        lambda x: normalize(x, (0.5,), (1.0,)),
        lambda x: normalize(x, (0.5, 0.5, 0.5), (1.0, 0.0, 1.0)),
        lambda x: random_crop(x[0], 2),
        lambda x: Augmentation(mean=(0.5, 0.5, 0.5))(x),
    ],
    ids=["padding", "flip-p", "cutout", "channels", "std", "shape", "mean-only"],
)
def test_bad_options_are_config_errors(call) -> None:
    with pytest.raises(ConfigError):
        call(torch.rand(2, 3, 8, 8))
