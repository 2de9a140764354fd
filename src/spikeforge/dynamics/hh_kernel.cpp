// Fused exponential-Euler time loop for Hodgkin-Huxley neurons (spikeforge fast path).
//
// The same maths as spikeforge.dynamics.hodgkin_huxley (hh_rhs, hh_linear) and
// integrators.exp_euler_step, written once more in C++ so that the whole time loop runs
// without returning to Python: neurons are split into blocks of BLOCK that stay in L1
// cache; the time loop runs inside each block; the inner loop over a block is vectorised
// (#pragma omp simd) and blocks run in parallel (OpenMP). Spikes are upward crossings of
// the threshold, linearly interpolated within the step, exactly as in
// spikeforge.dynamics.simulation. Tested against the pure-torch path. Plain C ABI (no
// torch headers) so that it compiles in about a second; loaded with ctypes by hh_fast.py.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t BLOCK = 256;

template <typename T>
inline T phi1(T z) {
  // (exp(z) - 1) / z with its limit 1 at z = 0, as integrators.phi1.
  const T zs = std::fabs(z) < T(1e-4) ? T(1) : z;
  return std::fabs(z) < T(1e-4) ? T(1) + z / T(2) + z * z / T(6) : (std::exp(zs) - T(1)) / zs;
}

template <typename T>
inline T x_over_expm1(T x, T k) {
  // x / (1 - exp(-x / k)), limit k at x = 0 (removable singularity of alpha_m, alpha_n).
  return k / phi1(-x / k);
}

template <typename T>
void run_block(T* v, T* m, T* h, T* n, const T* current, int64_t stride_t, int64_t steps,
               int64_t count, const std::vector<double>& p, T dt,
               std::vector<std::vector<double>>& spikes, int64_t first, int64_t* diverged) {
  const T c_m = p[0], g_na = p[1], g_k = p[2], g_l = p[3], e_na = p[4], e_k = p[5],
          e_l = p[6], thr = p[7];
  T cross[BLOCK];
  for (int64_t k = 0; k < steps; ++k) {
    const T* i_k = current + k * stride_t;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t j = 0; j < count; ++j) {
      const T vj = v[j], mj = m[j], hj = h[j], nj = n[j];
      const T am = T(0.1) * x_over_expm1(vj + T(40), T(10));
      const T bm = T(4) * std::exp(-(vj + T(65)) / T(18));
      const T ah = T(0.07) * std::exp(-(vj + T(65)) / T(20));
      const T bh = T(1) / (T(1) + std::exp(-(vj + T(35)) / T(10)));
      const T an = T(0.01) * x_over_expm1(vj + T(55), T(10));
      const T bn = T(0.125) * std::exp(-(vj + T(65)) / T(80));
      const T n2 = nj * nj;
      const T gna = g_na * mj * mj * mj * hj, gk = g_k * n2 * n2;
      const T dv = (i_k[j] - (gna * (vj - e_na) + gk * (vj - e_k) + g_l * (vj - e_l))) / c_m;
      const T av = -(gna + gk + g_l) / c_m;
      const T vn = vj + dt * phi1(av * dt) * dv;
      const T amh = -(am + bm), ahh = -(ah + bh), anh = -(an + bn);
      m[j] = mj + dt * phi1(amh * dt) * (am * (T(1) - mj) - bm * mj);
      h[j] = hj + dt * phi1(ahh * dt) * (ah * (T(1) - hj) - bh * hj);
      n[j] = nj + dt * phi1(anh * dt) * (an * (T(1) - nj) - bn * nj);
      const bool fired = (vj < thr) && (vn >= thr);
      cross[j] = fired ? (thr - vj) / (vn - vj) : T(-1);
      v[j] = vn;
      bad |= !(std::fabs(vn) <= T(1e6));
    }
    for (int64_t j = 0; j < count; ++j) {
      if (cross[j] >= T(0)) {
        spikes[first + j].push_back((double(k) + double(cross[j])) * double(dt));
      }
    }
    if (bad && *diverged < 0) {
      *diverged = k;
      return;
    }
  }
}

struct Result {
  std::vector<std::vector<double>> spikes;
  int64_t first_bad = -1;
};

template <typename T>
Result* run(T* v, T* m, T* h, T* n, const T* current, int64_t stride_t, int64_t batch,
            int64_t steps, double dt, const double* params, int threads) {
  auto* res = new Result();
  res->spikes.resize(batch);
  const std::vector<double> p(params, params + 8);
  const int64_t n_blocks = (batch + BLOCK - 1) / BLOCK;
  std::vector<int64_t> diverged(n_blocks, -1);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t first = b * BLOCK;
    const int64_t count = std::min(BLOCK, batch - first);
    run_block<T>(v + first, m + first, h + first, n + first, current + first, stride_t, steps,
                 count, p, T(dt), res->spikes, first, &diverged[b]);
  }
  for (auto d : diverged) {
    if (d >= 0 && (res->first_bad < 0 || d < res->first_bad)) res->first_bad = d;
  }
  return res;
}

}  // namespace

extern "C" {

// v, m, h, n: [batch] state, updated in place; current: element (k, j) at
// current[k * stride_t + j]; params: c_m, g_na, g_k, g_l, e_na, e_k, e_l, threshold.
void* hh_exp_euler_f64(double* v, double* m, double* h, double* n, const double* current,
                       int64_t stride_t, int64_t batch, int64_t steps, double dt,
                       const double* params, int threads) {
  return run<double>(v, m, h, n, current, stride_t, batch, steps, dt, params, threads);
}

void* hh_exp_euler_f32(float* v, float* m, float* h, float* n, const float* current,
                       int64_t stride_t, int64_t batch, int64_t steps, double dt,
                       const double* params, int threads) {
  return run<float>(v, m, h, n, current, stride_t, batch, steps, dt, params, threads);
}

int64_t hh_first_bad(void* res) { return static_cast<Result*>(res)->first_bad; }

// counts: [batch] spikes per neuron; returns the total.
int64_t hh_spike_counts(void* res, int64_t* counts) {
  auto* r = static_cast<Result*>(res);
  int64_t total = 0;
  for (size_t b = 0; b < r->spikes.size(); ++b) {
    counts[b] = static_cast<int64_t>(r->spikes[b].size());
    total += counts[b];
  }
  return total;
}

// out: [total] spike times (ms), neuron-major.
void hh_spike_times(void* res, double* out) {
  for (const auto& s : static_cast<Result*>(res)->spikes) out = std::copy(s.begin(), s.end(), out);
}

void hh_free(void* res) { delete static_cast<Result*>(res); }

}  // extern "C"
