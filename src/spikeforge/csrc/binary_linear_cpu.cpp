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
//   or, binned   gw[o, 8g+j] = sum of the bins B_g[p][o] whose pattern p has bit j, where
//                           B_g[p] = sum of gy[n, :] over the samples n whose pattern of
//                           group g is p (from the row patterns alone)
// All work on tiles of 16 output columns (one vector); the tables or bins of a block of
// inputs (max_groups) or samples (max_quads) stay in the core's L2 cache, and the sums of a
// tile are kept in a contiguous buffer and written out once (the rows of y and gw lie a
// page apart). A pattern of 0 adds nothing, and spikes are sparse and clustered: only the
// nonzero patterns are listed and added (list_nonzero).
//
// sfb_pack checks that x is binary and packs the patterns: rows [N, G] (G = ceil(K / 8),
// rows[n, g] = sum_j x[n, 8g+j] << j) and, if cols is not null, cols [K, H] (H = ceil(N / 4),
// cols[k, h] = sum_j x[4h+j, k] << j); values past the end count as 0. sfb_pack_im2col
// packs the row patterns of a convolution's im2col matrix (a sample per output position,
// K = C*KH*KW) from the binary input images, without forming the matrix; the forward and the
// binned weight gradient then read and write the convolution's NCHW layout directly
// (P = positions per image), the forward optionally max-pooling its output as it is
// written. Work is split by output tiles (each tile's sums run in one thread, in a fixed
// order), so results do not depend on the number of threads.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>
#include <omp.h>
#if defined(__AVX512BW__) && defined(__AVX512VBMI2__)
#include <immintrin.h>
#endif

#include "vec16.h"

namespace {

using vec16::load16;
using vec16::store16;
using vec16::v16;

constexpr int64_t OT = 16;       // output columns per tile: one vector
constexpr int64_t LANES = 8;     // samples (forward) or inputs (weight grad) per pass
constexpr int64_t RB = 8;        // inputs per row pattern (forward: 256-entry tables)
constexpr int64_t CB = 4;        // samples per column pattern (weight grad: 16 entries)

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

// The table indices of the nonzero patterns p[0..n): (g << SHIFT) | p[g] for every g with
// p[g] != 0, in order, then zeros up to a multiple of four (an index of 0 reads a table's
// zero entry); returns that padded count. e has room for n rounded up to four. Every
// index fits 16 bits (n << SHIFT <= 65536).
template <int SHIFT>
inline int64_t list_nonzero(const uint8_t* p, int64_t n, uint16_t* e) {
  int64_t m = 0;
#if defined(__AVX512BW__) && defined(__AVX512VBMI2__)
  // 32 patterns at a time: widen to 16 bits, add the indices, compress the nonzero ones
  const __m512i iota = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
                                        18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                        4, 3, 2, 1, 0);
  for (int64_t g0 = 0; g0 < n; g0 += 32) {
    const int64_t cnt = std::min<int64_t>(32, n - g0);
    const __mmask32 valid = cnt == 32 ? ~0u : ((1u << cnt) - 1);
    const __m512i pats = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(valid, p + g0));
    const __mmask32 nz = _mm512_test_epi16_mask(pats, pats);
    const __m512i gs = _mm512_add_epi16(iota, _mm512_set1_epi16(static_cast<int16_t>(g0)));
    const __m512i ent = _mm512_or_si512(_mm512_slli_epi16(gs, SHIFT), pats);
    const int k = __builtin_popcount(nz);
    _mm512_mask_storeu_epi16(e + m, k == 32 ? ~0u : ((1u << k) - 1),
                             _mm512_maskz_compress_epi16(nz, ent));
    m += k;
  }
#else
  for (int64_t g = 0; g < n; ++g) {
    e[m] = static_cast<uint16_t>((g << SHIFT) | p[g]);
    m += (p[g] != 0);
  }
#endif
  for (; m & 3; ++m) e[m] = 0;
  return m;
}

