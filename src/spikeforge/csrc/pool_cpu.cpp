// Non-overlapping 2-D max pooling for the CPU (see spikeforge/pool_native.py).
//
// Layout: x [P, H, W] (P = N * C planes, contiguous), y [P, Ho, Wo] with Ho = H / kh and
// Wo = W / kw (trailing rows and columns that fill no window are dropped, as in torch), and
// idx [P, Ho, Wo] uint8: the winner's row-major position i * kw + j inside its kh x kw window.
// The stride equals the window, there is no padding and no dilation, so the windows tile the
// input without overlap and the backward writes each input position exactly once.
//
// Same rule as torch's CPU kernel (cpu_max_pool): start from -inf at position 0 and take a
// value when `v > max || isnan(v)`; ties keep the first maximum in row-major order, a NaN
// always wins (the last NaN of the window), a window of -inf reports -inf at position 0.
// The backward writes `0 + grad` at the winner (as torch's zero fill plus `+=`, so a -0
// gradient becomes +0) and 0 everywhere else, including the dropped rows and columns.
//
// The common windows (2x2, 3x3) are compile-time sizes: the loop over output columns then
// vectorises (strided loads/stores of the window's columns); other sizes run the same code
// with runtime sizes. Work is split over planes with OpenMP.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "max_pool_2x2.h"

namespace {

struct Shape {
  int64_t planes, H, W, kh, kw;
};

// Index lanes as wide as F (max_pool_2x2.h).
using spikeforge_pool::Lane;

// Window positions of up to BUF outputs are kept as Lane values and converted from/to uint8
// in one flat loop per group of output rows.
constexpr int64_t BUF = 4096;

// A group of output rows [oh0, oh0 + rows) x columns [ow0, ow0 + cols); within it the outputs
// (and their window positions) are contiguous: either whole rows, or a part of one row.
struct Group {
  int64_t oh0, rows, ow0, cols;
};

template <typename Fn>
inline void for_each_group(int64_t Ho, int64_t Wo, Fn fn) {
  if (Ho <= 0 || Wo <= 0) return;
  const int64_t cw = Wo < BUF ? Wo : BUF;
  const int64_t per = BUF / cw;
  for (int64_t oh0 = 0; oh0 < Ho; oh0 += per) {
    const int64_t rows = (Ho - oh0) < per ? (Ho - oh0) : per;
    for (int64_t ow0 = 0; ow0 < Wo; ow0 += cw) {
      fn(Group{oh0, rows, ow0, (Wo - ow0) < cw ? (Wo - ow0) : cw});
    }
  }
}

// One output row: windows of rows x[0 .. kh) (row stride W) at columns ow * kw.
template <typename F, int KH, int KW>
inline void forward_row(const F* __restrict x, int64_t W, int64_t n, int64_t rkh, int64_t rkw,
                        F* __restrict y, Lane<F>* __restrict pos) {
  const int64_t kh = KH ? KH : rkh;
  const int64_t kw = KW ? KW : rkw;
  for (int64_t ow = 0; ow < n; ++ow) {
    F m = x[ow * kw];  // torch starts from -inf: the first value is taken unless it is -inf
    Lane<F> k = 0;
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t j = (i == 0); j < kw; ++j) {
        const F v = x[i * W + ow * kw + j];
        const bool take = (v > m) | (v != v);
        m = take ? v : m;
        k = take ? Lane<F>(i * kw + j) : k;
      }
    }
    y[ow] = m;
    pos[ow] = k;
  }
}

template <typename F, int KH, int KW, bool IDX>
void forward(const Shape s, const F* x, F* y, uint8_t* idx, int64_t threads) {
  const int64_t Ho = s.H / s.kh, Wo = s.W / s.kw;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < s.planes; ++p) {
    Lane<F> pos[BUF];
    const F* xp = x + p * s.H * s.W;
    const int64_t out = p * Ho * Wo;
    for_each_group(Ho, Wo, [&](const Group g) {
      for (int64_t r = 0; r < g.rows; ++r) {
        const int64_t oh = g.oh0 + r;
        forward_row<F, KH, KW>(xp + oh * s.kh * s.W + g.ow0 * s.kw, s.W, g.cols, s.kh, s.kw,
                               y + out + oh * Wo + g.ow0, pos + r * g.cols);
      }
      if constexpr (IDX) {
        uint8_t* ip = idx + out + g.oh0 * Wo + g.ow0;
        for (int64_t q = 0; q < g.rows * g.cols; ++q) ip[q] = uint8_t(pos[q]);
      }
    });
  }
}

