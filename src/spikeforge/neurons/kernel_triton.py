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
    import triton.language as tl

    @triton.jit
    def surrogate(d, c0, c1, SURR: tl.constexpr):
        if SURR == 0:
            r = 1.0 / (1.0 + c0 * tl.abs(d))
            g = r * r
        elif SURR == 1:
            z = c0 * d
            g = c1 / (1.0 + z * z)
        elif SURR == 2:
            s = 1.0 / (1.0 + tl.exp(-(c0 * d)))
            g = c0 * s * (1.0 - s)
        else:
            g = c0 * tl.maximum(1.0 - c0 * tl.abs(d), 0.0)
        return g

    @triton.jit
    def fwd(
        x_ptr,
        v0_ptr,
        a0_ptr,
        beta_ptr,
        theta_ptr,
        rho_ptr,
        jump_ptr,
        s_ptr,
        u_ptr,
        ap_ptr,
        v_ptr,
        a_ptr,
        T,
        M,
        N,
        X_STATIC: tl.constexpr,
        ADAPT: tl.constexpr,
        ZERO: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        n = offs % N
        beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
        theta = tl.load(theta_ptr + n, mask=mask, other=1.0)
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        if ADAPT:
            rho = tl.load(rho_ptr + n, mask=mask, other=0.0)
            jump = tl.load(jump_ptr + n, mask=mask, other=0.0)
            a = tl.load(a0_ptr + offs, mask=mask, other=0.0)
        for t in range(T):
            off = t.to(tl.int64) * M + offs
            xt = tl.load(x_ptr + (offs if X_STATIC else off), mask=mask, other=0.0)
            u = beta * v + xt
            e = theta
            if ADAPT:
                tl.store(ap_ptr + off, a, mask=mask)
                e = theta + a
            sp = tl.where(u - e >= 0.0, 1.0, 0.0).to(u.dtype)
            tl.store(u_ptr + off, u, mask=mask)
            tl.store(s_ptr + off, sp, mask=mask)
            if ZERO:
                v = u * (1.0 - sp)
            else:
                v = u - e * sp
            if ADAPT:
                a = rho * a + jump * sp
        tl.store(v_ptr + offs, v, mask=mask)
        if ADAPT:
            tl.store(a_ptr + offs, a, mask=mask)

    @triton.jit
    def bwd(
        u_ptr,
        ap_ptr,
        v0_ptr,
        beta_ptr,
        theta_ptr,
        rho_ptr,
        jump_ptr,
        gs_ptr,
        gu_ptr,
        gv_ptr,
        ga_ptr,
        gx_ptr,
        gv0_ptr,
        ga0_ptr,
        gbeta_ptr,
        gtheta_ptr,
        grho_ptr,
        gjump_ptr,
        T,
        M,
        N,
        c0,
        c1,
        X_STATIC: tl.constexpr,
        ADAPT: tl.constexpr,
        ZERO: tl.constexpr,
        DETACH: tl.constexpr,
        SURR: tl.constexpr,
        HAS_GS: tl.constexpr,
        HAS_GU: tl.constexpr,
        HAS_GV: tl.constexpr,
        HAS_GA: tl.constexpr,
        NEED_BETA: tl.constexpr,
        NEED_THETA: tl.constexpr,
        NEED_RHO: tl.constexpr,
        NEED_JUMP: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < M
        n = offs % N
        beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
        theta = tl.load(theta_ptr + n, mask=mask, other=1.0)
        zero = tl.zeros_like(beta)
        gv = zero
        if HAS_GV:
            gv = tl.load(gv_ptr + offs, mask=mask, other=0.0)
        ga = zero
        if ADAPT:
            rho = tl.load(rho_ptr + n, mask=mask, other=0.0)
            jump = tl.load(jump_ptr + n, mask=mask, other=0.0)
            if HAS_GA:
                ga = tl.load(ga_ptr + offs, mask=mask, other=0.0)
        gxs = zero
        gb = zero
        gt = zero
        gr = zero
        gj = zero
        for i in range(T):
            t = T - 1 - i
            off = t.to(tl.int64) * M + offs
            u = tl.load(u_ptr + off, mask=mask, other=0.0)
            e = theta
            if ADAPT:
                ap = tl.load(ap_ptr + off, mask=mask, other=0.0)
                e = theta + ap
            d = u - e
            sp = tl.where(d >= 0.0, 1.0, 0.0).to(u.dtype)
            g_s = zero
            if HAS_GS:
                g_s = tl.load(gs_ptr + off, mask=mask, other=0.0)
            if ADAPT:
                g_s += jump * ga
            if not DETACH:
                if ZERO:
                    g_s -= u * gv
                else:
                    g_s -= e * gv
            gsh = g_s * surrogate(d, c0, c1, SURR)
            if ZERO:
                g_u = gv * (1.0 - sp) + gsh
                g_e = -gsh
            else:
                g_u = gv + gsh
                g_e = -gsh - sp * gv
            if HAS_GU:
                g_u += tl.load(gu_ptr + off, mask=mask, other=0.0)
            if NEED_THETA:
                gt += g_e
            if ADAPT:
                if NEED_RHO:
                    gr += ga * ap
                if NEED_JUMP:
                    gj += ga * sp
                ga = ga * rho + g_e
            if NEED_BETA:
                if t == 0:
                    vp = tl.load(v0_ptr + offs, mask=mask, other=0.0)
                else:
                    up = tl.load(u_ptr + off - M, mask=mask, other=0.0)
                    ep = theta
                    if ADAPT:
                        ep = theta + tl.load(ap_ptr + off - M, mask=mask, other=0.0)
                    spp = tl.where(up - ep >= 0.0, 1.0, 0.0).to(u.dtype)
                    if ZERO:
                        vp = up * (1.0 - spp)
                    else:
                        vp = up - ep * spp
                gb += g_u * vp
            if X_STATIC:
                gxs += g_u
            else:
                tl.store(gx_ptr + off, g_u, mask=mask)
            gv = g_u * beta
        if X_STATIC:
            tl.store(gx_ptr + offs, gxs, mask=mask)
        tl.store(gv0_ptr + offs, gv, mask=mask)
        if ADAPT:
            tl.store(ga0_ptr + offs, ga, mask=mask)
            if NEED_RHO:
                tl.store(grho_ptr + offs, gr, mask=mask)
            if NEED_JUMP:
                tl.store(gjump_ptr + offs, gj, mask=mask)
        if NEED_BETA:
            tl.store(gbeta_ptr + offs, gb, mask=mask)
        if NEED_THETA:
            tl.store(gtheta_ptr + offs, gt, mask=mask)

    return SimpleNamespace(fwd=fwd, bwd=bwd, cdiv=triton.cdiv)


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
    c0, c1 = surrogate_constants(cfg.surrogate)
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
        c0,
        c1,
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
