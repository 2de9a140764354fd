// The input gradient of a convolution followed by a 2x2 max pool, straight from the pooled
// gradient, for the CPU (see spikeforge/pooled_conv_grad_native.py).
//
// y = max_pool2d(conv2d(x, w, stride 1, padding (ph, pw), dilation 1), 2): only the winner
// of each pooling window has a gradient, so the convolution's output gradient is three
// quarters zeros, and a dense transposed convolution spends three quarters of its work on
// them. Here every pooled output g = gp[n, o, py, px] adds g * w[o] at its winner's place:
//   gx_pad[n, c, y0 + i, x0 + j] += g * w[o, c, i, j],
//   (y0, x0) = (2 py + idx / 2, 2 px + idx % 2)   (idx: the winner in its window, row-major)
// Per pooling window, the output channels are grouped by their winner's position. The image
// is summed in a per-thread, channels-last, padded buffer (exactly C floats a pixel), so
// the KW x C values of one kernel row at one place are contiguous, as are the weights of
// that kernel row, reordered (o, i) -> (j, c). The kernel rows are taken one at a time:
// for row i, every window's every group forms sum_o g_o * w[o, :, i, :] in RV vectors of 16
// floats held in registers and adds them once to the buffer's row y0 + i. One kernel row
// of all output channels (O * RV * 64 bytes: 16 KiB for 64 channels of 12 x 5) stays in L1
// with the image buffer, where all KH rows at once would be read from L2.
// Layout: gp and idx [N, O, PH, PW], w [O, C, KH, KW], gx [N, C, H, W].
// Images are split between threads, each summed in a fixed order: results do not depend on
// the number of threads. Compiled with -ffp-contract=fast (fused multiply-adds): equal to
// torch's to rounding, exactly when the products and sums are exact.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include <omp.h>

#include "vec16.h"

namespace {

using vec16::load16;
using vec16::store16;
using vec16::v16;

// row[t] += sum_m gval[m] * wr[chan[m]][t] for t < rv vectors (RV_ > 0: rv known at compile
// time, the sums in registers, even and odd m in two sets of sums so that twice as many
// fused multiply-adds are in flight)
template <int RV_>
void group_add(int64_t rv, const float* wr, const int32_t* chan, const float* gval,
               int64_t count, float* row) {
  if constexpr (RV_ > 0) {
    v16 s[RV_], r[RV_];
#pragma GCC unroll 16
    for (int t = 0; t < RV_; ++t) s[t] = r[t] = v16{};
    int64_t m = 0;
    for (; m + 1 < count; m += 2) {
      const v16 gs = gval[m] - v16{}, gr = gval[m + 1] - v16{};  // broadcasts
      const float* ws = wr + static_cast<int64_t>(chan[m]) * RV_ * 16;
      const float* wt = wr + static_cast<int64_t>(chan[m + 1]) * RV_ * 16;
#pragma GCC unroll 16
      for (int t = 0; t < RV_; ++t) {
        s[t] += gs * load16(ws + 16 * t);
        r[t] += gr * load16(wt + 16 * t);
      }
    }
    if (m < count) {
      const v16 gs = gval[m] - v16{};
      const float* ws = wr + static_cast<int64_t>(chan[m]) * RV_ * 16;
#pragma GCC unroll 16
      for (int t = 0; t < RV_; ++t) s[t] += gs * load16(ws + 16 * t);
    }
#pragma GCC unroll 16
    for (int t = 0; t < RV_; ++t) store16(row + 16 * t, load16(row + 16 * t) + (s[t] + r[t]));
  } else {
    for (int64_t t = 0; t < rv; ++t) {
      v16 s{};
      for (int64_t m = 0; m < count; ++m)
        s += (gval[m] - v16{}) * load16(wr + static_cast<int64_t>(chan[m]) * rv * 16 + 16 * t);
      store16(row + 16 * t, load16(row + 16 * t) + s);
    }
  }
}

// Every kernel row i of one image: each window's group of output channels with the same
// winner adds its sum to the buffer row that the winner and i touch. Windows are taken in
// column-major order, one winner position at a time: consecutive updates of the buffer then
// lie two rows apart and never overlap (an overlapping load right after a store would wait
// for it).
template <int RV_>
void add_rows(int64_t KH, int64_t O, int64_t PH, int64_t PW, int64_t Wp, int64_t C, int64_t RV,
              const float* wr, const std::vector<int32_t>& chan, const std::vector<float>& gval,
              const std::vector<int32_t>& count, std::vector<float>& acc) {
  for (int64_t i = 0; i < KH; ++i) {
    const float* wi = wr + i * O * RV * 16;
    for (int q = 0; q < 4; ++q)
      for (int64_t px = 0; px < PW; ++px)
        for (int64_t py = 0; py < PH; ++py) {
          const int64_t cell = py * PW + px;
          const int32_t* cnt = &count[cell * 4];
          const int64_t m = cnt[q];
          if (m == 0) continue;
          int64_t first = 0;
          for (int r = 0; r < q; ++r) first += cnt[r];
          const int64_t y0 = 2 * py + (q >> 1), x0 = 2 * px + (q & 1);
          group_add<RV_>(RV, wi, &chan[cell * O + first], &gval[cell * O + first], m,
                         &acc[((y0 + i) * Wp + x0) * C]);
        }
  }
}

}  // namespace

