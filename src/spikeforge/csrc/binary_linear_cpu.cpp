// A linear layer whose input is binary (every value 0 or 1: spikes), for the CPU (see
// spikeforge/binary_linear_native.py).
//
// Layout: x [N, K] float32, w [O, K] (nn.Linear), b [O] (or null), y [N, O], gw [O, K].
//
// The method of the four Russians: a product of a 0/1 matrix with a real one only adds
// rows. Eight inputs k = 8g..8g+7 take one of 256 patterns, so the 256 sums of their weight
// columns are tabulated once ("subset sums", one addition each) and each sample adds one
// table entry per group instead of eight weighted columns; the result is a sum of the same
// terms as torch's, added in another order.
//   forward      y[n, o]  = b[o] + sum_g T_g[pattern of x[n, 8g..8g+7]][o]
//   weight grad  gw[o, k] = sum_h S_h[pattern of x[4h..4h+3, k]][o], S_h the 16 subset sums
//                           of the rows gy[4h..4h+3, :] (four samples: each table serves only
//                           K lookups, so smaller tables pay)
// Both work on tiles of 16 output columns (one vector, eight samples or inputs at a time);
// the tables of a block of inputs (max_groups) or samples (max_quads) stay in the core's
// L2 cache, and the sums of a tile are kept in a contiguous buffer and written out once
// (the rows of y and gw lie a page apart).
//
// sfb_pack checks that x is binary and packs the patterns: rows [N, G] (G = ceil(K / 8),
// rows[n, g] = sum_j x[n, 8g+j] << j) and, if cols is not null, cols [K, H] (H = ceil(N / 4),
// cols[k, h] = sum_j x[4h+j, k] << j); values past the end count as 0. sfb_pack_im2col
// packs the same patterns for a convolution's im2col matrix (a sample per output position,
// K = C*KH*KW) from the binary input images, without forming the matrix; the kernels then
// read and write the convolution's NCHW layout directly (P = positions per image).
// Work is split by output tiles (each tile's sums run in one thread, in a fixed order), so
// results do not depend on the number of threads.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>
#include <omp.h>

namespace {

typedef float v16 __attribute__((vector_size(64)));

constexpr int64_t OT = 16;       // output columns per tile: one vector
constexpr int64_t LANES = 8;     // samples (forward) or inputs (weight grad) per pass
constexpr int64_t RB = 8;        // inputs per row pattern (forward: 256-entry tables)
constexpr int64_t CB = 4;        // samples per column pattern (weight grad: 16 entries)

inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

// The 2**bits subset sums of vectors r[0..bits-1]: t[m] = sum of r[j] over the bits j of m.
inline void subset_sums(const v16* r, int bits, v16* t) {
  t[0] = v16{};
  for (int m = 1; m < (1 << bits); ++m) t[m] = t[m & (m - 1)] + r[__builtin_ctz(m)];
}

// A vector of the first `count` (<= 16) floats at p, zeros after them.
inline v16 load_part(const float* p, int64_t count) {
  if (count >= 16) return load16(p);
  float tmp[16] = {};
  std::memcpy(tmp, p, std::max<int64_t>(count, 0) * sizeof(float));
  return load16(tmp);
}
inline void store_part(float* p, v16 v, int64_t count) {
  if (count >= 16) {
    store16(p, v);
    return;
  }
  float tmp[16];
  store16(tmp, v);
  std::memcpy(p, tmp, count * sizeof(float));
}

// Blocks of at most `limit` items, as even as possible: the block size.
inline int64_t even_block(int64_t count, int64_t limit) {
  limit = std::max<int64_t>(1, limit);
  const int64_t blocks = (count + limit - 1) / limit;
  return (count + blocks - 1) / blocks;
}

// The 8x8 bit matrix in a word (byte r = row r, bit j of it = column j), transposed: byte j
// of the result holds bit j of every input byte (bit r from byte r).
inline uint64_t transpose8(uint64_t x) {
  uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
  x ^= t ^ (t << 28);
  return x;
}

// The column patterns cols [K, ceil(N / 4)] from the row patterns rows [N, ceil(K / 8)]:
// per 8 samples and group, one 8x8 bit transposition.
void columns_from_rows(int64_t N, int64_t K, const uint8_t* rows, uint8_t* cols,
                       int64_t threads) {
  const int64_t G = (K + RB - 1) / RB, H = (N + CB - 1) / CB, octets = (N + 7) / 8;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < octets; ++b) {
    const int64_t nn = std::min<int64_t>(8, N - 8 * b);
    for (int64_t g = 0; g < G; ++g) {
      uint64_t word = 0;
      for (int64_t r = 0; r < nn; ++r)
        word |= static_cast<uint64_t>(rows[(8 * b + r) * G + g]) << (8 * r);
      word = transpose8(word);
      for (int64_t j = 0; j < RB && RB * g + j < K; ++j) {
        const uint8_t byte = static_cast<uint8_t>(word >> (8 * j));
        uint8_t* out = cols + (RB * g + j) * H + 2 * b;
        out[0] = byte & 15u;
        if (2 * b + 1 < H) out[1] = byte >> 4;
      }
    }
  }
}

}  // namespace

