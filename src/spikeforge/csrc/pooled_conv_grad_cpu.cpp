// The input gradient of a convolution followed by a 2x2 max pool, straight from the pooled
// gradient, for the CPU (see spikeforge/pooled_conv_grad_native.py).
//
// y = max_pool2d(conv2d(x, w, stride 1, padding (ph, pw), dilation 1), 2): only the winner
// of each pooling window has a gradient, so the convolution's output gradient is three
// quarters zeros, and a dense transposed convolution spends three quarters of its work on
// them. Here every pooled output g = gp[n, o, py, px] adds g * w[o] at its winner's place:
//   gx_pad[n, c, y0 + i, x0 + j] += g * w[o, c, i, j],
//   (y0, x0) = (2 py + idx / 2, 2 px + idx % 2)   (idx: the winner in its window, row-major)
// Per pooling window, the output channels are grouped by their winner's position; each
// group's sum of g * w[o] is formed in one KH x KW set of channel vectors (16 floats) and
// added once to a per-thread, channels-last, padded image buffer in L1, which is written
// out NCHW without the padding. Layout: gp and idx [N, O, PH, PW], w [O, C, KH, KW], gx [N, C, H, W].
// Images are split between threads, each summed in a fixed order: results do not depend on
// the number of threads. Compiled with -ffp-contract=fast (fused multiply-adds): equal to
// torch's to rounding, exactly when the products and sums are exact.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include <omp.h>

namespace {

typedef float v16 __attribute__((vector_size(64)));

inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

// out[t] = sum_m gval[m] * wc[chan[m]][t], t < kk vectors; with kk known at compile time
// (KK_ > 0) the sums stay in registers (a 512-bit store costs two cycles on our CPUs).
template <int KK_>
void group_sum(int64_t kk, const float* wc, const int64_t* chan, const float* gval,
               int64_t count, v16* out) {
  if constexpr (KK_ > 0) {
    v16 s[KK_];
#pragma GCC unroll 32
    for (int t = 0; t < KK_; ++t) s[t] = v16{};
    for (int64_t m = 0; m < count; ++m) {
      const v16 gs = v16{} + gval[m];
      const float* wo = wc + chan[m] * KK_ * 16;
#pragma GCC unroll 32
      for (int t = 0; t < KK_; ++t) s[t] += gs * load16(wo + 16 * t);
    }
#pragma GCC unroll 32
    for (int t = 0; t < KK_; ++t) out[t] = s[t];
  } else {
    for (int64_t t = 0; t < kk; ++t) out[t] = v16{};
    for (int64_t m = 0; m < count; ++m) {
      const v16 gs = v16{} + gval[m];
      const float* wo = wc + chan[m] * kk * 16;
      for (int64_t t = 0; t < kk; ++t) out[t] += gs * load16(wo + 16 * t);
    }
  }
}

}  // namespace

extern "C" {

void sfg_input_grad(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
                    int64_t KW, int64_t ph, int64_t pw, int64_t PH, int64_t PW,
                    const float* gp, const uint8_t* idx, const float* w, float* gx,
                    int64_t threads) {
  const int64_t CV = (C + 15) / 16;  // channel vectors
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw, px_stride = CV * 16;
  const int64_t KK = KH * KW * CV;  // vectors of one output channel's weights
  // weights channels-last, zero-padded to whole vectors: wc[((o * KH + i) * KW + j) * CV*16 + c]
  std::vector<float> wc(O * KH * KW * px_stride, 0.0f);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j)
          wc[((o * KH + i) * KW + j) * px_stride + c] = w[((o * C + c) * KH + i) * KW + j];
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> acc(Hp * Wp * px_stride), gval(4 * O);
    std::vector<int64_t> chan(4 * O);
    std::vector<v16> sum(KK);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      const float* gn = gp + n * O * PH * PW;
      const uint8_t* qn = idx + n * O * PH * PW;
      for (int64_t cell = 0; cell < PH * PW; ++cell) {
        const int64_t py = cell / PW, px = cell % PW;
        // the channels whose window winner is each of the 4 positions
        int64_t count[4] = {0, 0, 0, 0};
        for (int64_t o = 0; o < O; ++o) {
          const int q = qn[o * PH * PW + cell] & 3;
          chan[q * O + count[q]] = o;
          gval[q * O + count[q]] = gn[o * PH * PW + cell];
          ++count[q];
        }
        for (int q = 0; q < 4; ++q) {
          if (count[q] == 0) continue;
          const int64_t y0 = 2 * py + (q >> 1), x0 = 2 * px + (q & 1);
          // sum_o g_o * w[o] for this position's channels, then one update of the image
          const int64_t* ch = &chan[q * O];
          const float* gv = &gval[q * O];
          if (KK == 25) {  // 5x5 kernels on up to 16 channels
            group_sum<25>(KK, wc.data(), ch, gv, count[q], sum.data());
          } else if (KK == 9) {  // 3x3
            group_sum<9>(KK, wc.data(), ch, gv, count[q], sum.data());
          } else {
            group_sum<0>(KK, wc.data(), ch, gv, count[q], sum.data());
          }
          for (int64_t i = 0; i < KH; ++i) {
            float* row = &acc[((y0 + i) * Wp + x0) * px_stride];
            const v16* sr = &sum[i * KW * CV];
            for (int64_t jc = 0; jc < KW * CV; ++jc)
              store16(row + 16 * jc, load16(row + 16 * jc) + sr[jc]);
          }
        }
      }
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y) {
          float* out = gx + ((n * C + c) * H + y) * W;
          const float* src = &acc[((y + ph) * Wp + pw) * px_stride + c];
          for (int64_t x = 0; x < W; ++x) out[x] = src[x * px_stride];
        }
    }
  }
}

}  // extern "C"