extern "C" {

void sfg_input_grad(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
                    int64_t KW, int64_t ph, int64_t pw, int64_t PH, int64_t PW,
                    const float* gp, const uint8_t* idx, const float* w, float* gx,
                    int64_t threads) {
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  const int64_t RV = (KW * C + 15) / 16;  // vectors of one kernel row of one output channel
  const int64_t cells = PH * PW;
  // weights by kernel row, (j, c) within it, zero-padded to whole vectors:
  // wr[((i * O + o) * RV * 16 + j * C + c] = w[o, c, i, j]
  // (64-byte aligned, so that no vector load of a weight straddles two cache lines)
  std::vector<float> wr_store(KH * O * RV * 16 + 16, 0.0f);
  float* wr = wr_store.data() + (16 - (reinterpret_cast<uintptr_t>(wr_store.data()) / 4) % 16) % 16;
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j)
          wr[(i * O + o) * RV * 16 + j * C + c] = w[((o * C + c) * KH + i) * KW + j];
#pragma omp parallel num_threads(threads)
  {
    // the padded image, channels-last; the last row's vectors may reach RV*16 - KW*C floats
    // past it (they add zeros)
    std::vector<float> acc(Hp * Wp * C + RV * 16);
    // per window: its channels grouped by winner (4 groups, sizes in count)
    std::vector<int32_t> chan(cells * O);
    std::vector<float> gval(cells * O);
    std::vector<int32_t> count(cells * 4);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      const float* gn = gp + n * O * cells;
      const uint8_t* qn = idx + n * O * cells;
      for (int64_t cell = 0; cell < cells; ++cell) {
        int32_t* cnt = &count[cell * 4];
        cnt[0] = cnt[1] = cnt[2] = cnt[3] = 0;
        for (int64_t o = 0; o < O; ++o) ++cnt[qn[o * cells + cell] & 3];
        int32_t start[4] = {0, cnt[0], cnt[0] + cnt[1], cnt[0] + cnt[1] + cnt[2]};
        int32_t* ch = &chan[cell * O];
        float* gv = &gval[cell * O];
        for (int64_t o = 0; o < O; ++o) {
          const int q = qn[o * cells + cell] & 3;
          ch[start[q]] = static_cast<int32_t>(o);
          gv[start[q]] = gn[o * cells + cell];
          ++start[q];
        }
      }
      switch (RV) {  // the kernel rows with RV known at compile time
        case 1: add_rows<1>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 2: add_rows<2>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 3: add_rows<3>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 4: add_rows<4>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 5: add_rows<5>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 6: add_rows<6>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 7: add_rows<7>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        case 8: add_rows<8>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc); break;
        default: add_rows<0>(KH, O, PH, PW, Wp, C, RV, wr, chan, gval, count, acc);
      }
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y) {
          float* out = gx + ((n * C + c) * H + y) * W;
          const float* src = &acc[((y + ph) * Wp + pw) * C + c];
          for (int64_t x = 0; x < W; ++x) out[x] = src[x * C];
        }
    }
  }
}

}  // extern "C"
