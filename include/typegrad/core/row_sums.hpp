#pragma once
// Sums and maxima along one row of N values f(0) .. f(N - 1) inside a kernel's loop body (LayerNorm, softmax,
// cross-entropy): element k of the row's whole blocks of `lanes` goes to partial result k % lanes, the tail after
// them to the first, and the partial results are then combined pairwise (part[l] += part[l + 8], then + 4, + 2, + 1).
// Sixteen independent chains, one 64-byte vector of floats, where one chain of dependent adds waits an add's latency
// per element (a LayerNorm row of 256: 4 chains x 256 x 4 cycles); the pairwise combination is four dependent
// vector steps where combining in order took fifteen dependent adds (causal attention over the GPT's [8, 128, 768],
// forward and backward, Intel 0xCF: 3.55 -> 3.47 ms). The order is fixed by N alone: the same bits on every run,
// thread count and backend.
#include <cstddef>
#include <limits>

#include "typegrad/core/config.hpp"
#include "typegrad/core/fast_math.hpp"

namespace tg::detail {
inline constexpr std::size_t sum_lanes = 16;

// the partial results pairwise into part[0]: part[l] op= part[l + w] for w = 8, 4, 2, 1
template <class T, class Op>
TG_HD TG_INLINE void combine(T (&part)[sum_lanes], Op op) {
  for (std::size_t w = sum_lanes / 2; w > 0; w /= 2)
    for (std::size_t l = 0; l < w; ++l) op(part[l], part[l + w]);
}

// s = sum_k f(k)
template <class T, std::size_t N, class F>
TG_HD TG_INLINE T row_sum(F&& f) {
  constexpr std::size_t whole = N / sum_lanes * sum_lanes;
  T part[sum_lanes];
  for (std::size_t l = 0; l < sum_lanes; ++l) part[l] = T(0);
  for (std::size_t k0 = 0; k0 < whole; k0 += sum_lanes) {
    // clang-format off
    TG_LANES_LOOP
    for (std::size_t l = 0; l < sum_lanes; ++l) part[l] += f(k0 + l);
    // clang-format on
  }
  if constexpr (whole < N)  // no empty tail loop: GCC warns of it (-Waggressive-loop-optimizations)
    for (std::size_t k = whole; k < N; ++k) part[0] += f(k);
  combine(part, [](T& a, T b) { a += b; });
  return part[0];
}

// a = sum_k f(k).first, b = sum_k f(k).second in one pass (f returns a pair-like {first, second})
template <class T, std::size_t N, class F>
TG_HD TG_INLINE void row_sums(F&& f, T& a, T& b) {
  constexpr std::size_t whole = N / sum_lanes * sum_lanes;
  T pa[sum_lanes], pb[sum_lanes];
  for (std::size_t l = 0; l < sum_lanes; ++l) pa[l] = pb[l] = T(0);
  for (std::size_t k0 = 0; k0 < whole; k0 += sum_lanes) {
    // clang-format off
    TG_LANES_LOOP
    for (std::size_t l = 0; l < sum_lanes; ++l) {
      const auto v = f(k0 + l);
      pa[l] += v.first;
      pb[l] += v.second;
    }
    // clang-format on
  }
  if constexpr (whole < N)
    for (std::size_t k = whole; k < N; ++k) {
      const auto v = f(k);
      pa[0] += v.first;
      pb[0] += v.second;
    }
  combine(pa, [](T& x, T y) { x += y; });
  combine(pb, [](T& x, T y) { x += y; });
  a = pa[0], b = pb[0];
}

// max_k f(k) in the same partial results; NaN never wins (a comparison with NaN is false), as in one chain
template <class T, std::size_t N, class F>
TG_HD TG_INLINE T row_max(F&& f) {
  constexpr std::size_t whole = N / sum_lanes * sum_lanes;
  T part[sum_lanes];
  for (std::size_t l = 0; l < sum_lanes; ++l) part[l] = -std::numeric_limits<T>::infinity();
  // counted in blocks, not by k0 += sum_lanes up to `whole`: with that form g++ 12 warned "iteration
  // 288230376151711744 invokes undefined behavior [-Waggressive-loop-optimizations]" (no location; an error with
  // -Werror) for N = 96 inside causal attention's rows (tests/primitives/attention_warnings_probe.cpp)
  for (std::size_t b = 0; b < whole / sum_lanes; ++b) {
    const std::size_t k0 = b * sum_lanes;
    // clang-format off
    TG_LANES_LOOP
    for (std::size_t l = 0; l < sum_lanes; ++l) {
      const T v = f(k0 + l);
      part[l] = math::select_of(v > part[l], v, part[l]);
    }
    // clang-format on
  }
  if constexpr (whole < N)
    for (std::size_t k = whole; k < N; ++k) {
      const T v = f(k);
      part[0] = math::select_of(v > part[0], v, part[0]);
    }
  combine(part, [](T& a, T b) { a = b > a ? b : a; });
  return part[0];
}

template <class T>
struct two_values {
  T first, second;
};
}  // namespace tg::detail
