// Fused multi-step LIF/ALIF kernels for the CPU (see spikeforge/neurons/kernel_native.py).
//
// Layout: x [Tx, M] (Tx = T, or 1 for a static input), M = B * N contiguous, parameters [N].
// The flat neuron index 0..M-1 is cut into a few long contiguous blocks (whole rows of
// several samples, not aligned to samples), so every time step streams one long run of each
// tensor; a block keeps its state and its neurons' parameters (tiled: element k of the block
// uses parameter (lo + k) mod N) in per-thread arrays for all T steps (L2), blocks run in
// parallel with OpenMP. Output pages are advised as transparent huge pages before the first
// write: on a fresh allocation, 4 KiB page faults otherwise cost more than the kernel.
// Compiled with -ffp-contract=off so that the forward performs exactly the reference step's
// floating-point operations (no fused multiply-add): spikes and membranes are bitwise equal.
#include <cmath>
#include <cstdint>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

// Target block length in elements; see split().
constexpr int64_t BLOCK = 4096;
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

// Blocks of equal length (a multiple of 16 elements, about BLOCK), their number a multiple
// of the thread count so that the threads get equal shares.
struct Blocks {
  int64_t count, len, threads;
};

inline Blocks split(int64_t M, int64_t threads) {
  if (threads < 1) threads = 1;
  int64_t count = (M + BLOCK - 1) / BLOCK;
  count = (count + threads - 1) / threads * threads;
  int64_t len = ((M + count - 1) / count + 15) / 16 * 16;
  count = (M + len - 1) / len;
  return {count, len, threads < count ? threads : count};
}

// Ask for transparent huge pages on the 2 MiB pages lying wholly inside an output that has
// not been written yet (only there: the advice applies to whole pages of the mapping).
inline void advise_huge(void* p, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t HUGE = uintptr_t(1) << 21;
  if (p == nullptr || bytes < int64_t(HUGE)) return;
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + HUGE - 1) & ~(HUGE - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + uintptr_t(bytes)) & ~(HUGE - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

// dst[k] = src[(lo + k) mod N] for k < len: a block's per-neuron parameters.
template <typename F>
void tile(F* dst, const F* src, int64_t lo, int64_t len, int64_t N) {
  int64_t n = lo % N;
  for (int64_t k = 0; k < len; ++k) {
    dst[k] = src[n];
    if (++n == N) n = 0;
  }
}

template <typename F, bool ADAPT, bool ZERO>
void forward(const Shape sh, const F* x, const F* v0, const F* a0, const F* beta,
             const F* theta, const F* rho, const F* jump, F* s, F* u, F* a_prev, F* v_out,
             F* a_out, int64_t threads) {
  const int64_t M = sh.B * sh.N;
  const Blocks bl = split(M, threads);
  const int64_t L = bl.len;
  const int64_t bytes = sh.T * M * int64_t(sizeof(F));
  advise_huge(s, bytes);
  advise_huge(u, bytes);
  if (ADAPT) advise_huge(a_prev, bytes);
#pragma omp parallel num_threads(bl.threads)
  {
    std::vector<F> scratch(L * (ADAPT ? 6 : 3));
    F* v = scratch.data();
    F* bt = v + L;
    F* th = bt + L;
    F* a = ADAPT ? th + L : nullptr;
    F* rh = ADAPT ? a + L : nullptr;
    F* jp = ADAPT ? rh + L : nullptr;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < bl.count; ++blk) {
      const int64_t lo = blk * L;
      const int64_t len = (M - lo) < L ? (M - lo) : L;
      tile(bt, beta, lo, len, sh.N);
      tile(th, theta, lo, len, sh.N);
      if constexpr (ADAPT) {
        tile(rh, rho, lo, len, sh.N);
        tile(jp, jump, lo, len, sh.N);
      }
      for (int64_t j = 0; j < len; ++j) {
        v[j] = v0[lo + j];
        if constexpr (ADAPT) a[j] = a0[lo + j];
      }
      for (int64_t t = 0; t < sh.T; ++t) {
        const F* xt = x + (sh.Tx == 1 ? 0 : t * M) + lo;
        F* ut = u + t * M + lo;
        F* st = s + t * M + lo;
        F* at = ADAPT ? a_prev + t * M + lo : nullptr;
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) {
          const F uu = bt[j] * v[j] + xt[j];
          const F e = ADAPT ? th[j] + a[j] : th[j];
          const F sp = F(uu - e >= F(0));
          ut[j] = uu;
          st[j] = sp;
          v[j] = ZERO ? uu * (F(1) - sp) : uu - e * sp;
          if constexpr (ADAPT) {
            at[j] = a[j];
            a[j] = rh[j] * a[j] + jp[j] * sp;
          }
        }
      }
      for (int64_t j = 0; j < len; ++j) {
        v_out[lo + j] = v[j];
        if constexpr (ADAPT) a_out[lo + j] = a[j];
      }
    }
  }
}

