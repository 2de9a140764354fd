"""Fused multi-step LIF/IF and ALIF layers: one autograd node for the whole time loop.

:func:`fused_lif` and :func:`fused_alif` equal unrolling :func:`~spikeforge.neurons.lif.lif_step`
and :func:`~spikeforge.neurons.alif.alif_step` under autograd (values bitwise, gradients to
rounding) but build no per-step graph: the forward kernel runs all steps and saves only the
membrane before reset ``u`` (plus the adaptation before each step for ALIF); the backward
kernel runs the reverse-time recurrence with the surrogate derivative. A static input
(``x`` ``[1, B, ...]`` with ``num_steps = T``) is read at every step and its gradient is
accumulated over time inside the kernel, never materialised as ``T`` copies.

The kernel is chosen by :class:`~spikeforge.neurons.base.Backend` (see :func:`select_kernel`).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from spikeforge.errors import ConfigError
from spikeforge.neurons import kernel_torch
from spikeforge.neurons.base import Backend
from spikeforge.neurons.kernel_types import FusedConfig, Grads, Needs, Params

__all__ = ["FusedConfig", "fused_alif", "fused_lif", "select_kernel"]


def select_kernel(cfg: FusedConfig, x: Tensor) -> ModuleType:
    """The kernel module (``forward``/``backward`` functions) that runs ``cfg`` on ``x``.

    ``Backend.FUSED`` picks Triton for CUDA tensors when it is installed, the native C++
    kernel for float32/float64 CPU tensors when it compiles, and vectorised torch otherwise
    (any device, dtype or user-defined surrogate). The other fused backends force one kernel
    and raise :class:`~spikeforge.errors.ConfigError` when it cannot run.
    """
    from spikeforge.neurons import kernel_native, kernel_triton

    backend = cfg.backend
    if backend is Backend.TORCH:
        return kernel_torch
    if backend is Backend.NATIVE:
        kernel_native.check(x, cfg.surrogate)
        return kernel_native
    if backend is Backend.TRITON:
        kernel_triton.check(x, cfg.surrogate)
        return kernel_triton
    if backend is Backend.FUSED:
        if x.is_cuda and kernel_triton.usable(x, cfg.surrogate):
            return kernel_triton
        if kernel_native.usable(x, cfg.surrogate):
            return kernel_native
        return kernel_torch
    raise ConfigError(f"backend {backend!r} has no fused kernel; use Backend.FUSED or TORCH")


def _flat_param(value: Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A parameter ``[]`` or neuron-shaped, as a contiguous ``[N]`` tensor of ``dtype``."""
    return value.to(dtype).expand(shape).reshape(math.prod(shape)).contiguous()


def _reduce(
    g: Tensor | None, like: tuple[torch.Size, torch.dtype], batch_shape: tuple[int, ...]
) -> Tensor | None:
    """Per-element gradient ``[B, N]`` summed to a parameter's ``(shape, dtype)``."""
    if g is None:
        return None
    return g.reshape(batch_shape).sum_to_size(like[0]).to(like[1])


def _run(
    ctx: Any,
    x: Tensor,
    num_steps: int,
    v0: Tensor,
    a0: Tensor | None,
    params: tuple[Tensor, ...],
    cfg: FusedConfig,
) -> tuple[Tensor, ...]:
    """Shared forward of both autograd functions; returns ``(s, u, v[, a])`` unflattened."""
    if x.shape[0] not in (1, num_steps):
        raise ConfigError(
            f"fused layer: input has {x.shape[0]} steps but num_steps={num_steps}; pass "
            "[T, B, ...] with T = num_steps or a static [1, B, ...]"
        )
    dtype = torch.promote_types(x.dtype, v0.dtype)
    for p in params:
        dtype = torch.promote_types(dtype, p.dtype)
    b, shape = x.shape[1], tuple(x.shape[2:])
    n = math.prod(shape)
    xf = x.to(dtype).reshape(x.shape[0], b, n)
    if x.shape[0] > 1 and xf.stride(0) == 0:
        xf = xf[:1]  # a broadcast input: read one copy (its gradient is still per step)
    v0f = v0.to(dtype).reshape(b, n)
    a0f = a0.to(dtype).reshape(b, n) if a0 is not None else None
    p = Params(*(_flat_param(t, shape, dtype) for t in params))
    kernel = select_kernel(cfg, xf)
    out = kernel.forward(xf, num_steps, v0f, a0f, p, cfg)
    ctx.kernel, ctx.cfg, ctx.x_steps = kernel, cfg, x.shape[0]
    ctx.batch_shape, ctx.x_dtype = (b, *shape), x.dtype
    ctx.state_dtypes = (v0.dtype, a0.dtype if a0 is not None else None)
    ctx.params = [(t.shape, t.dtype) for t in params]
    ctx.save_for_backward(out.u, out.a_prev, v0f, *p)
    ctx.set_materialize_grads(False)
    full = (num_steps, b, *shape)
    outs = [out.s.view(full), out.u.view(full), out.v.view(b, *shape)]
    if out.a is not None:
        outs.append(out.a.view(b, *shape))
    return tuple(outs)