extern "C" {

// Returns 1 if every x is 0 or 1 (the patterns are then written), else 0.
int64_t sfb_pack(int64_t N, int64_t K, const float* x, uint8_t* rows, uint8_t* cols,
                 int64_t threads) {
  const int64_t G = (K + RB - 1) / RB, H = (N + CB - 1) / CB, octets = (N + 7) / 8;
  std::atomic<int> bad{0};
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t h8 = 0; h8 < octets; ++h8) {
    if (bad.load(std::memory_order_relaxed)) continue;
    const int64_t n0 = 8 * h8, nn = std::min<int64_t>(8, N - n0);
    int flaw = 0;
    for (int64_t k0 = 0; k0 < K; k0 += 32) {
      const int64_t kn = std::min<int64_t>(32, K - k0);
      uint32_t mask[8] = {};
      for (int64_t j = 0; j < nn; ++j) {
        const float* xr = x + (n0 + j) * K + k0;
        uint32_t m = 0;
        for (int64_t t = 0; t < kn; ++t) {
          const float v = xr[t];
          m |= static_cast<uint32_t>(v == 1.0f) << t;
          flaw |= !(v == 1.0f || v == 0.0f);
        }
        mask[j] = m;
        uint8_t* rr = rows + (n0 + j) * G + k0 / RB;
        for (int64_t q = 0; q < (kn + RB - 1) / RB; ++q)
          rr[q] = static_cast<uint8_t>(m >> (RB * q));
      }
      if (cols != nullptr) {
        for (int64_t half = 0; half < 2 && 2 * h8 + half < H; ++half) {
          const uint32_t* mq = mask + CB * half;
          for (int64_t t = 0; t < kn; ++t) {
            cols[(k0 + t) * H + 2 * h8 + half] = static_cast<uint8_t>(
                ((mq[0] >> t) & 1u) | (((mq[1] >> t) & 1u) << 1) | (((mq[2] >> t) & 1u) << 2) |
                (((mq[3] >> t) & 1u) << 3));
          }
        }
      }
    }
    if (flaw) bad.store(1, std::memory_order_relaxed);
  }
  return bad.load() ? 0 : 1;
}

