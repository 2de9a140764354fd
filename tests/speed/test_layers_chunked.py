"""Chunked time folding of convolutions equals one folded call, forward and backward."""

from __future__ import annotations

import torch

from spikeforge.layers import CONV_CHUNK_IMAGES, Conv2d, fold_time


def test_chunked_conv_equals_one_folded_call() -> None:
    torch.manual_seed(0)
    conv = Conv2d(2, 3, 3)
    batch = 64
    steps = CONV_CHUNK_IMAGES // batch + 3  # more images than one chunk, uneven split
    x = torch.randn(steps, batch, 2, 6, 6, requires_grad=True)
    y = conv(x)
    leaves = [
        x.detach().clone().requires_grad_(),
        conv.weight.detach().clone().requires_grad_(),
        conv.bias.detach().clone().requires_grad_(),
    ]
    ref = torch.nn.functional.conv2d(leaves[0].reshape(-1, 2, 6, 6), leaves[1], leaves[2])
    ref = ref.reshape(steps, batch, 3, 4, 4)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    w = torch.randn_like(ref)
    got = torch.autograd.grad((y * w).sum(), [x, conv.weight, conv.bias])
    want = torch.autograd.grad((ref * w).sum(), leaves)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_fold_time_chunks_cover_every_step() -> None:
    x = torch.arange(5 * 3 * 2, dtype=torch.float64).reshape(5, 3, 2, 1)
    calls: list[int] = []

    def fn(z: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return 2 * z

    assert torch.equal(fold_time(fn, x, max_images=7), 2 * x)
    assert calls == [6, 6, 3]  # two steps (6 images) per chunk, then the rest
