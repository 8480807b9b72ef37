#pragma once
// y[i_0, ..., i_{r-1}] = x[j] with j_{P[k]} = i_k (y's axis k is x's axis P[k]);  dx = dy permuted back.
// transpose(x) swaps the last two axes. matmul folds a 2-D transpose into the GEMM call (no copy).
#include "typegrad/core/expr.hpp"

namespace tg {
namespace op {
struct permute {};
}  // namespace op
template <class From, std::size_t... P>
struct permute_mapping {
  static constexpr std::array<std::size_t, sizeof...(P)> perm{P...};
  using shape_type = shape<From::dims[P]...>;
  static constexpr bool one_to_one = true;  // each source element is read by exactly one output element
  // the trailing axes the permutation keeps in place are copied in runs of their product; every other axis'
  // stride in From is a multiple of it
  static constexpr std::size_t run = [] {
    std::size_t r = 1;
    for (std::size_t k = perm.size(); k-- > 0 && perm[k] == k;) r *= From::dims[k];
    return r;
  }();
  static constexpr std::size_t run_start_step = run;
  static TG_HD TG_INLINE std::size_t source(std::size_t i) {
    std::size_t j = 0;
    detail::for_each_axis_down<sizeof...(P)>([&](auto axis) {
      constexpr std::size_t k = decltype(axis)::value, d = shape_type::dims[k];
      j += (i % d) * From::strides[perm[k]];
      i /= d;
    });
    return j;
  }
};

template <std::size_t... P>
constexpr bool is_permutation_of_rank(std::size_t rank) {
  if (sizeof...(P) != rank) return false;
  std::array<std::size_t, sizeof...(P)> a{P...};
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k] >= rank) return false;
    for (std::size_t j = k + 1; j < a.size(); ++j)
      if (a[j] == a[k]) return false;
  }
  return true;
}

template <std::size_t... P, tensor_operand X>
auto permute(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using From = typename expr_t<X>::shape_type;
    constexpr bool ok = is_permutation_of_rank<P...>(From::rank);
    static_assert(detail::require<error::not_a_permutation<op::permute, From, axes<P...>, ok>>);
    if constexpr (ok)
      return index_map<permute_mapping<From, P...>>(std::forward<X>(x));
    else
      return invalid_expression{};
  }
}

template <class From, class Seq>
struct last_two_swapped;
template <class From, std::size_t... I>
struct last_two_swapped<From, std::index_sequence<I...>> {
  using type = permute_mapping<From, I..., From::rank - 1, From::rank - 2>;
};

template <tensor_operand X>
auto transpose(X&& x) {
  using From = typename expr_t<X>::shape_type;
  static_assert(From::rank >= 2, "typegrad: transpose needs rank >= 2 (it swaps the last two axes)");
  return index_map<typename last_two_swapped<From, std::make_index_sequence<From::rank - 2>>::type>(std::forward<X>(x));
}
}  // namespace tg
