"""Chunked time folding of convolutions equals one folded call, forward and backward."""

from __future__ import annotations

import torch

from spikeforge.layers import CONV_CHUNK_IMAGES, Conv2d, fold_time


def test_chunked_conv_equals_folded_conv() -> None:
    torch.manual_seed(0)
    conv = Conv2d(2, 3, 3).double()
    batch = 7
    steps = CONV_CHUNK_IMAGES // batch + 3  # more images than one chunk, uneven split
    x = torch.randn(steps, batch, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    ref_x = x.detach().clone().requires_grad_()
    ref = torch.nn.functional.conv2d(ref_x.reshape(-1, 2, 6, 6), conv.weight, conv.bias)
    ref = ref.reshape(steps, batch, 3, 4, 4)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(ref)
    g = torch.autograd.grad((y * w).sum(), [x, conv.weight, conv.bias])
    g_ref_x = torch.autograd.grad((ref * w).sum(), [ref_x])[0]
    torch.testing.assert_close(g[0], g_ref_x, rtol=1e-12, atol=1e-12)
    w_grad = torch.nn.grad.conv2d_weight(
        ref_x.detach().reshape(-1, 2, 6, 6), conv.weight.shape, w.reshape(-1, 3, 4, 4)
    )
    torch.testing.assert_close(g[1], w_grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g[2], w.sum((0, 1, 3, 4)), rtol=1e-10, atol=1e-10)


def test_fold_time_chunks_cover_every_step() -> None:
    x = torch.arange(5 * 3 * 2, dtype=torch.float64).reshape(5, 3, 2, 1)
    calls: list[int] = []

    def fn(z: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return 2 * z

    assert torch.equal(fold_time(fn, x, max_images=7), 2 * x)
    assert calls == [6, 6, 3]  # two steps (6 images) per chunk, then the rest
