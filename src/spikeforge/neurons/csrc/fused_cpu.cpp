// Fused multi-step LIF/ALIF kernels for the CPU (see spikeforge/neurons/kernel_native.py).
//
// Layout: x [Tx, M] (Tx = T, or 1 for a static input), M = B * N contiguous, parameters [N].
// Work is split into blocks of one sample's neurons; each block keeps its state in a small
// local array for all T steps (state stays in L1), blocks run in parallel with OpenMP.
// Compiled with -ffp-contract=off so that the forward performs exactly the reference step's
// floating-point operations (no fused multiply-add): spikes and membranes are bitwise equal.
#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t BLOCK = 512;

enum Surrogate : int64_t { FAST_SIGMOID = 0, ARCTAN = 1, SIGMOID = 2, TRIANGLE = 3 };

// Surrogate derivative at d, in the reference's order of operations.
// FastSigmoid: c0 = k;  Arctan: c0 = 0.5*pi*a, c1 = 0.5*a;  Sigmoid: c0 = k;  Triangle: c0 = k.
template <typename F, int64_t SURR>
inline F surrogate(F d, F c0, F c1) {
  if constexpr (SURR == FAST_SIGMOID) {
    F r = F(1) / (F(1) + c0 * std::fabs(d));
    return r * r;
  } else if constexpr (SURR == ARCTAN) {
    F z = c0 * d;
    return c1 / (F(1) + z * z);
  } else if constexpr (SURR == SIGMOID) {
    F s = F(1) / (F(1) + std::exp(-(c0 * d)));
    return c0 * s * (F(1) - s);
  } else {
    F r = F(1) - c0 * std::fabs(d);
    return c0 * (r > F(0) ? r : F(0));
  }
}

struct Shape {
  int64_t T, Tx, B, N;
};

template <typename F, bool ADAPT, bool ZERO>
void forward(const Shape sh, const F* x, const F* v0, const F* a0, const F* beta,
             const F* theta, const F* rho, const F* jump, F* s, F* u, F* a_prev, F* v_out,
             F* a_out, int64_t threads) {
  const int64_t M = sh.B * sh.N;
  const int64_t per_row = (sh.N + BLOCK - 1) / BLOCK;
  const int64_t blocks = sh.B * per_row;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t b = blk / per_row;
    const int64_t n0 = (blk % per_row) * BLOCK;
    const int64_t len = (sh.N - n0) < BLOCK ? (sh.N - n0) : BLOCK;
    const int64_t base = b * sh.N + n0;
    const F* bt = beta + n0;
    const F* th = theta + n0;
    F v[BLOCK], a[BLOCK];
    for (int64_t j = 0; j < len; ++j) {
      v[j] = v0[base + j];
      a[j] = ADAPT ? a0[base + j] : F(0);
    }
    for (int64_t t = 0; t < sh.T; ++t) {
      const F* xt = x + (sh.Tx == 1 ? 0 : t * M) + base;
      F* ut = u + t * M + base;
      F* st = s + t * M + base;
      F* at = ADAPT ? a_prev + t * M + base : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        const F uu = bt[j] * v[j] + xt[j];
        const F e = ADAPT ? th[j] + a[j] : th[j];
        const F sp = F(uu - e >= F(0));
        ut[j] = uu;
        st[j] = sp;
        v[j] = ZERO ? uu * (F(1) - sp) : uu - e * sp;
      }
      if constexpr (ADAPT) {
        for (int64_t j = 0; j < len; ++j) {
          at[j] = a[j];
          a[j] = rho[n0 + j] * a[j] + jump[n0 + j] * st[j];
        }
      }
    }
    for (int64_t j = 0; j < len; ++j) {
      v_out[base + j] = v[j];
      if constexpr (ADAPT) a_out[base + j] = a[j];
    }
  }
}

template <typename F>
struct BackwardArgs {
  const F *u, *a_prev, *v0, *beta, *theta, *rho, *jump, *gs, *gu, *gv_in, *ga_in;
  F *gx, *gv0, *ga0, *gbeta, *gtheta, *grho, *gjump;
  F c0, c1;
};

