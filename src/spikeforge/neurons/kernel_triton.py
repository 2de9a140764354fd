"""Fused LIF/ALIF recurrences as Triton kernels (GPU), the same maths as ``csrc/fused_cpu.cpp``.

One program handles ``BLOCK`` consecutive elements of the flattened ``[B * N]`` state and
walks all ``T`` steps, keeping the state in registers; forward and backward are one launch
each. Launched with ``enable_fp_fusion=False`` so no multiply-add is contracted and the
forward is bitwise equal to the reference step. Triton is imported, and the kernels
defined, on first use only; with ``TRITON_INTERPRET=1`` they run on CPU tensors (slowly),
which is how their equality tests run without a GPU. Shapes as in
:mod:`spikeforge.neurons.kernel_types`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from types import SimpleNamespace

import torch
from torch import Tensor

from spikeforge.errors import ConfigError
from spikeforge.neurons.base import Reset
from spikeforge.neurons.kernel_types import (
    SURROGATE_ID,
    Forward,
    FusedConfig,
    Grads,
    Needs,
    Params,
    Result,
    surrogate_constants,
)
from spikeforge.surrogate import Surrogate

__all__ = ["available", "backward", "check", "forward", "interpreted", "usable"]

_DTYPES = (torch.float32, torch.float64)
_BLOCK = 256


def available() -> bool:
    """True when the ``triton`` package is installed."""
    return importlib.util.find_spec("triton") is not None


def interpreted() -> bool:
    """True when ``TRITON_INTERPRET=1``: kernels run on CPU tensors through the interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def usable(x: Tensor, surrogate: Surrogate) -> bool:
    """True when these kernels can run on ``x`` with ``surrogate``."""
    on_device = x.is_cuda or (interpreted() and x.device.type == "cpu")
    return available() and on_device and x.dtype in _DTYPES and type(surrogate) in SURROGATE_ID


def check(x: Tensor, surrogate: Surrogate) -> None:
    """Raise :class:`ConfigError` saying why these kernels cannot run on ``x``, if they cannot."""
    if not available():
        raise ConfigError("Backend.TRITON needs the triton package (pip install triton)")
    if not usable(x, surrogate):
        raise ConfigError(
            f"Backend.TRITON runs float32/float64 CUDA tensors (CPU tensors with "
            f"TRITON_INTERPRET=1) and built-in surrogates; got {x.dtype} on {x.device} with "
            f"{type(surrogate).__name__}"
        )


@functools.lru_cache(maxsize=1)
def _kernels() -> SimpleNamespace:
    import triton

    from spikeforge.neurons import triton_kernels

    return SimpleNamespace(fwd=triton_kernels.fwd, bwd=triton_kernels.bwd, cdiv=triton.cdiv)


def _or(t: Tensor | None, dummy: Tensor) -> Tensor:
    return t if t is not None else dummy


def forward(
    x: Tensor, num_steps: int, v0: Tensor, a0: Tensor | None, p: Params, cfg: FusedConfig
) -> Forward:
    """Run ``num_steps`` steps from state ``(v0, a0)`` (see :mod:`kernel_types`)."""
    k = _kernels()
    b, n = v0.shape
    m = b * n
    adaptive = p.rho is not None
    x, v0 = x.contiguous(), v0.contiguous()
    shape = (num_steps, b, n)
    s, u = x.new_empty(shape), x.new_empty(shape)
    a_prev = x.new_empty(shape) if adaptive else None
    v = x.new_empty((b, n))
    a = x.new_empty((b, n)) if adaptive else None
    dummy = x.new_empty(1)
    k.fwd[(k.cdiv(m, _BLOCK),)](
        x,
        v0,
        _or(a0, dummy),
        p.beta,
        p.theta,
        _or(p.rho, dummy),
        _or(p.jump, dummy),
        s,
        u,
        _or(a_prev, dummy),
        v,
        _or(a, dummy),
        num_steps,
        m,
        n,
        X_STATIC=x.shape[0] == 1,
        ADAPT=adaptive,
        ZERO=cfg.reset is Reset.ZERO,
        BLOCK=_BLOCK,
        enable_fp_fusion=False,
    )
    return Forward(s, u, a_prev, v, a)


def backward(
    x_steps: int,
    fwd_u: Tensor,
    fwd_a_prev: Tensor | None,
    v0: Tensor,
    p: Params,
    g: Grads,
    needs: Needs,
    cfg: FusedConfig,
) -> Result:
    """Reverse-time recurrence (see :mod:`kernel_torch` for the same maths in torch)."""
    k = _kernels()
    num_steps, b, n = fwd_u.shape
    m = b * n
    adaptive = p.rho is not None
    dummy = fwd_u.new_empty(1)
    gs, gu, gv, ga = (t.contiguous() if t is not None else None for t in g)
    gx = fwd_u.new_empty((x_steps, b, n))
    gv0 = fwd_u.new_empty((b, n))
    ga0 = fwd_u.new_empty((b, n)) if adaptive else None
    per = [fwd_u.new_empty((b, n)) if want else None for want in needs]
    consts = fwd_u.new_tensor(surrogate_constants(cfg.surrogate))
    k.bwd[(k.cdiv(m, _BLOCK),)](
        fwd_u,
        _or(fwd_a_prev, dummy),
        v0.contiguous(),
        p.beta,
        p.theta,
        _or(p.rho, dummy),
        _or(p.jump, dummy),
        _or(gs, dummy),
        _or(gu, dummy),
        _or(gv, dummy),
        _or(ga, dummy),
        gx,
        gv0,
        _or(ga0, dummy),
        *(_or(t, dummy) for t in per),
        num_steps,
        m,
        n,
        consts,
        X_STATIC=x_steps == 1,
        ADAPT=adaptive,
        ZERO=cfg.reset is Reset.ZERO,
        DETACH=cfg.detach_reset,
        SURR=SURROGATE_ID[type(cfg.surrogate)],
        HAS_GS=gs is not None,
        HAS_GU=gu is not None,
        HAS_GV=gv is not None,
        HAS_GA=ga is not None,
        NEED_BETA=needs.beta,
        NEED_THETA=needs.theta,
        NEED_RHO=needs.rho,
        NEED_JUMP=needs.jump,
        BLOCK=_BLOCK,
        enable_fp_fusion=False,
    )
    return Result(gx, gv0, ga0, *per)