// The sum of the table entries tb[e[0..m)], m a multiple of four, in four interleaved sums.
inline v16 sum_entries(const v16* tb, const uint16_t* e, int64_t m) {
  v16 a0{}, a1{}, a2{}, a3{};
  for (int64_t t = 0; t < m; t += 4) {
    a0 += tb[e[t]];
    a1 += tb[e[t + 1]];
    a2 += tb[e[t + 2]];
    a3 += tb[e[t + 3]];
  }
  return (a0 + a1) + (a2 + a3);
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

typedef uint64_t u64x8 __attribute__((vector_size(64)));
typedef uint32_t u32x8 __attribute__((vector_size(32)));

// The patterns of the im2col matrix of a binary convolution input, without forming it:
// x [N, C, H, W]; a row per output position (n, oy, ox), n-major, of K = C*KH*KW values in
// the order (c, i, j) of the weight [O, C, KH, KW]; rows [N*OH*OW, ceil(K / 8)]. Each
// image's padded planes are first packed into bit rows, and a kernel row's KW values at every
// output column are cut from them once (one shift for dilation 1), then concatenated per
// position, eight neighbouring positions at a time. Returns 1 if every x is
// 0 or 1, else 0 (then nothing else is meaningful). KW <= 32.
int64_t sfb_pack_im2col(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                        const float* x, uint8_t* rows, int64_t threads) {
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
    std::vector<u32x8> stage(G / 4 + 1);  // eight positions' patterns, 4 bytes at a time
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
        // eight neighbouring positions at a time, one 64-bit lane each: their pieces of a
        // kernel row lie side by side in win, and all lanes fill at the same pace
        int64_t ox = 0;
        for (; ox + 8 <= OW; ox += 8) {
          const uint32_t* base = win.data() + oy * sh * OW + ox;
          u64x8 acc = {};
          int64_t fill = 0, words = 0;
          for (int64_t ci = 0; ci < CK; ++ci) {
            u32x8 v;
            std::memcpy(&v, base + rowoff[ci], sizeof v);
            acc |= __builtin_convertvector(v, u64x8) << fill;
            fill += KW;
            if (fill >= 32) {
              stage[words++] = __builtin_convertvector(acc, u32x8);
              acc >>= 32;
              fill -= 32;
            }
          }
          if (fill > 0) stage[words] = __builtin_convertvector(acc, u32x8);
          for (int64_t t = 0; t < 8; ++t) {
            uint8_t* out = rows + (n * P + oy * OW + ox + t) * G;
            for (int64_t q = 0; q < words; ++q) std::memcpy(out + 4 * q, &stage[q][t], 4);
            const uint32_t last = stage[words][t];
            std::memcpy(out + 4 * words, &last, G - 4 * words);
          }
        }
        for (; ox < OW; ++ox) {
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
  return 1;
}

}  // extern "C"

namespace {

// Where the forward's sums go: each writes a tile's strip ys (one vector of 16 outputs per
// sample) out once, as the rows of y lie a page apart.
struct RowsOut {  // y [N, O]
  float* y;
  void write(int64_t N, int64_t O, int64_t o0, int64_t on, const std::vector<v16>& ys) const {
    for (int64_t n = 0; n < N; ++n) store_part(y + n * O + o0, ys[n], on);
  }
};

struct PlanesOut {  // y [N / P, O, P]: a convolution's NCHW output, P positions per image
  float* y;
  int64_t P;
  void write(int64_t N, int64_t O, int64_t o0, int64_t on, const std::vector<v16>& ys) const {
    // 16 positions at a time by a transposition in registers, the rest one by one
    const float* yf = reinterpret_cast<const float*>(ys.data());
    const int64_t P16 = P / 16 * 16;
    for (int64_t img = 0; img < N / P; ++img) {
      float* dst = y + (img * O + o0) * P;
      for (int64_t p0 = 0; p0 < P16; p0 += 16) {
        v16 m[16];
        for (int t = 0; t < 16; ++t) m[t] = ys[img * P + p0 + t];
        vec16::transpose16(m);
        for (int64_t i = 0; i < on; ++i) store16(dst + i * P + p0, m[i]);
      }
      for (int64_t i = 0; i < on; ++i) {
        const float* src = yf + img * P * OT + i;
        for (int64_t p = P16; p < P; ++p) dst[i * P + p] = src[p * OT];
      }
    }
  }
};

// A convolution's output [N / (OH*OW), O, OH, OW] max-pooled in 2x2 windows as it is written:
// y [N / (OH*OW), O, OH / 2, OW / 2] and each window's winner idx (uint8, row-major in the
// window), by the rule of max_pool_2x2.h (the first maximum; a NaN always wins).
struct PooledOut {
  float* y;
  uint8_t* idx;
  int64_t OH, OW;
  void write(int64_t N, int64_t O, int64_t o0, int64_t on, const std::vector<v16>& ys) const {
    typedef int32_t i16v __attribute__((vector_size(64)));
    const int64_t P = OH * OW, PH = OH / 2, PW = OW / 2, cells = PH * PW;
    std::vector<v16> pm(cells);
    std::vector<i16v> pq(cells);
    for (int64_t img = 0; img < N / P; ++img) {
      const v16* yi = &ys[img * P];
      for (int64_t py = 0; py < PH; ++py)
        for (int64_t px = 0; px < PW; ++px) {
          const int64_t p = 2 * py * OW + 2 * px;
          const v16 cand[3] = {yi[p + 1], yi[p + OW], yi[p + OW + 1]};
          v16 m = yi[p];
          i16v q = i16v{};
          for (int k = 0; k < 3; ++k) {
            const i16v t = (cand[k] > m) | (cand[k] != cand[k]);
            m = t ? cand[k] : m;
            q = t ? (i16v{} + (k + 1)) : q;
          }
          pm[py * PW + px] = m;
          pq[py * PW + px] = q;
        }
      float* dst = y + (img * O + o0) * cells;
      uint8_t* dq = idx + (img * O + o0) * cells;
      const int64_t C16 = cells / 16 * 16;
      for (int64_t c0 = 0; c0 < C16; c0 += 16) {
        v16 m[16], q[16];
        for (int t = 0; t < 16; ++t) {
          m[t] = pm[c0 + t];
          q[t] = reinterpret_cast<const v16&>(pq[c0 + t]);
        }
        vec16::transpose16(m);
        vec16::transpose16(q);
        for (int64_t i = 0; i < on; ++i) {
          store16(dst + i * cells + c0, m[i]);
          typedef uint8_t u8x16 __attribute__((vector_size(16)));
          const u8x16 b = __builtin_convertvector(reinterpret_cast<const i16v&>(q[i]), u8x16);
          std::memcpy(dq + i * cells + c0, &b, 16);
        }
      }
      for (int64_t i = 0; i < on; ++i)
        for (int64_t c = C16; c < cells; ++c) {
          dst[i * cells + c] = pm[c][i];
          dq[i * cells + c] = static_cast<uint8_t>(pq[c][i]);
        }
    }
  }
};

// y = x @ w.T + b from the row patterns. Per tile of 16 outputs and block of at most
// max_groups groups of eight inputs, the block's tables (256 vectors a group) stay in L2
// and every sample adds its block sum to the tile's strip ys (one vector a sample), which
// `out` writes.
// A group whose eight inputs are all 0 adds T_g[0] = 0: spikes are sparse and clustered, so
// every sample's nonzero patterns of each block are first listed once, as table indices
// ((g - g0) << 8 | pattern), padded with zeros (index 0 also reads a zero vector) to a
// multiple of four, and only those are added, in four interleaved sums.
// Every sample's nonzero row patterns, by block of at most max_groups groups, as table
// indices ((g - g0) << 8 | pattern), padded with zeros to a multiple of four (index 0 reads
// a zero table entry, or adds to a bin that is never read): a sample's list of block bb is
// ent[n * cap + cap_at[bb] ...], len[n * blocks + bb] long.
struct RowLists {
  int64_t G, GB, blocks, cap;
  std::vector<int64_t> cap_at;
  std::vector<uint16_t> ent;
  std::vector<int32_t> len;

  RowLists(int64_t N, int64_t K, int64_t max_groups)
      : G((K + RB - 1) / RB),
        // (at most 256 groups a block: the indices are 16 bits)
        GB(even_block(G, std::min<int64_t>(max_groups, 256))),
        blocks((G + GB - 1) / GB),
        cap_at(blocks + 1, 0) {
    for (int64_t bb = 0; bb < blocks; ++bb)
      cap_at[bb + 1] = cap_at[bb] + (std::min(GB, G - bb * GB) + 3) / 4 * 4;
    cap = cap_at[blocks];
    ent.resize(N * cap);
    len.resize(N * blocks);
  }
  void build(const uint8_t* rows, int64_t n) {
    for (int64_t bb = 0; bb < blocks; ++bb) {
      const int64_t g0 = bb * GB, gn = std::min(GB, G - g0);
      len[n * blocks + bb] =
          static_cast<int32_t>(list_nonzero<RB>(rows + n * G + g0, gn, &ent[n * cap + cap_at[bb]]));
    }
  }
  const uint16_t* list(int64_t n, int64_t bb) const { return &ent[n * cap + cap_at[bb]]; }
  int64_t size(int64_t n, int64_t bb) const { return len[n * blocks + bb]; }
};

template <class Out>
void forward(int64_t N, int64_t K, int64_t O, const uint8_t* rows, const float* w,
             const float* b, const Out& out, int64_t max_groups, int64_t threads) {
  const int64_t tiles = (O + OT - 1) / OT;
  RowLists lists(N, K, max_groups);
  const int64_t G = lists.G, GB = lists.GB, blocks = lists.blocks;
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) lists.build(rows, n);
    std::vector<v16> table(GB << RB), ys(N);
    std::vector<float> wt(RB * GB * OT);
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t o0 = tile * OT, on = std::min(OT, O - o0);
      for (int64_t bb = 0; bb < blocks; ++bb) {
        const int64_t g0 = bb * GB, gn = std::min(GB, G - g0), k0 = RB * g0;
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
        const v16* tb = table.data();
        for (int64_t n = 0; n < N; ++n) {
          const v16 sum = sum_entries(tb, lists.list(n, bb), lists.size(n, bb));
          ys[n] = (bb == 0 ? start : ys[n]) + sum;
        }
      }
      out.write(N, O, o0, on, ys);
    }
  }
}

}  // namespace