template <typename F>
struct BackwardArgs {
  const F *u, *a_prev, *v0, *beta, *theta, *rho, *jump, *gs, *gu, *gv_in, *ga_in;
  F *gx, *gv0, *ga0, *gbeta, *gtheta, *grho, *gjump;
  F c0, c1;
};

// PARAMS: the decay's and threshold's gradients are wanted (else neither they nor the
// membrane after reset that the decay's gradient needs are computed).
template <typename F, bool ADAPT, bool ZERO, bool DETACH, bool PARAMS, int64_t SURR>
void backward(const Shape sh, const BackwardArgs<F> g, int64_t threads) {
  const int64_t M = sh.B * sh.N;
  const Blocks bl = split(M, threads);
  const int64_t L = bl.len;
  const bool stat = sh.Tx == 1;
  advise_huge(g.gx, sh.Tx * M * int64_t(sizeof(F)));
#pragma omp parallel num_threads(bl.threads)
  {
    std::vector<F> scratch(L * (ADAPT ? 14 : 9));
    F* bt = scratch.data();
    F* th = bt + L;
    F* gv = th + L;
    F* gb = gv + L;
    F* gt = gb + L;
    F* vp = gt + L;
    F* gxs = vp + L;      // static input: gradient summed over time
    F* gxrow = gxs + L;   // static input: this step's gradient
    F* zeros = gxrow + L;
    F* ga = ADAPT ? zeros + L : nullptr;
    F* gr = ADAPT ? ga + L : nullptr;
    F* gj = ADAPT ? gr + L : nullptr;
    F* rh = ADAPT ? gj + L : nullptr;
    F* jp = ADAPT ? rh + L : nullptr;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < bl.count; ++blk) {
      const int64_t lo = blk * L;
      const int64_t len = (M - lo) < L ? (M - lo) : L;
      tile(bt, g.beta, lo, len, sh.N);
      tile(th, g.theta, lo, len, sh.N);
      if constexpr (ADAPT) {
        tile(rh, g.rho, lo, len, sh.N);
        tile(jp, g.jump, lo, len, sh.N);
      }
      for (int64_t j = 0; j < len; ++j) {
        gv[j] = g.gv_in ? g.gv_in[lo + j] : F(0);
        gxs[j] = gb[j] = gt[j] = F(0);
        if constexpr (ADAPT) {
          ga[j] = g.ga_in ? g.ga_in[lo + j] : F(0);
          gr[j] = gj[j] = F(0);
        }
      }
      for (int64_t t = sh.T - 1; t >= 0; --t) {
        const int64_t off = t * M + lo;
        const F* ut = g.u + off;
        const F* at = ADAPT ? g.a_prev + off : zeros;
        const F* gst = g.gs ? g.gs + off : zeros;
        const F* gut = g.gu ? g.gu + off : zeros;
        F* gxt = stat ? gxrow : g.gx + off;
        // membrane after reset at t - 1 (the decay's gradient needs it), recomputed from u
        if (!PARAMS) {
        } else if (t == 0) {
          for (int64_t j = 0; j < len; ++j) vp[j] = g.v0[lo + j];
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
          if constexpr (ADAPT) g_s += jp[j] * ga[j];
          if constexpr (!DETACH) g_s -= (ZERO ? uu : e) * gv[j];
          const F gsh = g_s * surrogate<F, SURR>(d, g.c0, g.c1);
          const F g_u = (ZERO ? gv[j] * (F(1) - sp) : gv[j]) + gsh + gut[j];
          const F g_e = ZERO ? -gsh : -gsh - sp * gv[j];
          if constexpr (PARAMS) gt[j] += g_e;
          if constexpr (ADAPT) {
            gr[j] += ga[j] * at[j];
            gj[j] += ga[j] * sp;
            ga[j] = ga[j] * rh[j] + g_e;
          }
          if constexpr (PARAMS) gb[j] += g_u * vp[j];
          gxt[j] = g_u;
          gv[j] = g_u * bt[j];
        }
        if (stat) {
          for (int64_t j = 0; j < len; ++j) gxs[j] += gxrow[j];
        }
      }
      for (int64_t j = 0; j < len; ++j) {
        if (stat) g.gx[lo + j] = gxs[j];
        g.gv0[lo + j] = gv[j];
        if (ADAPT && g.ga0) g.ga0[lo + j] = ga[j];
        if (g.gbeta) g.gbeta[lo + j] = gb[j];
        if (g.gtheta) g.gtheta[lo + j] = gt[j];
        if (ADAPT && g.grho) g.grho[lo + j] = gr[j];
        if (ADAPT && g.gjump) g.gjump[lo + j] = gj[j];
      }
    }
  }
}

