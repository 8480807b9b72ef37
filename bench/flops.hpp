#pragma once
// What bench/compare's GFLOP/s and percent of peak are counted from: the algorithmic floating-point operations of
// a step's products (2 per multiply-add), from the shapes. Element-wise work, reductions, transposes and
// recomputation (the LSTM's BPTT recompute, checkpointing) are not counted, so a step that spends time there shows
// a lower percentage. The machine's peak: tgbench::fma_peak_gflops() below.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace tgbench::flops {
// y = x W^T, `rows` rows of `in` -> `out`: the forward product only
constexpr double dense_forward(double rows, double in, double out) { return 2 * rows * in * out; }
// ... in a training step: forward, the weight gradient dW = dy^T x, and the input gradient dx = dy W unless the
// input needs none (the first layer on the data)
constexpr double dense(double rows, double in, double out, bool input_grad = true) {
  return dense_forward(rows, in, out) * (input_grad ? 3 : 2);
}
// a k x k convolution, cin -> cout channels, ho x wo outputs per image: a dense layer over the im2col columns
constexpr double conv(double images, double cin, double cout, double k, double ho, double wo, bool input_grad = true) {
  return dense(images * ho * wo, cin * k * k, cout, input_grad);
}
// softmax(q k^T / sqrt(d)) v over `groups` (batch x heads) of t x d: 2 products forward, 4 backward
constexpr double attention(double groups, double t, double d) { return 6 * 2 * groups * t * t * d; }
}  // namespace tgbench::flops

namespace tgbench {
namespace detail {
#if defined(__AVX512F__)
using fma_vector = __m512;
constexpr int fma_lanes = 16;
constexpr const char* fma_unit = "AVX-512 FMA, 512-bit";
inline fma_vector fma_splat(float x) { return _mm512_set1_ps(x); }
inline fma_vector fma_step(fma_vector a, fma_vector b, fma_vector c) { return _mm512_fmadd_ps(a, b, c); }
// stored and summed rather than _mm512_reduce_add_ps, which g++ 12 flags -Wmaybe-uninitialized inside its own header
inline float fma_sum(fma_vector v) {
  alignas(64) float f[16];
  _mm512_store_ps(f, v);
  float s = 0;
  for (float x : f) s += x;
  return s;
}
#elif defined(__FMA__)
using fma_vector = __m256;
constexpr int fma_lanes = 8;
constexpr const char* fma_unit = "AVX2 FMA, 256-bit";
inline fma_vector fma_splat(float x) { return _mm256_set1_ps(x); }
inline fma_vector fma_step(fma_vector a, fma_vector b, fma_vector c) { return _mm256_fmadd_ps(a, b, c); }
inline float fma_sum(fma_vector v) {
  alignas(32) float f[8];
  _mm256_store_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#else  // SSE: a multiply and an add count as one multiply-add
using fma_vector = __m128;
constexpr int fma_lanes = 4;
constexpr const char* fma_unit = "SSE multiply + add, 128-bit";
inline fma_vector fma_splat(float x) { return _mm_set1_ps(x); }
inline fma_vector fma_step(fma_vector a, fma_vector b, fma_vector c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline float fma_sum(fma_vector v) {
  alignas(16) float f[4];
  _mm_store_ps(f, v);
  return f[0] + f[1] + f[2] + f[3];
}
#endif
}  // namespace detail

// The widest float vector unit this build targets (-march=native) and its single-core peak in GFLOP/s: 12
// independent chains of vector multiply-adds (enough to cover the latency of 2 FMA pipes), median of 7 runs.
struct Peak {
  double gflops = 0;
  const char* unit = detail::fma_unit;
};
inline Peak fma_peak_gflops() {
  constexpr int chains = 12;
  constexpr long iterations = 10'000'000;
  std::vector<double> runs;
  volatile float sink = 0;
  for (int r = 0; r < 7; ++r) {
    detail::fma_vector acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = detail::fma_splat(1.0f + float(c) * 1e-3f);
    const auto m = detail::fma_splat(sink + 0.999999f), a = detail::fma_splat(1e-7f);
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i)
      for (int c = 0; c < chains; ++c) acc[c] = detail::fma_step(acc[c], m, a);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    float total = 0;
    for (int c = 0; c < chains; ++c) total += detail::fma_sum(acc[c]);
    sink = sink + total * 1e-30f;  // keeps the chains alive
    runs.push_back(2.0 * chains * detail::fma_lanes * double(iterations) / s / 1e9);
  }
  std::sort(runs.begin(), runs.end());
  return {runs[runs.size() / 2]};
}

// "model name" of /proc/cpuinfo (empty where there is none)
inline std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return {};
}
}  // namespace tgbench