template <typename F, bool ADAPT, bool ZERO, bool DETACH, int64_t SURR>
void backward(const Shape sh, const BackwardArgs<F> g, int64_t threads) {
  const int64_t M = sh.B * sh.N;
  const int64_t per_row = (sh.N + BLOCK - 1) / BLOCK;
  const int64_t blocks = sh.B * per_row;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t b = blk / per_row;
    const int64_t n0 = (blk % per_row) * BLOCK;
    const int64_t len = (sh.N - n0) < BLOCK ? (sh.N - n0) : BLOCK;
    const int64_t base = b * sh.N + n0;
    const F* bt = g.beta + n0;
    const F* th = g.theta + n0;
    F gv[BLOCK], ga[BLOCK], gxs[BLOCK], gb[BLOCK], gt[BLOCK], gr[BLOCK], gj[BLOCK];
    for (int64_t j = 0; j < len; ++j) {
      gv[j] = g.gv_in ? g.gv_in[base + j] : F(0);
      ga[j] = (ADAPT && g.ga_in) ? g.ga_in[base + j] : F(0);
      gxs[j] = gb[j] = gt[j] = gr[j] = gj[j] = F(0);
    }
    const F zeros[BLOCK] = {};
    F vp[BLOCK], gxrow[BLOCK];
    for (int64_t t = sh.T - 1; t >= 0; --t) {
      const int64_t off = t * M + base;
      const F* ut = g.u + off;
      const F* at = ADAPT ? g.a_prev + off : zeros;
      const F* gst = g.gs ? g.gs + off : zeros;
      const F* gut = g.gu ? g.gu + off : zeros;
      // membrane after reset at t - 1 (the decay's gradient needs it), recomputed from u
      if (t == 0) {
        for (int64_t j = 0; j < len; ++j) vp[j] = g.v0[base + j];
      } else {
        const F* up = ut - M;
        const F* ap = ADAPT ? at - M : zeros;
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) {
          const F ep = ADAPT ? th[j] + ap[j] : th[j];
          const F spp = F(up[j] - ep >= F(0));
          vp[j] = ZERO ? up[j] * (F(1) - spp) : up[j] - ep * spp;
        }
      }
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        const F uu = ut[j];
        const F e = ADAPT ? th[j] + at[j] : th[j];
        const F d = uu - e;
        const F sp = F(d >= F(0));
        F g_s = gst[j];
        if constexpr (ADAPT) g_s += g.jump[n0 + j] * ga[j];
        if constexpr (!DETACH) g_s -= (ZERO ? uu : e) * gv[j];
        const F gsh = g_s * surrogate<F, SURR>(d, g.c0, g.c1);
        const F g_u = (ZERO ? gv[j] * (F(1) - sp) : gv[j]) + gsh + gut[j];
        const F g_e = ZERO ? -gsh : -gsh - sp * gv[j];
        gt[j] += g_e;
        if constexpr (ADAPT) {
          gr[j] += ga[j] * at[j];
          gj[j] += ga[j] * sp;
          ga[j] = ga[j] * g.rho[n0 + j] + g_e;
        }
        gb[j] += g_u * vp[j];
        gxrow[j] = g_u;
        gv[j] = g_u * bt[j];
      }
      if (sh.Tx == 1) {
        for (int64_t j = 0; j < len; ++j) gxs[j] += gxrow[j];
      } else {
        F* gxt = g.gx + off;
        for (int64_t j = 0; j < len; ++j) gxt[j] = gxrow[j];
      }
    }
    for (int64_t j = 0; j < len; ++j) {
      if (sh.Tx == 1) g.gx[base + j] = gxs[j];
      g.gv0[base + j] = gv[j];
      if (ADAPT && g.ga0) g.ga0[base + j] = ga[j];
      if (g.gbeta) g.gbeta[base + j] = gb[j];
      if (g.gtheta) g.gtheta[base + j] = gt[j];
      if (ADAPT && g.grho) g.grho[base + j] = gr[j];
      if (ADAPT && g.gjump) g.gjump[base + j] = gj[j];
    }
  }
}