// One output row of gradients into the kh input rows of its windows (row stride W).
template <typename F, int KH, int KW>
inline void backward_row(const F* __restrict gy, const Lane<F>* __restrict pos, int64_t W,
                         int64_t n, int64_t rkh, int64_t rkw, F* __restrict gx) {
  const int64_t kh = KH ? KH : rkh;
  const int64_t kw = KW ? KW : rkw;
  for (int64_t i = 0; i < kh; ++i) {
    F* __restrict row = gx + i * W;
    for (int64_t ow = 0; ow < n; ++ow) {
      const F g = F(0) + gy[ow];
      const Lane<F> k = pos[ow];
      for (int64_t j = 0; j < kw; ++j) {
        row[ow * kw + j] = k == Lane<F>(i * kw + j) ? g : F(0);
      }
    }
  }
}

template <typename F, int KH, int KW>
void backward(const Shape s, const F* gy, const uint8_t* idx, F* gx, int64_t threads) {
  const int64_t Ho = s.H / s.kh, Wo = s.W / s.kw;
  const int64_t tail = s.W - Wo * s.kw;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < s.planes; ++p) {
    Lane<F> pos[BUF];
    F* gp = gx + p * s.H * s.W;
    const int64_t out = p * Ho * Wo;
    for_each_group(Ho, Wo, [&](const Group g) {
      const uint8_t* ip = idx + out + g.oh0 * Wo + g.ow0;
      for (int64_t q = 0; q < g.rows * g.cols; ++q) pos[q] = ip[q];
      for (int64_t r = 0; r < g.rows; ++r) {
        const int64_t oh = g.oh0 + r;
        F* rows = gp + oh * s.kh * s.W;
        backward_row<F, KH, KW>(gy + out + oh * Wo + g.ow0, pos + r * g.cols, s.W, g.cols,
                                s.kh, s.kw, rows + g.ow0 * s.kw);
        if (tail && g.ow0 + g.cols == Wo) {
          for (int64_t i = 0; i < s.kh; ++i) {
            std::memset(rows + i * s.W + Wo * s.kw, 0, tail * sizeof(F));
          }
        }
      }
    });
    const int64_t covered = Ho * s.kh * s.W;
    std::memset(gp + covered, 0, (s.H * s.W - covered) * sizeof(F));
  }
}

// 2x2 windows on planes of even height and width, the usual case: the input is then a
// sequence of row pairs [Q = planes * H / 2, 2, W] and the output [Q, W / 2], both without
// gaps between planes. Blocks of row pairs are copied into two flat per-thread buffers (top
// rows, bottom rows), so that one long loop over the block's outputs (stride-2 loads)
// vectorises however short the rows are; the rule is the one of forward_row, applied to the
// positions in row-major order 0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1).
constexpr int64_t PAIR_BUF = 2048;  // elements of one buffer: whole rows of a block

inline bool pairs_apply(const Shape s) {
  return s.kh == 2 && s.kw == 2 && s.H % 2 == 0 && s.W % 2 == 0 && s.W <= PAIR_BUF;
}

template <typename F, bool IDX>
void forward_pairs(const Shape s, const F* __restrict x, F* __restrict y,
                   uint8_t* __restrict idx, int64_t threads) {
  const int64_t W = s.W, Wo = W / 2, Q = s.planes * (s.H / 2);
  const int64_t per = PAIR_BUF / W;  // row pairs per block
#pragma omp parallel num_threads(threads)
  {
    alignas(64) F top[PAIR_BUF];
    alignas(64) F bot[PAIR_BUF];
    alignas(64) Lane<F> pos[PAIR_BUF / 2];
#pragma omp for schedule(static)
    for (int64_t q0 = 0; q0 < Q; q0 += per) {
      const int64_t n = (Q - q0) < per ? (Q - q0) : per;
      const F* src = x + q0 * 2 * W;
      for (int64_t q = 0; q < n; ++q) {
        std::memcpy(top + q * W, src + 2 * q * W, W * sizeof(F));
        std::memcpy(bot + q * W, src + (2 * q + 1) * W, W * sizeof(F));
      }
      const int64_t K = n * Wo;
      spikeforge_pool::pool_flat<F>(top, bot, K, y + q0 * Wo, pos);
      if constexpr (IDX) {
        uint8_t* __restrict ip = idx + q0 * Wo;
        for (int64_t k = 0; k < K; ++k) ip[k] = uint8_t(pos[k]);
      }
    }
  }
}