template <typename F, bool ADAPT, bool ZERO, bool DETACH, bool PARAMS>
void backward_surr(const Shape sh, const BackwardArgs<F>& g, int64_t surr, int64_t threads) {
  switch (surr) {
    case FAST_SIGMOID:
      return backward<F, ADAPT, ZERO, DETACH, PARAMS, FAST_SIGMOID>(sh, g, threads);
    case ARCTAN: return backward<F, ADAPT, ZERO, DETACH, PARAMS, ARCTAN>(sh, g, threads);
    case SIGMOID: return backward<F, ADAPT, ZERO, DETACH, PARAMS, SIGMOID>(sh, g, threads);
    default: return backward<F, ADAPT, ZERO, DETACH, PARAMS, TRIANGLE>(sh, g, threads);
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
  // A LIF layer with fixed decay and threshold (the common case) skips their gradients;
  // ALIF always computes them (fewer instantiations; compile time).
  const bool params = g.gbeta != nullptr || g.gtheta != nullptr;
  const int64_t key = adapt ? 8 + zero * 2 + detach : params * 4 + zero * 2 + detach;
  switch (key) {
    case 0: return backward_surr<F, false, false, false, false>(sh, g, surr, threads);
    case 1: return backward_surr<F, false, false, true, false>(sh, g, surr, threads);
    case 2: return backward_surr<F, false, true, false, false>(sh, g, surr, threads);
    case 3: return backward_surr<F, false, true, true, false>(sh, g, surr, threads);
    case 4: return backward_surr<F, false, false, false, true>(sh, g, surr, threads);
    case 5: return backward_surr<F, false, false, true, true>(sh, g, surr, threads);
    case 6: return backward_surr<F, false, true, false, true>(sh, g, surr, threads);
    case 7: return backward_surr<F, false, true, true, true>(sh, g, surr, threads);
    case 8: return backward_surr<F, true, false, false, true>(sh, g, surr, threads);
    case 9: return backward_surr<F, true, false, true, true>(sh, g, surr, threads);
    case 10: return backward_surr<F, true, true, false, true>(sh, g, surr, threads);
    default: return backward_surr<F, true, true, true, true>(sh, g, surr, threads);
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