// The patterns of the im2col matrix of a binary convolution input, without forming it:
// x [N, C, H, W]; a row per output position (n, oy, ox), n-major, of K = C*KH*KW values in
// the order (c, i, j) of the weight [O, C, KH, KW]; rows [N*OH*OW, ceil(K / 8)] and, if cols
// is not null, cols [K, ceil(N*OH*OW / 4)]. Each image's padded planes are first packed into
// bit rows, and a kernel row's KW values at every output column are cut from them once (one
// shift for dilation 1), then concatenated per position. Returns 1 if every x is
// 0 or 1, else 0 (then nothing else is meaningful). KW <= 32.
int64_t sfb_pack_im2col(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                        const float* x, uint8_t* rows, uint8_t* cols, int64_t threads) {
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  const int64_t OH = (Hp - dh * (KH - 1) - 1) / sh + 1, OW = (Wp - dw * (KW - 1) - 1) / sw + 1;
  const int64_t K = C * KH * KW, G = (K + RB - 1) / RB, P = OH * OW, plane = C * H * W;
  const int64_t WW = (Wp + 63) / 64 + 1;  // words per bit row, one spare for shifted reads
  const uint64_t kmask = (KW >= 64) ? ~0ull : ((1ull << KW) - 1);
  std::atomic<int> bad{0};
#pragma omp parallel num_threads(threads)
  {
    std::vector<uint64_t> bits(C * Hp * WW), flat((plane + 63) / 64 + 1);
    std::vector<uint32_t> win(C * Hp * OW);
    std::vector<int64_t> rowoff(C * KH);  // offset of kernel row (c, i) in win
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i) rowoff[c * KH + i] = (c * Hp + i * dh) * OW;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      if (bad.load(std::memory_order_relaxed)) continue;
      // the image's values as flat bits (1 where x == 1), checking that each is 0 or 1
      const float* xi = x + n * plane;
      std::fill(flat.begin(), flat.end(), 0ull);
      uint32_t* flat32 = reinterpret_cast<uint32_t*>(flat.data());
      int flaw = 0;
      for (int64_t q = 0; q < plane; q += 32) {
        const int64_t qn = std::min<int64_t>(32, plane - q);
        uint32_t one = 0, valid = 0;
        for (int64_t t = 0; t < qn; ++t) {
          const float v = xi[q + t];
          one |= static_cast<uint32_t>(v == 1.0f) << t;
          valid |= static_cast<uint32_t>(v == 0.0f) << t;
        }
        valid |= one;
        flaw |= valid != (qn == 32 ? ~0u : ((1u << qn) - 1));
        flat32[q / 32] = one;
      }
      if (flaw) {
        bad.store(1, std::memory_order_relaxed);
        continue;
      }
      // padded bit rows: row (c, y + ph) holds bits pw .. pw + W - 1
      std::fill(bits.begin(), bits.end(), 0ull);
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t yy = 0; yy < H; ++yy) {
          uint64_t* br = &bits[(c * Hp + yy + ph) * WW];
          const int64_t src = (c * H + yy) * W;
          for (int64_t x0 = 0; x0 < W; x0 += 32) {
            const int64_t cnt = std::min<int64_t>(32, W - x0), at = src + x0;
            uint64_t word;  // 64 bits from flat bit `at` on (the spare word makes it safe)
            std::memcpy(&word, reinterpret_cast<const uint8_t*>(flat.data()) + at / 8, 8);
            word = (word >> (at % 8)) & ((1ull << cnt) - 1);
            const int64_t col = x0 + pw;
            br[col >> 6] |= word << (col & 63);
            if ((col & 63) + cnt > 64) br[(col >> 6) + 1] |= word >> (64 - (col & 63));
          }
        }
      }
      // every kernel row's KW values at every output column: win[(c * Hp + y) * OW + ox]
      for (int64_t cy = 0; cy < C * Hp; ++cy) {
        const uint64_t* br = &bits[cy * WW];
        uint32_t* wr = &win[cy * OW];
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t start = ox * sw;
          uint64_t v;
          if (dw == 1) {
            const int64_t w0 = start >> 6, off = start & 63;
            v = ((br[w0] >> off) | ((br[w0 + 1] << 1) << (63 - off))) & kmask;
          } else {
            v = 0;
            for (int64_t j = 0; j < KW; ++j) {
              const int64_t col = start + j * dw;
              v |= ((br[col >> 6] >> (col & 63)) & 1ull) << j;
            }
          }
          wr[ox] = static_cast<uint32_t>(v);
        }
      }
      const int64_t CK = C * KH;
      for (int64_t oy = 0; oy < OH; ++oy) {
        for (int64_t ox = 0; ox < OW; ++ox) {
          uint8_t* out = rows + (n * P + oy * OW + ox) * G;
          const uint32_t* base = win.data() + oy * sh * OW + ox;
          uint64_t acc = 0;
          int64_t fill = 0;
          for (int64_t ci = 0; ci < CK; ++ci) {
            acc |= static_cast<uint64_t>(base[rowoff[ci]]) << fill;
            fill += KW;
            if (fill >= 32) {
              const uint32_t low = static_cast<uint32_t>(acc);
              std::memcpy(out, &low, 4);
              out += 4;
              acc >>= 32;
              fill -= 32;
            }
          }
          for (; fill > 0; fill -= 8, acc >>= 8) *out++ = static_cast<uint8_t>(acc);
        }
      }
    }
  }
  if (bad.load()) return 0;
  if (cols != nullptr) columns_from_rows(N * P, K, rows, cols, threads);
  return 1;
}

