// Sixteen-float vectors (one AVX-512 register, two AVX2 ones) for the CPU kernels, and the
// transposition of a 16 x 16 block of them.
#pragma once

#include <cstring>

namespace vec16 {

typedef float v16 __attribute__((vector_size(64)));

inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

// One step of the transposition: for every pair of rows r, r ^ S (bit S of r clear), swap
// the elements (r, c) and (r ^ S, c ^ S) whose column c has bit S set.
template <int S>
inline void swap_blocks(v16* m) {
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) {
    if (r & S) continue;
    const v16 a = m[r], b = m[r ^ S];
    if constexpr (S == 1) {
      m[r] = __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
      m[r ^ S] = __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    } else if constexpr (S == 2) {
      m[r] = __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
      m[r ^ S] = __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    } else if constexpr (S == 4) {
      m[r] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
      m[r ^ S] = __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    } else {
      m[r] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      m[r ^ S] = __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    }
  }
}

// m[r][c] becomes m[c][r]: each bit in which r and c differ is exchanged by one step.
inline void transpose16(v16* m) {
  swap_blocks<1>(m);
  swap_blocks<2>(m);
  swap_blocks<4>(m);
  swap_blocks<8>(m);
}

}  // namespace vec16
