#pragma once
// y = x[..., Begin:End, ...] along Axis;  dx = dy placed back at those positions (zero elsewhere).
#include <numeric>

#include "typegrad/core/expr.hpp"

namespace tg {
namespace op {
struct slice {};
}  // namespace op
template <std::size_t Axis, std::size_t Begin, std::size_t End>
struct slice_range {};

template <class From, std::size_t Axis, std::size_t Begin, std::size_t End>
struct slice_mapping {
  static constexpr std::size_t inner = From::strides[Axis];
  static constexpr std::size_t len = End - Begin;
  using shape_type = decltype([]<std::size_t... K>(std::index_sequence<K...>) {
    return shape<(K == Axis ? len : From::dims[K])...>{};
  }(std::make_index_sequence<From::rank>{}));
  // the len x inner elements of one outer position are contiguous in From, starting at
  // (outer dims[Axis] + Begin) inner
  static constexpr std::size_t run = len * inner, run_start_step = inner * std::gcd(From::dims[Axis], Begin);
  static TG_HD TG_INLINE std::size_t source(std::size_t i) {
    const std::size_t outer = i / (len * inner);
    const std::size_t a = (i / inner) % len;
    return (outer * From::dims[Axis] + a + Begin) * inner + i % inner;
  }
};

template <std::size_t Axis, std::size_t Begin, std::size_t End, tensor_operand X>
auto slice(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using From = typename expr_t<X>::shape_type;
    constexpr bool axis_ok = Axis < From::rank;
    static_assert(detail::require<error::axis_out_of_range<op::slice, From, axes<Axis>, axis_ok>>);
    if constexpr (axis_ok) {
      constexpr bool ok = Begin < End && End <= From::dims[Axis];
      static_assert(detail::require<error::slice_out_of_bounds<op::slice, From, slice_range<Axis, Begin, End>, ok>>);
      if constexpr (ok)
        return index_map<slice_mapping<From, Axis, Begin, End>>(std::forward<X>(x));
      else
        return invalid_expression{};
    } else {
      return invalid_expression{};
    }
  }
}
}  // namespace tg