template <typename F>
void backward_pairs(const Shape s, const F* __restrict gy, const uint8_t* __restrict idx,
                    F* __restrict gx, int64_t threads) {
  const int64_t W = s.W, Wo = W / 2, Q = s.planes * (s.H / 2);
  const int64_t per = PAIR_BUF / W;
#pragma omp parallel num_threads(threads)
  {
    alignas(64) F top[PAIR_BUF];
    alignas(64) F bot[PAIR_BUF];
#pragma omp for schedule(static)
    for (int64_t q0 = 0; q0 < Q; q0 += per) {
      const int64_t n = (Q - q0) < per ? (Q - q0) : per;
      const F* __restrict g = gy + q0 * Wo;
      const uint8_t* __restrict ip = idx + q0 * Wo;
      const int64_t K = n * Wo;
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) {
        const F v = F(0) + g[k];
        const Lane<F> p = ip[k];
        top[2 * k] = p == 0 ? v : F(0);
        top[2 * k + 1] = p == 1 ? v : F(0);
        bot[2 * k] = p == 2 ? v : F(0);
        bot[2 * k + 1] = p == 3 ? v : F(0);
      }
      F* dst = gx + q0 * 2 * W;
      for (int64_t q = 0; q < n; ++q) {
        std::memcpy(dst + 2 * q * W, top + q * W, W * sizeof(F));
        std::memcpy(dst + (2 * q + 1) * W, bot + q * W, W * sizeof(F));
      }
    }
  }
}

template <typename F, bool IDX>
void forward_any(const Shape s, const void* x, void* y, uint8_t* idx, int64_t threads) {
  const F* xi = static_cast<const F*>(x);
  F* yo = static_cast<F*>(y);
  if (pairs_apply(s)) return forward_pairs<F, IDX>(s, xi, yo, idx, threads);
  if (s.kh == 2 && s.kw == 2) return forward<F, 2, 2, IDX>(s, xi, yo, idx, threads);
  if (s.kh == 3 && s.kw == 3) return forward<F, 3, 3, IDX>(s, xi, yo, idx, threads);
  forward<F, 0, 0, IDX>(s, xi, yo, idx, threads);
}

template <typename F>
void backward_any(const Shape s, const void* gy, const uint8_t* idx, void* gx, int64_t threads) {
  const F* g = static_cast<const F*>(gy);
  F* o = static_cast<F*>(gx);
  if (pairs_apply(s)) return backward_pairs<F>(s, g, idx, o, threads);
  if (s.kh == 2 && s.kw == 2) return backward<F, 2, 2>(s, g, idx, o, threads);
  if (s.kh == 3 && s.kw == 3) return backward<F, 3, 3>(s, g, idx, o, threads);
  backward<F, 0, 0>(s, g, idx, o, threads);
}

}  // namespace

extern "C" {

// x [planes, H, W] -> y, idx [planes, H / kh, W / kw]; idx may be null (not written).
void sfp_forward(int64_t f64, int64_t planes, int64_t H, int64_t W, int64_t kh, int64_t kw,
                 const void* x, void* y, uint8_t* idx, int64_t threads) {
  const Shape s{planes, H, W, kh, kw};
  if (f64) {
    if (idx) forward_any<double, true>(s, x, y, idx, threads);
    else forward_any<double, false>(s, x, y, idx, threads);
  } else {
    if (idx) forward_any<float, true>(s, x, y, idx, threads);
    else forward_any<float, false>(s, x, y, idx, threads);
  }
}

// gy, idx [planes, H / kh, W / kw] -> gx [planes, H, W], every element written.
void sfp_backward(int64_t f64, int64_t planes, int64_t H, int64_t W, int64_t kh, int64_t kw,
                  const void* gy, const uint8_t* idx, void* gx, int64_t threads) {
  const Shape s{planes, H, W, kh, kw};
  if (f64) backward_any<double>(s, gy, idx, gx, threads);
  else backward_any<float>(s, gy, idx, gx, threads);
}

}  // extern "C"
