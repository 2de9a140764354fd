// A convolution with few input channels fused with the 2x2 max pooling after it, for the
// CPU (see spikeforge/conv_pool_native.py): the first layer of a convolutional SNN on
// images, whose input is data (no input gradient).
//
// Layout: x [N, C, H, W], w [O, C, KH, KW], b [O] (or null), y and idx [N, O, PH, PW] with
// the convolution output OH = H + 2 ph - KH + 1, OW = W + 2 pw - KW + 1 (stride 1, no
// dilation, zero padding) and PH = OH / 2, PW = OW / 2 (a trailing row or column that fills
// no window is dropped, as in torch). idx is the winner's position in its window, row-major:
// 0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1); the rule is torch's (and pool_cpu.cpp's):
// the first maximum in that order wins, a NaN always wins (the last NaN).
//
// Forward, per image: the image is copied into a zero-bordered buffer (the padding, and
// room for whole vector loads past the last column), two convolution rows are computed for
// all output channels, OB channels x 32 columns in vector registers at a time, then pooled;
// the full-size convolution output never leaves the per-thread buffers.
// Weight gradient: only the window winners carry gradient, so for each pooled output g the
// KH x KW input patch under its winner is accumulated, g * patch, into per-thread sums,
// reduced in thread order at the end (deterministic for a given thread count).
// Compiled with -ffp-contract=fast: the sums use fused multiply-adds, in another order than
// torch's convolution, so results equal it to rounding, not bitwise.
#include <cstdint>
#include <cstring>
#include <vector>
#include <omp.h>

#include "max_pool_2x2.h"

namespace {

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));

inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr int64_t OB = 6;   // output channels per register block
constexpr int64_t TW = 32;  // convolution output columns per tile (two vectors)
constexpr int64_t MAX_KW = 8;

struct Geo {
  int64_t N, C, H, W, O, KH, KW, ph, pw;
  int64_t OH, OW, PH, PW;  // convolution and pooled output sizes
  int64_t tiles;           // column tiles of TW
  int64_t HP, RS;          // padded buffer: rows per channel, row stride
};

Geo geometry(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
             int64_t ph, int64_t pw) {
  Geo g{N, C, H, W, O, KH, KW, ph, pw, 0, 0, 0, 0, 0, 0, 0};
  g.OH = H + 2 * ph - KH + 1;
  g.OW = W + 2 * pw - KW + 1;
  g.PH = g.OH / 2;
  g.PW = g.OW / 2;
  g.tiles = (2 * g.PW + TW - 1) / TW;
  g.HP = H + 2 * ph;
  // loads reach column tiles * TW - 1 + KW - 1 (forward) and 2 * PW - 1 + MAX_KW - 1 (backward)
  const int64_t cols = g.tiles * TW + (KW > MAX_KW ? KW : MAX_KW);
  g.RS = (cols + 15) / 16 * 16;
  return g;
}

// The image n into buf [C, HP, RS]: zeros around the copied rows.
void fill(const Geo& g, const float* x, int64_t n, float* buf) {
  std::memset(buf, 0, sizeof(float) * g.C * g.HP * g.RS);
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t r = 0; r < g.H; ++r) {
      std::memcpy(buf + (c * g.HP + r + g.ph) * g.RS + g.pw,
                  x + ((n * g.C + c) * g.H + r) * g.W, sizeof(float) * g.W);
    }
  }
}

