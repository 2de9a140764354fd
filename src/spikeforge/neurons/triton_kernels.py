"""Triton kernels of the fused LIF/ALIF recurrences (imported only when first used).

The maths is that of ``csrc/fused_cpu.cpp`` and :mod:`spikeforge.neurons.kernel_torch`;
:mod:`spikeforge.neurons.kernel_triton` launches these. Pointers address flattened
``[T, M]`` sequences, ``[M]`` states and ``[N]`` parameters with ``M = B * N``.
"""

import triton
import triton.language as tl

__all__ = ["bwd", "fwd"]


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
    offs = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    step = offs * 0 + M  # int64 row stride: t * M must not overflow 32 bits
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
        off = step * t + offs
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
    c_ptr,
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
    offs = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    step = offs * 0 + M  # int64 row stride: t * M must not overflow 32 bits
    mask = offs < M
    n = offs % N
    beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
    theta = tl.load(theta_ptr + n, mask=mask, other=1.0)
    c0 = tl.load(c_ptr)  # surrogate constants in the tensors' dtype (a float arg is fp32)
    c1 = tl.load(c_ptr + 1)
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
        off = step * t + offs
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
                up = tl.load(u_ptr + off - step, mask=mask, other=0.0)
                ep = theta
                if ADAPT:
                    ep = theta + tl.load(ap_ptr + off - step, mask=mask, other=0.0)
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