def _grad(ctx: Any, gs: Tensor | None, gu: Tensor | None, gv: Tensor | None, ga: Tensor | None):
    """Shared backward: ``(gx, gv0, ga0, *param grads)`` in the inputs' shapes."""
    u, a_prev, v0f, *flat = ctx.saved_tensors
    b, n = v0f.shape
    steps = u.shape[0]
    p = Params(*flat)

    def flat_seq(t: Tensor | None) -> Tensor | None:
        return t.to(u.dtype).reshape(steps, b, n) if t is not None else None

    def flat_state(t: Tensor | None) -> Tensor | None:
        return t.to(u.dtype).reshape(b, n) if t is not None else None

    needs_in = ctx.needs_input_grad
    adaptive = len(ctx.params) == 4
    first_param = 4 if adaptive else 3  # index of beta among the apply() arguments
    wanted = [bool(needs_in[first_param + i]) for i in range(len(ctx.params))]
    needs = Needs(*wanted)
    grads = Grads(flat_seq(gs), flat_seq(gu), flat_state(gv), flat_state(ga))
    r = ctx.kernel.backward(ctx.x_steps, u, a_prev, v0f, p, grads, needs, ctx.cfg)
    gx = r.x.view(ctx.x_steps, *ctx.batch_shape).to(ctx.x_dtype)
    gv0 = r.v0.view(ctx.batch_shape).to(ctx.state_dtypes[0])
    per_param = (r.beta, r.theta, r.rho, r.jump)[: len(ctx.params)]
    gp = [_reduce(g, like, ctx.batch_shape) for g, like in zip(per_param, ctx.params, strict=True)]
    if adaptive:
        ga0 = r.a0.view(ctx.batch_shape).to(ctx.state_dtypes[1]) if r.a0 is not None else None
        return (gx, gv0, ga0, *gp)
    return (gx, gv0, *gp)


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, num_steps, v0, beta, theta, cfg):  # type: ignore[override]
        return _run(ctx, x, num_steps, v0, None, (beta, theta), cfg)

    @staticmethod
    def backward(ctx, gs, gu, gv):  # type: ignore[override]
        gx, gv0, gb, gt = _grad(ctx, gs, gu, gv, None)
        return gx, None, gv0, gb, gt, None


class _FusedALIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, num_steps, v0, a0, beta, theta, rho, jump, cfg):  # type: ignore[override]
        return _run(ctx, x, num_steps, v0, a0, (beta, theta, rho, jump), cfg)

    @staticmethod
    def backward(ctx, gs, gu, gv, ga):  # type: ignore[override]
        gx, gv0, ga0, gb, gt, gr, gj = _grad(ctx, gs, gu, gv, ga)
        return gx, None, gv0, ga0, gb, gt, gr, gj, None


def fused_lif(
    x: Tensor, num_steps: int, v0: Tensor, beta: Tensor, threshold: Tensor, cfg: FusedConfig
) -> tuple[Tensor, Tensor, Tensor]:
    """Run a LIF/IF layer over ``num_steps`` steps in one autograd node.

    Args:
        x: input ``[T, B, ...]`` with ``T = num_steps``, or static ``[1, B, ...]``.
        v0: membrane after reset before the first step, ``[B, ...]``.
        beta, threshold: ``[]`` or the neuron shape ``...``.

    Returns:
        ``(spikes [T, B, ...], membrane before reset [T, B, ...], final membrane [B, ...])``.
    """
    return _FusedLIF.apply(x, num_steps, v0, beta, threshold, cfg)


def fused_alif(
    x: Tensor,
    num_steps: int,
    v0: Tensor,
    a0: Tensor,
    beta: Tensor,
    threshold: Tensor,
    rho: Tensor,
    jump: Tensor,
    cfg: FusedConfig,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run an ALIF layer in one autograd node (as :func:`fused_lif`, plus the adaptation).

    Returns:
        ``(spikes [T, B, ...], membrane before reset [T, B, ...], final membrane [B, ...],
        final adaptation [B, ...])``.
    """
    return _FusedALIF.apply(x, num_steps, v0, a0, beta, threshold, rho, jump, cfg)