// y = x @ w.T + b from the row patterns. Per tile of 16 outputs and block of at most
// max_groups groups of eight inputs, the block's tables (256 vectors a group) stay in L2
// and every sample adds its block sum to the tile's strip ys (one vector a sample).
// Layout of y: P == 0, [N, O]; P > 0, [N / P, O, P] (a convolution's NCHW output, the
// samples being its images' P output positions in turn).
void sfb_forward(int64_t N, int64_t K, int64_t O, int64_t P, const uint8_t* rows,
                 const float* w, const float* b, float* y, int64_t max_groups,
                 int64_t threads) {
  const int64_t G = (K + RB - 1) / RB, tiles = (O + OT - 1) / OT;
  const int64_t GB = even_block(G, max_groups);
#pragma omp parallel num_threads(threads)
  {
    std::vector<v16> table(GB << RB), ys(N);
    std::vector<float> wt(RB * GB * OT);
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t o0 = tile * OT, on = std::min(OT, O - o0);
      for (int64_t g0 = 0; g0 < G; g0 += GB) {
        const int64_t gn = std::min(GB, G - g0), k0 = RB * g0;
        const int64_t kn = std::min(RB * gn, K - k0);
        // the tile's weights, transposed: wt[k * OT + i] = w[o0 + i, k0 + k] (0 outside)
        std::fill(wt.begin(), wt.end(), 0.0f);
        for (int64_t i = 0; i < on; ++i) {
          const float* wr = w + (o0 + i) * K + k0;
          for (int64_t k = 0; k < kn; ++k) wt[k * OT + i] = wr[k];
        }
        for (int64_t g = 0; g < gn; ++g) {
          v16 r[RB];
          for (int64_t j = 0; j < RB; ++j) r[j] = load16(&wt[(RB * g + j) * OT]);
          subset_sums(r, RB, &table[g << RB]);
        }
        const v16 start = (b != nullptr) ? load_part(b + o0, on) : v16{};
        for (int64_t n0 = 0; n0 < N; n0 += LANES) {
          const int64_t nn = std::min(LANES, N - n0);
          v16 acc[LANES];
          const uint8_t* pat[LANES];
          for (int64_t j = 0; j < LANES; ++j) {
            const int64_t n = n0 + std::min(j, nn - 1);
            pat[j] = rows + n * G + g0;
            acc[j] = (g0 == 0) ? start : ys[n];
          }
          for (int64_t g = 0; g < gn; ++g) {
            const v16* tg = &table[g << RB];
            for (int64_t j = 0; j < LANES; ++j) acc[j] += tg[pat[j][g]];
          }
          for (int64_t j = 0; j < nn; ++j) ys[n0 + j] = acc[j];
        }
      }
      // the strip is written once (rows of y lie O floats apart: one page each)
      if (P == 0) {
        for (int64_t n = 0; n < N; ++n) store_part(y + n * O + o0, ys[n], on);
      } else {
        const float* yf = reinterpret_cast<const float*>(ys.data());
        for (int64_t img = 0; img < N / P; ++img) {
          for (int64_t i = 0; i < on; ++i) {
            float* dst = y + (img * O + o0 + i) * P;
            const float* src = yf + img * P * OT + i;
            for (int64_t p = 0; p < P; ++p) dst[p] = src[p * OT];
          }
        }
      }
    }
  }
}

}  // extern "C"

namespace {

// Where the weight gradient's output gradient comes from, and how a tile of it becomes one
// vector (16 outputs) per sample.
struct GradSource {
  const float* gy;       // [N, O] (P == 0) or [N / P, O, P]; pooled: [N / P, O, PH, PW]
  int64_t P = 0;         // positions per image (0: plain rows)
  const uint8_t* idx;    // pooled: the 2x2 window winners (row-major), else null
  int64_t OW = 0, PH = 0, PW = 0;