template <typename F, bool ADAPT, bool ZERO, bool DETACH>
void backward_surr(const Shape sh, const BackwardArgs<F>& g, int64_t surr, int64_t threads) {
  switch (surr) {
    case FAST_SIGMOID: return backward<F, ADAPT, ZERO, DETACH, FAST_SIGMOID>(sh, g, threads);
    case ARCTAN: return backward<F, ADAPT, ZERO, DETACH, ARCTAN>(sh, g, threads);
    case SIGMOID: return backward<F, ADAPT, ZERO, DETACH, SIGMOID>(sh, g, threads);
    default: return backward<F, ADAPT, ZERO, DETACH, TRIANGLE>(sh, g, threads);
  }
}

template <typename F>
void forward_any(const Shape sh, const void* const* p, void* const* o, int64_t adapt,
                 int64_t zero, int64_t threads) {
  auto c = [&](int i) { return static_cast<const F*>(p[i]); };
  auto w = [&](int i) { return static_cast<F*>(o[i]); };
  if (adapt && zero)
    forward<F, true, true>(sh, c(0), c(1), c(2), c(3), c(4), c(5), c(6), w(0), w(1), w(2), w(3), w(4), threads);
  else if (adapt)
    forward<F, true, false>(sh, c(0), c(1), c(2), c(3), c(4), c(5), c(6), w(0), w(1), w(2), w(3), w(4), threads);
  else if (zero)
    forward<F, false, true>(sh, c(0), c(1), c(2), c(3), c(4), c(5), c(6), w(0), w(1), w(2), w(3), w(4), threads);
  else
    forward<F, false, false>(sh, c(0), c(1), c(2), c(3), c(4), c(5), c(6), w(0), w(1), w(2), w(3), w(4), threads);
}

template <typename F>
void backward_any(const Shape sh, const void* const* p, void* const* o, double c0, double c1,
                  int64_t adapt, int64_t zero, int64_t detach, int64_t surr, int64_t threads) {
  auto c = [&](int i) { return static_cast<const F*>(p[i]); };
  auto w = [&](int i) { return static_cast<F*>(o[i]); };
  const BackwardArgs<F> g{c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), c(8), c(9), c(10),
                          w(0), w(1), w(2), w(3), w(4), w(5), w(6), F(c0), F(c1)};
  const int64_t key = adapt * 4 + zero * 2 + detach;
  switch (key) {
    case 0: return backward_surr<F, false, false, false>(sh, g, surr, threads);
    case 1: return backward_surr<F, false, false, true>(sh, g, surr, threads);
    case 2: return backward_surr<F, false, true, false>(sh, g, surr, threads);
    case 3: return backward_surr<F, false, true, true>(sh, g, surr, threads);
    case 4: return backward_surr<F, true, false, false>(sh, g, surr, threads);
    case 5: return backward_surr<F, true, false, true>(sh, g, surr, threads);
    case 6: return backward_surr<F, true, true, false>(sh, g, surr, threads);
    default: return backward_surr<F, true, true, true>(sh, g, surr, threads);
  }
}

}  // namespace

extern "C" {

// in:  x, v0, a0, beta, theta, rho, jump      out: s, u, a_prev, v, a   (unused ALIF ones: null)
void sf_forward(int64_t f64, int64_t T, int64_t Tx, int64_t B, int64_t N, const void* const* in,
                void* const* out, int64_t adapt, int64_t zero, int64_t threads) {
  const Shape sh{T, Tx, B, N};
  if (f64)
    forward_any<double>(sh, in, out, adapt, zero, threads);
  else
    forward_any<float>(sh, in, out, adapt, zero, threads);
}

// in:  u, a_prev, v0, beta, theta, rho, jump, gs, gu, gv, ga
// out: gx, gv0, ga0, gbeta, gtheta, grho, gjump           (absent inputs/outputs: null)
void sf_backward(int64_t f64, int64_t T, int64_t Tx, int64_t B, int64_t N, const void* const* in,
                 void* const* out, double c0, double c1, int64_t adapt, int64_t zero,
                 int64_t detach, int64_t surr, int64_t threads) {
  const Shape sh{T, Tx, B, N};
  if (f64)
    backward_any<double>(sh, in, out, c0, c1, adapt, zero, detach, surr, threads);
  else
    backward_any<float>(sh, in, out, c0, c1, adapt, zero, detach, surr, threads);
}
}
