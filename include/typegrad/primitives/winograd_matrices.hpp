#pragma once
// Winograd's minimal filtering F(m x m, 3 x 3) (conv2d_winograd.hpp): its matrices B^T, G, A^T, their nonzero terms
// unrolled at compile time, and the vectors of channels the transforms run on.
#include <cstddef>
#include <type_traits>
#include <utility>

#include "typegrad/core/config.hpp"

namespace tg::detail {

// Winograd's F(m x m, 3 x 3) by its matrices over a = m + 2 points: B^T (a x a), G (a x 3), A^T (m x a)
template <std::size_t M>
struct winograd_matrices;
template <>
struct winograd_matrices<2> {  // points 0, 1, -1, infinity
  static constexpr std::size_t m = 2, a = 4;
  static constexpr double BT[a][a] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[a][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double AT[m][a] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};
template <>
struct winograd_matrices<4> {  // points 0, 1, -1, 2, -2, infinity
  static constexpr std::size_t m = 4, a = 6;
  static constexpr double BT[a][a] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double G[a][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  static constexpr double AT[m][a] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// The nonzero entries of a row or column of one of those matrices, so that a transform's sums are unrolled at
// compile time without the multiplications by 0 (which the compiler may not drop: 0 x NaN is NaN)
template <std::size_t N>
struct nonzero_terms {  // C arrays, not std::array: the tests run at -O0, where each operator[] is a call
  std::size_t count = 0;
  std::size_t at[N] = {};
  double coef[N] = {};
};
template <std::size_t Lines, std::size_t N>
struct nonzero_lines {
  nonzero_terms<N> line[Lines] = {};
};
template <std::size_t Lines, std::size_t N, class Entry>
constexpr nonzero_lines<Lines, N> nonzeros_of(Entry entry) {
  nonzero_lines<Lines, N> out{};
  for (std::size_t l = 0; l < Lines; ++l)
    for (std::size_t i = 0; i < N; ++i)
      if (entry(l, i) != 0) {
        out.line[l].at[out.line[l].count] = i;
        out.line[l].coef[out.line[l].count++] = entry(l, i);
      }
  return out;
}
template <std::size_t M>
struct winograd_terms {
  using W = winograd_matrices<M>;
  static constexpr std::size_t m = M, a = W::a;
  static constexpr auto bt_rows = nonzeros_of<a, a>([](std::size_t r, std::size_t i) { return W::BT[r][i]; });
  static constexpr auto bt_cols = nonzeros_of<a, a>([](std::size_t j, std::size_t s) { return W::BT[s][j]; });
  static constexpr auto at_rows = nonzeros_of<m, a>([](std::size_t i, std::size_t s) { return W::AT[i][s]; });
  static constexpr auto at_cols = nonzeros_of<a, m>([](std::size_t r, std::size_t i) { return W::AT[i][r]; });
  static constexpr auto g_rows = nonzeros_of<a, 3>([](std::size_t r, std::size_t k) { return W::G[r][k]; });
  static constexpr auto g_cols = nonzeros_of<3, a>([](std::size_t k, std::size_t r) { return W::G[r][k]; });
};
// sum over the nonzero terms k of Lines[L]: coef_k value(at_k), coefficients of type T (values: T or vectors of T)
template <class T, const auto& Lines, std::size_t L, class F>
TG_INLINE auto combine(F&& value) {
  return [&]<std::size_t... k>(std::index_sequence<k...>) {
    return (... + (T(Lines.line[L].coef[k]) * value(Lines.line[L].at[k])));
  }
  (std::make_index_sequence<Lines.line[L].count>{});
}

// Lanes values of T as one GCC vector (T itself for one lane). Its own template rather than a std::conditional_t
// over a vector typedef: GCC drops a typedef's vector attribute when it is a template argument.
template <class T, std::size_t Lanes>
struct lane_vector {
  typedef T type __attribute__((vector_size(Lanes * sizeof(T))));
  typedef T unaligned __attribute__((vector_size(Lanes * sizeof(T)), aligned(sizeof(T)), may_alias));
};
template <class T>
struct lane_vector<T, 1> {
  using type = T;
  using unaligned = T;
};
// A pixel's N channels (contiguous) in chunks of `lanes`: 64-byte vectors where the target has AVX-512 and N is whole
// vectors, else one value at a time (the compiler vectorises the loop as it chooses). Why explicit: GCC prefers
// 256-bit vectors with -march=native on AVX-512 machines, so the transforms ran on half-width registers. Intel 0xA7,
// one image (us): F(4x4) on 16 channels forward 24.0 -> 23.0, backward 42.3 -> 38.6; F(2x2) on 64 channels backward
// 28.5 -> 26.7; the whole ResNet-20 step 85.1-85.9 -> 82.1-82.5 ms (four alternated pairs).
template <class T, std::size_t N>
struct channel_vectors {
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__CUDACC__)
  static constexpr std::size_t bytes = 64;
#else
  static constexpr std::size_t bytes = sizeof(T);
#endif
  static constexpr std::size_t lanes = N * sizeof(T) % bytes == 0 ? bytes / sizeof(T) : 1;
  using type = typename lane_vector<T, lanes>::type;
  static TG_INLINE type load(const T* p) {
    return *reinterpret_cast<const typename lane_vector<T, lanes>::unaligned*>(p);
  }
  static TG_INLINE void store(T* p, const type& v) {
    *reinterpret_cast<typename lane_vector<T, lanes>::unaligned*>(p) = v;
  }
};

}  // namespace tg::detail
