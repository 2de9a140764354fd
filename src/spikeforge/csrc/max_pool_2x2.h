// The 2x2 max-pooling rule shared by pool_cpu.cpp and conv_pool_cpu.cpp.
//
// torch's rule (cpu_max_pool): positions in row-major order 0 = (0, 0), 1 = (0, 1),
// 2 = (1, 0), 3 = (1, 1); start from the first value and take a later one when
// `v > max || isnan(v)`: the first maximum wins, a NaN always wins (the last NaN).
#pragma once
#include <cstdint>
#include <type_traits>

namespace spikeforge_pool {

// Index lanes as wide as F, so that the selects of value and index vectorise together.
template <typename F>
using Lane = std::conditional_t<sizeof(F) == 4, int32_t, int64_t>;

template <typename F>
inline void take(F v, Lane<F> p, F& m, Lane<F>& k) {
  const bool t = (v > m) | (v != v);
  m = t ? v : m;
  k = t ? p : k;
}

// K windows whose top rows are top[2k], top[2k + 1] and bottom rows bot[2k], bot[2k + 1]
// (flat buffers: rows of any length laid end to end): out[k] is the window's maximum and
// pos[k] the winner's position. One long loop with stride-2 loads, so it vectorises.
template <typename F>
inline void pool_flat(const F* __restrict top, const F* __restrict bot, int64_t K,
                      F* __restrict out, Lane<F>* __restrict pos) {
#pragma omp simd
  for (int64_t k = 0; k < K; ++k) {
    F m = top[2 * k];
    Lane<F> p = 0;
    take<F>(top[2 * k + 1], 1, m, p);
    take<F>(bot[2 * k], 2, m, p);
    take<F>(bot[2 * k + 1], 3, m, p);
    out[k] = m;
    pos[k] = p;
  }
}

}  // namespace spikeforge_pool