// One convolution row i of output channels [o0, o0 + OB) (weights padded to a multiple of
// OB channels), its first row_len (= 2 PW) columns into rows[o * row_len ...].
void conv_row(const Geo& g, const float* buf, const float* wp, const float* bias, int64_t i,
              int64_t o0, float* rows, int64_t row_len) {
  const int64_t K = g.C * g.KH * g.KW;
  for (int64_t t = 0; t < g.tiles; ++t) {
    v16 acc[OB][2];
    for (int64_t o = 0; o < OB; ++o) {
      const float b0 = bias ? bias[o0 + o] : 0.0f;
      acc[o][0] = v16{} + b0;
      acc[o][1] = v16{} + b0;
    }
    for (int64_t c = 0; c < g.C; ++c) {
      for (int64_t a = 0; a < g.KH; ++a) {
        const float* xr = buf + (c * g.HP + i + a) * g.RS + t * TW;
        const float* wr = wp + o0 * K + (c * g.KH + a) * g.KW;
        for (int64_t bb = 0; bb < g.KW; ++bb) {
          const v16 x0 = load16(xr + bb), x1 = load16(xr + bb + 16);
          for (int64_t o = 0; o < OB; ++o) {
            const float wv = wr[o * K + bb];
            acc[o][0] += wv * x0;
            acc[o][1] += wv * x1;
          }
        }
      }
    }
    const int64_t keep = (row_len - t * TW) < TW ? (row_len - t * TW) : TW;
    for (int64_t o = 0; o < OB; ++o) {
      float tmp[TW];
      std::memcpy(tmp, &acc[o][0], sizeof(v16));
      std::memcpy(tmp + 16, &acc[o][1], sizeof(v16));
      std::memcpy(rows + o * row_len + t * TW, tmp, sizeof(float) * keep);
    }
  }
}

void forward(const Geo& g, const float* x, const float* w, const float* b, float* y,
             uint8_t* idx, int64_t threads) {
  const int64_t K = g.C * g.KH * g.KW;
  const int64_t OP = (g.O + OB - 1) / OB * OB;
  std::vector<float> wp(OP * K, 0.0f);  // weights, channels padded with zeros
  std::memcpy(wp.data(), w, sizeof(float) * g.O * K);
  std::vector<float> bp(OP, 0.0f);
  if (b) std::memcpy(bp.data(), b, sizeof(float) * g.O);
  const int64_t row_len = 2 * g.PW;  // the columns that fill windows
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> buf(g.C * g.HP * g.RS);
    // the two rows of a window row for every channel, [2][OP][row_len], then pooled flat
    std::vector<float> rows(2 * OP * row_len);
    std::vector<float> pooled(g.O * g.PW);
    std::vector<spikeforge_pool::Lane<float>> pos(g.O * g.PW);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      fill(g, x, n, buf.data());
      for (int64_t pi = 0; pi < g.PH; ++pi) {
        for (int64_t r = 0; r < 2; ++r) {
          for (int64_t o0 = 0; o0 < OP; o0 += OB) {
            conv_row(g, buf.data(), wp.data(), bp.data(), 2 * pi + r, o0,
                     rows.data() + (r * OP + o0) * row_len, row_len);
          }
        }
        spikeforge_pool::pool_flat<float>(rows.data(), rows.data() + OP * row_len,
                                          g.O * g.PW, pooled.data(), pos.data());
        for (int64_t o = 0; o < g.O; ++o) {
          const int64_t out = ((n * g.O + o) * g.PH + pi) * g.PW;
          std::memcpy(y + out, pooled.data() + o * g.PW, sizeof(float) * g.PW);
          for (int64_t pj = 0; pj < g.PW; ++pj) idx[out + pj] = uint8_t(pos[o * g.PW + pj]);
        }
      }
    }
  }
}

// One output channel of one image: for every pooled output g (gradient gy[q], winner
// idx[q]), ao[r] += g * (the 8 buffer values from the winner's column in patch row r);
// returns the sum of g (the bias gradient). CKH > 0 fixes the number of patch rows at
// compile time, so their sums stay in registers; 0 reads it from g.
template <int CKH>
float accumulate_rows(const Geo& g, const float* buf, const int64_t* off, const float* gy,
                      const uint8_t* idx, v8* ao) {
  const int64_t rows = CKH ? CKH : g.C * g.KH;
  constexpr int SLOTS = CKH ? CKH : 1;
  v8 acc[SLOTS];
  if constexpr (CKH > 0) {
    for (int r = 0; r < CKH; ++r) acc[r] = ao[r];
  }
  float sb = 0.0f;
  for (int64_t pi = 0; pi < g.PH; ++pi) {
    for (int64_t pj = 0; pj < g.PW; ++pj) {
      const int64_t q = pi * g.PW + pj;
      const float gv = gy[q];
      const int64_t k = idx[q];
      const float* p0 = buf + (2 * pi + (k >> 1)) * g.RS + 2 * pj + (k & 1);
      sb += gv;
      if constexpr (CKH > 0) {
        for (int r = 0; r < CKH; ++r) acc[r] += gv * load8(p0 + off[r]);
      } else {
        for (int64_t r = 0; r < rows; ++r) ao[r] += gv * load8(p0 + off[r]);
      }
    }
  }
  if constexpr (CKH > 0) {
    for (int r = 0; r < CKH; ++r) ao[r] = acc[r];
  }
  return sb;
}