extern "C" {

// y = x @ w.T + b from the row patterns; y is [N, O] (P == 0) or [N / P, O, P] (a
// convolution's NCHW output, the samples being its images' P output positions in turn).
void sfb_forward(int64_t N, int64_t K, int64_t O, int64_t P, const uint8_t* rows,
                 const float* w, const float* b, float* y, int64_t max_groups,
                 int64_t threads) {
  if (P == 0) {
    forward(N, K, O, rows, w, b, RowsOut{y}, max_groups, threads);
  } else {
    forward(N, K, O, rows, w, b, PlanesOut{y, P}, max_groups, threads);
  }
}

// The same convolution (samples: its images' OH*OW output positions in turn), max-pooled in
// 2x2 windows: y [N / (OH*OW), O, OH / 2, OW / 2] and idx, each window's winner (uint8,
// row-major in the window), as spikeforge/pool_native.py's forward_indexed gives them.
// The convolution's output is never formed. OH, OW >= 2.
void sfb_forward_pooled(int64_t N, int64_t K, int64_t O, int64_t OH, int64_t OW,
                        const uint8_t* rows, const float* w, const float* b, float* y,
                        uint8_t* idx, int64_t max_groups, int64_t threads) {
  forward(N, K, O, rows, w, b, PooledOut{y, idx, OH, OW}, max_groups, threads);
}

}  // extern "C"