  // the tile's gradient, one vector a sample (only used when P > 0)
  void fill(int64_t N, int64_t O, int64_t o0, int64_t on, std::vector<v16>& strip) const {
    std::fill(strip.begin(), strip.end(), v16{});
    float* gf = reinterpret_cast<float*>(strip.data());
    const int64_t images = N / P;
    for (int64_t img = 0; img < images; ++img) {
      for (int64_t i = 0; i < on; ++i) {
        float* dst = gf + img * P * OT + i;
        if (idx == nullptr) {  // planes: read one after the other
          const float* src = gy + (img * O + o0 + i) * P;
          for (int64_t p = 0; p < P; ++p) dst[p * OT] = src[p];
        } else {  // pooled: each window's gradient goes to its winner, the rest stays 0
          const int64_t plane = (img * O + o0 + i) * PH * PW;
          for (int64_t cell = 0; cell < PH * PW; ++cell) {
            const int q = idx[plane + cell];
            const int64_t oy = 2 * (cell / PW) + (q >> 1), ox = 2 * (cell % PW) + (q & 1);
            dst[(oy * OW + ox) * OT] = gy[plane + cell];
          }
        }
      }
    }
  }
};

// gw = gy.T @ x from the column patterns. Per tile of 16 outputs and block of at most
// max_quads groups of four samples, the block's tables (16 vectors a group) stay in L1 and
// every input adds its block sum to the tile's gradient sums gwt (K vectors, in L2).
void weight_grad(int64_t N, int64_t K, int64_t O, const uint8_t* cols, const GradSource& src,
                 float* gw, int64_t max_quads, int64_t threads) {
  const int64_t H = (N + CB - 1) / CB, tiles = (O + OT - 1) / OT;
  const int64_t HB = even_block(H, max_quads);
#pragma omp parallel num_threads(threads)
  {
    std::vector<v16> table(HB << CB), gwt(K), gys(src.P > 0 ? N : 0);
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t o0 = tile * OT, on = std::min(OT, O - o0);
      std::fill(gwt.begin(), gwt.end(), v16{});
      if (src.P > 0) src.fill(N, O, o0, on, gys);
      for (int64_t h0 = 0; h0 < H; h0 += HB) {
        const int64_t hn = std::min(HB, H - h0);
        for (int64_t h = 0; h < hn; ++h) {
          v16 r[CB];
          for (int64_t j = 0; j < CB; ++j) {
            const int64_t n = CB * (h0 + h) + j;
            r[j] = (n >= N)       ? v16{}
                   : (src.P > 0) ? gys[n]
                                 : load_part(src.gy + n * O + o0, on);
          }
          subset_sums(r, CB, &table[h << CB]);
        }
        for (int64_t k0 = 0; k0 < K; k0 += LANES) {
          const int64_t kn = std::min(LANES, K - k0);
          v16 acc[LANES] = {};
          const uint8_t* pat[LANES];
          for (int64_t j = 0; j < LANES; ++j) pat[j] = cols + (k0 + std::min(j, kn - 1)) * H + h0;
          for (int64_t h = 0; h < hn; ++h) {
            const v16* th = &table[h << CB];
            for (int64_t j = 0; j < LANES; ++j) acc[j] += th[pat[j][h]];
          }
          for (int64_t j = 0; j < kn; ++j) gwt[k0 + j] += acc[j];
        }
      }
      float tmp[16];
      for (int64_t k = 0; k < K; ++k) {
        store16(tmp, gwt[k]);
        for (int64_t i = 0; i < on; ++i) gw[(o0 + i) * K + k] = tmp[i];
      }
    }
  }
}

}  // namespace

extern "C" {

// The weight gradient; gy is [N, O] (P == 0) or [N / P, O, P] (a convolution's NCHW
// output gradient, P positions per image).
void sfb_backward_weight(int64_t N, int64_t K, int64_t O, int64_t P, const uint8_t* cols,
                         const float* gy, float* gw, int64_t max_quads, int64_t threads) {
  GradSource src{gy, P, nullptr};
  weight_grad(N, K, O, cols, src, gw, max_quads, threads);
}

// The weight gradient of a convolution followed by a 2x2 max pool, from the pooled gradient
// gp [N / (OH*OW), O, PH, PW] and its windows' winners idx (uint8, row-major in the window)
// alone: the unpooled gradient (zero but at the winners) is never formed. OH, OW: the
// convolution's output size.
void sfb_backward_weight_pooled(int64_t N, int64_t K, int64_t O, int64_t OH, int64_t OW,
                                int64_t PH, int64_t PW, const uint8_t* cols, const float* gp,
                                const uint8_t* idx, float* gw, int64_t max_quads,
                                int64_t threads) {
  GradSource src{gp, OH * OW, idx, OW, PH, PW};
  weight_grad(N, K, O, cols, src, gw, max_quads, threads);
}

}  // extern "C"