float accumulate(const Geo& g, const float* buf, const int64_t* off, const float* gy,
                 const uint8_t* idx, v8* ao) {
  switch (g.C * g.KH) {  // the usual first layers: 1 or 3 channels, 3x3 to 7x7 kernels
    case 3: return accumulate_rows<3>(g, buf, off, gy, idx, ao);
    case 5: return accumulate_rows<5>(g, buf, off, gy, idx, ao);
    case 7: return accumulate_rows<7>(g, buf, off, gy, idx, ao);
    case 9: return accumulate_rows<9>(g, buf, off, gy, idx, ao);
    case 15: return accumulate_rows<15>(g, buf, off, gy, idx, ao);
    default: return accumulate_rows<0>(g, buf, off, gy, idx, ao);
  }
}

void backward(const Geo& g, const float* x, const float* gy, const uint8_t* idx, float* gw,
              float* gb, int64_t threads) {
  const int64_t CK = g.C * g.KH;  // patch rows, MAX_KW lanes each
  std::vector<std::vector<float>> part_w(threads), part_b(threads);
#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num();
    std::vector<float> buf(g.C * g.HP * g.RS);
    std::vector<v8> acc(g.O * CK, v8{});
    std::vector<float> accb(g.O, 0.0f);
    std::vector<int64_t> off(CK);  // offset of patch row r = c * KH + a in the buffer
    for (int64_t c = 0; c < g.C; ++c) {
      for (int64_t a = 0; a < g.KH; ++a) off[c * g.KH + a] = (c * g.HP + a) * g.RS;
    }
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      fill(g, x, n, buf.data());
      for (int64_t o = 0; o < g.O; ++o) {
        const int64_t base = (n * g.O + o) * g.PH * g.PW;
        accb[o] += accumulate(g, buf.data(), off.data(), gy + base, idx + base,
                              acc.data() + o * CK);
      }
    }
    part_w[tid].resize(g.O * CK * MAX_KW);
    std::memcpy(part_w[tid].data(), acc.data(), sizeof(float) * g.O * CK * MAX_KW);
    part_b[tid] = accb;
  }
  for (int64_t r = 0; r < g.O * CK; ++r) {
    for (int64_t bb = 0; bb < g.KW; ++bb) {
      float s = 0.0f;
      for (int64_t t = 0; t < threads; ++t) {
        if (!part_w[t].empty()) s += part_w[t][r * MAX_KW + bb];
      }
      gw[r * g.KW + bb] = s;
    }
  }
  if (gb) {
    for (int64_t o = 0; o < g.O; ++o) {
      float s = 0.0f;
      for (int64_t t = 0; t < threads; ++t) {
        if (!part_b[t].empty()) s += part_b[t][o];
      }
      gb[o] = s;
    }
  }
}

}  // namespace

extern "C" {

// x [N, C, H, W] -> y, idx [N, O, PH, PW] (see the top of this file); b may be null.
void sfc_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
                 int64_t ph, int64_t pw, const float* x, const float* w, const float* b,
                 float* y, uint8_t* idx, int64_t threads) {
  const Geo g = geometry(N, C, H, W, O, KH, KW, ph, pw);
  if (N <= 0 || g.PH <= 0 || g.PW <= 0) return;
  forward(g, x, w, b, y, idx, threads < 1 ? 1 : threads);
}

// gw [O, C, KH, KW] and gb [O] (may be null) from gy, idx [N, O, PH, PW] and x; KW <= 8.
void sfc_backward_weight(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
                         int64_t KW, int64_t ph, int64_t pw, const float* x, const float* gy,
                         const uint8_t* idx, float* gw, float* gb, int64_t threads) {
  const Geo g = geometry(N, C, H, W, O, KH, KW, ph, pw);
  backward(g, x, gy, idx, gw, gb, threads < 1 ? 1 : threads);
}

}  // extern "C"