namespace {

// Where the binned weight gradient (weight_grad_rows) reads the output gradient, and how a
// tile of it becomes one vector (16 outputs) per sample.
struct GradSource {
  const float* gy;       // [N, O] (P == 0) or [N / P, O, P]; pooled: [N / P, O, PH, PW]
  int64_t P = 0;         // positions per image (0: plain rows)
  const uint8_t* idx;    // pooled: the 2x2 window winners (row-major), else null
  int64_t OW = 0, PH = 0, PW = 0;

  // the tile's gradient, one vector a sample (only used when P > 0); 16 positions (planes)
  // or windows (pooled) at a time by a transposition in registers, the rest one by one
  void fill(int64_t N, int64_t O, int64_t o0, int64_t on, std::vector<v16>& strip) const {
    typedef int32_t i16v __attribute__((vector_size(64)));
    const int64_t images = N / P, cells = idx == nullptr ? P : PH * PW;
    const int64_t C16 = cells / 16 * 16;
    // the tile's values of one image, one vector (16 channels) per position or window
    std::vector<v16> g(cells);
    std::vector<i16v> q(idx == nullptr ? 0 : cells);
    for (int64_t img = 0; img < images; ++img) {
      const int64_t base = (img * O + o0) * cells;
      for (int64_t c0 = 0; c0 < C16; c0 += 16) {
        v16 m[16] = {}, w[16] = {};
        for (int64_t i = 0; i < on; ++i) {
          m[i] = load16(gy + base + i * cells + c0);
          if (idx != nullptr) {
            typedef uint8_t u8x16 __attribute__((vector_size(16)));
            u8x16 b;
            std::memcpy(&b, idx + base + i * cells + c0, 16);
            const i16v wide = __builtin_convertvector(b, i16v);
            w[i] = reinterpret_cast<const v16&>(wide);
          }
        }
        vec16::transpose16(m);
        for (int t = 0; t < 16; ++t) g[c0 + t] = m[t];
        if (idx != nullptr) {
          vec16::transpose16(w);
          for (int t = 0; t < 16; ++t) q[c0 + t] = reinterpret_cast<const i16v&>(w[t]);
        }
      }
      for (int64_t c = C16; c < cells; ++c) {
        g[c] = v16{};
        if (idx != nullptr) q[c] = i16v{};
        for (int64_t i = 0; i < on; ++i) {
          g[c][i] = gy[base + i * cells + c];
          if (idx != nullptr) q[c][i] = idx[base + i * cells + c];
        }
      }
      v16* dst = &strip[img * P];
      if (idx == nullptr) {
        std::copy(g.begin(), g.end(), dst);
        continue;
      }
      // pooled: each window's gradient goes to its winner, the rest is 0 (also the last
      // row or column of an odd size, which no window covers)
      const int64_t OH = P / OW;
      if (OH % 2 || OW % 2) std::fill(dst, dst + P, v16{});
      for (int64_t py = 0; py < PH; ++py)
        for (int64_t px = 0; px < PW; ++px) {
          const int64_t c = py * PW + px, p = 2 * py * OW + 2 * px;
          const v16 gc = g[c];
          const i16v qc = q[c];
          dst[p] = (qc == 0) ? gc : v16{};
          dst[p + 1] = (qc == 1) ? gc : v16{};
          dst[p + OW] = (qc == 2) ? gc : v16{};
          dst[p + OW + 1] = (qc == 3) ? gc : v16{};
        }
    }
  }
};

// gw[o0 .. o0 + on, :] from a tile's gradient sums gwt (K vectors of 16 outputs).
inline void store_tile(const std::vector<v16>& gwt, int64_t K, int64_t o0, int64_t on,
                       float* gw) {
  float tmp[16];
  for (int64_t k = 0; k < K; ++k) {
    store16(tmp, gwt[k]);
    for (int64_t i = 0; i < on; ++i) gw[(o0 + i) * K + k] = tmp[i];
  }
}

// gw = gy.T @ x from the column patterns (a linear layer: gy [N, O]). Per tile of 16
// outputs and block of at most
// max_quads groups of four samples, the block's tables (16 vectors a group) stay in L1/L2
// and every input adds its block sum to the tile's gradient sums gwt (K vectors, in L2).
// As in the forward, only nonzero patterns are added: every input's nonzero patterns of
// each block are listed once for all tiles (indices (h - h0) << 4 | pattern).
void weight_grad(int64_t N, int64_t K, int64_t O, const uint8_t* cols, const float* gy,
                 float* gw, int64_t max_quads, int64_t threads) {
  const int64_t H = (N + CB - 1) / CB, tiles = (O + OT - 1) / OT;
  // (at most 4096 quads a block: the lists' indices are 16 bits)
  const int64_t HB = even_block(H, std::min<int64_t>(max_quads, 4096));
  const int64_t blocks = (H + HB - 1) / HB;
  // input k's list of block bb: ent[(bb * K + k) * cap ...], len[bb * K + k] long (read
  // in that order; written input by input, each reading its patterns in order)
  const int64_t cap = (HB + 3) / 4 * 4;
  std::vector<uint16_t> ent(blocks * K * cap);
  std::vector<int32_t> len(blocks * K);
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t bb = 0; bb < blocks; ++bb) {
        const int64_t h0 = bb * HB, hn = std::min(HB, H - h0);
        len[bb * K + k] = static_cast<int32_t>(
            list_nonzero<CB>(cols + k * H + h0, hn, &ent[(bb * K + k) * cap]));
      }
    std::vector<v16> table(HB << CB), gwt(K);
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t o0 = tile * OT, on = std::min(OT, O - o0);
      std::fill(gwt.begin(), gwt.end(), v16{});
      for (int64_t bb = 0; bb < blocks; ++bb) {
        const int64_t h0 = bb * HB, hn = std::min(HB, H - h0);
        for (int64_t h = 0; h < hn; ++h) {
          v16 r[CB];
          for (int64_t j = 0; j < CB; ++j) {
            const int64_t n = CB * (h0 + h) + j;
            r[j] = (n >= N) ? v16{} : load_part(gy + n * O + o0, on);
          }
          subset_sums(r, CB, &table[h << CB]);
        }
        for (int64_t k = 0; k < K; ++k)
          gwt[k] += sum_entries(table.data(), &ent[(bb * K + k) * cap], len[bb * K + k]);
      }
      store_tile(gwt, K, o0, on, gw);
    }
  }
}

