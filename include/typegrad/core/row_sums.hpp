#pragma once
// Sums and maxima along one row of N values f(0) .. f(N - 1) inside a kernel's loop body (LayerNorm, softmax,
// cross-entropy): element k of the row's whole blocks of `lanes` goes to partial result k % lanes, the tail after
// them to the first, and the partial results are then combined pairwise (part[l] += part[l + 8], then + 4, + 2, + 1).
// Sixteen independent chains, one 64-byte vector of floats, where one chain of dependent adds waits an add's latency
// per element (a LayerNorm row of 256: 4 chains x 256 x 4 cycles); the pairwise combination is four dependent
// vector steps where combining in order took fifteen dependent adds (causal attention over the GPT's [8, 128, 768],
// forward and backward, Intel 0xCF: 3.55 -> 3.47 ms). The order is fixed by N alone: the same bits on every run,
// thread count and backend.
// - With GCC on the host, float partial results are combined in vector registers (halves added by lanes, as the
//   loop over l does element by element: the same bits). The loop kept them in a stack array, its scalar steps
//   each storing a value the next step loaded (cross-entropy over 64 x 96 logits, forward and backward, Intel 0xCF:
//   8.0 -> 6.6 us; causal attention as above 3.19-3.20 -> 3.11-3.13 ms).
// - A row shorter than the lanes (a classifier's 10 logits) is one chain in a scalar: the same bits as partial
//   result 0 combined with fifteen zeros (or -inf), without the array (MLP's 64 x 10 cross-entropy forward, Intel
//   0xCF: 7.5 -> 4.7 us).
#include <cstddef>
#include <limits>
#include <type_traits>

#include "typegrad/core/config.hpp"
#include "typegrad/core/fast_math.hpp"

namespace tg::detail {
inline constexpr std::size_t sum_lanes = 16;

// a op= b, on scalars or (host, GCC) vectors of lanes; by reference: a vector returned by value from a function
// changes the ABI with narrower vector units enabled (-Wpsabi)
struct add_lanes {
  template <class V>
  TG_HD TG_INLINE void operator()(V& a, const V& b) const {
    a += b;
  }
};
struct max_lanes {  // a NaN b never wins (b > a is false), as in one chain
  template <class V>
  TG_HD TG_INLINE void operator()(V& a, const V& b) const {
    a = b > a ? b : a;
  }
};

// the partial results pairwise: op(part[l], part[l + w]) for w = 8, 4, 2, 1; returns part[0]
template <class T, class Op>
TG_HD TG_INLINE T combined(T (&part)[sum_lanes], Op op) {
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
  if constexpr (std::is_same_v<T, float>) {
    typedef float lanes16 __attribute__((vector_size(64), aligned(4), may_alias));
    typedef float lanes8 __attribute__((vector_size(32)));
    typedef float lanes4 __attribute__((vector_size(16)));
    const lanes16 v = *reinterpret_cast<const lanes16*>(part);
    lanes8 v8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
    op(v8, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
    lanes4 v4 = __builtin_shufflevector(v8, v8, 0, 1, 2, 3);
    op(v4, __builtin_shufflevector(v8, v8, 4, 5, 6, 7));
    float p0 = v4[0], p1 = v4[1];
    op(p0, v4[2]);
    op(p1, v4[3]);
    op(p0, p1);
    return p0;
  }
#endif
  for (std::size_t w = sum_lanes / 2; w > 0; w /= 2)
    for (std::size_t l = 0; l < w; ++l) op(part[l], part[l + w]);
  return part[0];
}

// s = sum_k f(k)
template <class T, std::size_t N, class F>
TG_HD TG_INLINE T row_sum(F&& f) {
  constexpr std::size_t whole = N / sum_lanes * sum_lanes;
  if constexpr (whole == 0) {
    T s = T(0);
    for (std::size_t k = 0; k < N; ++k) s += f(k);
    return s;
  } else {
    T part[sum_lanes];
    for (std::size_t l = 0; l < sum_lanes; ++l) part[l] = T(0);
    for (std::size_t block = 0; block < whole / sum_lanes; ++block) {  // in blocks: see row_max
      const std::size_t k0 = block * sum_lanes;
      // clang-format off
      TG_LANES_LOOP
      for (std::size_t l = 0; l < sum_lanes; ++l) part[l] += f(k0 + l);
      // clang-format on
    }
    if constexpr (whole < N)  // no empty tail loop: GCC warns of it (-Waggressive-loop-optimizations)
      for (std::size_t k = whole; k < N; ++k) part[0] += f(k);
    return combined(part, add_lanes{});
  }
}

// a = sum_k f(k).first, b = sum_k f(k).second in one pass (f returns a pair-like {first, second})
template <class T, std::size_t N, class F>
TG_HD TG_INLINE void row_sums(F&& f, T& a, T& b) {
  constexpr std::size_t whole = N / sum_lanes * sum_lanes;
  if constexpr (whole == 0) {
    T sa = T(0), sb = T(0);
    for (std::size_t k = 0; k < N; ++k) {
      const auto v = f(k);
      sa += v.first;
      sb += v.second;
    }
    a = sa, b = sb;
  } else {
    T pa[sum_lanes], pb[sum_lanes];
    for (std::size_t l = 0; l < sum_lanes; ++l) pa[l] = pb[l] = T(0);
    for (std::size_t block = 0; block < whole / sum_lanes; ++block) {  // in blocks: see row_max
      const std::size_t k0 = block * sum_lanes;
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
    a = combined(pa, add_lanes{}), b = combined(pb, add_lanes{});
  }
}

// max_k f(k) in the same partial results; NaN never wins (a comparison with NaN is false), as in one chain
template <class T, std::size_t N, class F>
TG_HD TG_INLINE T row_max(F&& f) {
  constexpr std::size_t whole = N / sum_lanes * sum_lanes;
  if constexpr (whole == 0) {
    T m = -std::numeric_limits<T>::infinity();
    for (std::size_t k = 0; k < N; ++k) {
      const T v = f(k);
      m = math::select_of(v > m, v, m);
    }
    return m;
  } else {
    T part[sum_lanes];
    for (std::size_t l = 0; l < sum_lanes; ++l) part[l] = -std::numeric_limits<T>::infinity();
    // counted in blocks, not by k0 += sum_lanes up to `whole`: with that form g++ 12 warned "iteration
    // 288230376151711744 invokes undefined behavior [-Waggressive-loop-optimizations]" (no location; an error with
    // -Werror) for N = 96 inside causal attention's rows (tests/primitives/attention_warnings_probe.cpp)
    for (std::size_t block = 0; block < whole / sum_lanes; ++block) {
      const std::size_t k0 = block * sum_lanes;
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
    return combined(part, max_lanes{});
  }
}

template <class T>
struct two_values {
  T first, second;
};
}  // namespace tg::detail