// gw = gy.T @ x from the row patterns, by binning (the forward's method turned around):
// per tile of 16 outputs and block of groups, every sample adds its gradient vector to the
// bin of each of its nonzero patterns, T_g[pattern] (the lists of RowLists; a sample's
// patterns lie in distinct groups, so its additions are independent); then input 8g + j's
// gradient is the sum of group g's bins whose pattern has bit j. No column patterns are
// needed: the forward's row patterns are all the backward keeps.
void weight_grad_rows(int64_t N, int64_t K, int64_t O, const uint8_t* rows,
                      const GradSource& src, float* gw, int64_t max_groups, int64_t threads) {
  const int64_t tiles = (O + OT - 1) / OT;
  RowLists lists(N, K, max_groups);
  const int64_t G = lists.G, GB = lists.GB;
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) lists.build(rows, n);
    std::vector<v16> bins(GB << RB), gwt(K), gys(src.P > 0 ? N : 0);
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t o0 = tile * OT, on = std::min(OT, O - o0);
      if (src.P > 0) src.fill(N, O, o0, on, gys);
      for (int64_t bb = 0; bb < lists.blocks; ++bb) {
        const int64_t g0 = bb * GB, gn = std::min(GB, G - g0);
        std::fill(bins.begin(), bins.begin() + (gn << RB), v16{});
        for (int64_t n = 0; n < N; ++n) {
          const v16 g = (src.P > 0) ? gys[n] : load_part(src.gy + n * O + o0, on);
          const uint16_t* e = lists.list(n, bb);
          const int64_t m = lists.size(n, bb);
          for (int64_t t = 0; t < m; ++t) bins[e[t]] += g;
        }
        for (int64_t g = 0; g < gn; ++g) {
          const v16* bg = &bins[g << RB];
          for (int64_t j = 0; j < RB && RB * (g0 + g) + j < K; ++j) {
            v16 sum{};
            for (int64_t hi = 0; hi < (256 >> (j + 1)); ++hi)
              for (int64_t lo = 0; lo < (1 << j); ++lo)
                sum += bg[(hi << (j + 1)) | (1 << j) | lo];
            gwt[RB * (g0 + g) + j] = sum;
          }
        }
      }
      store_tile(gwt, K, o0, on, gw);
    }
  }
}

}  // namespace

extern "C" {

// A linear layer's weight gradient from the column patterns; gy is [N, O].
void sfb_backward_weight(int64_t N, int64_t K, int64_t O, const uint8_t* cols,
                         const float* gy, float* gw, int64_t max_quads, int64_t threads) {
  weight_grad(N, K, O, cols, gy, gw, max_quads, threads);
}

// The weight gradient from the row patterns instead (weight_grad_rows); gy is [N, O]
// (P == 0) or [N / P, O, P] (a convolution's NCHW output gradient, P positions per image).
void sfb_backward_weight_rows(int64_t N, int64_t K, int64_t O, int64_t P, const uint8_t* rows,
                              const float* gy, float* gw, int64_t max_groups,
                              int64_t threads) {
  GradSource src{gy, P, nullptr};
  weight_grad_rows(N, K, O, rows, src, gw, max_groups, threads);
}

// The weight gradient of a convolution followed by a 2x2 max pool, from the row patterns, the
// pooled gradient gp [N / (OH * OW), O, PH, PW] and its windows' winners idx (same shape).
void sfb_backward_weight_rows_pooled(int64_t N, int64_t K, int64_t O, int64_t OH, int64_t OW,
                                     int64_t PH, int64_t PW, const uint8_t* rows,
                                     const float* gp, const uint8_t* idx, float* gw,
                                     int64_t max_groups, int64_t threads) {
  GradSource src{gp, OH * OW, idx, OW, PH, PW};
  weight_grad_rows(N, K, O, rows, src, gw, max_groups, threads);
}

}  // extern "C"
