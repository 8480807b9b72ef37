#pragma once
// y = x viewed with shape S (same row-major order, same element count);  dx = dy reshaped back.
#include "typegrad/core/expr.hpp"

namespace tg {
namespace op {
struct reshape {};
}  // namespace op
template <class To>
struct reshape_mapping {
  using shape_type = To;
  static constexpr bool one_to_one = true;  // each source element is read by exactly one output element
  static constexpr bool identity = true;    // ... the one at its own flat index
  static constexpr std::size_t run = To::size, run_start_step = 0;  // the identity on flat indices
  static TG_HD TG_INLINE std::size_t source(std::size_t i) { return i; }
};

template <std::size_t... D, tensor_operand X>
auto reshape(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using From = typename expr_t<X>::shape_type;
    using To = shape<D...>;
    static_assert(detail::require<error::reshape_changes_element_count<op::reshape, From, To, From::size == To::size>>);
    if constexpr (From::size == To::size)
      return index_map<reshape_mapping<To>>(std::forward<X>(x));
    else
      return invalid_expression{};
  }
}
}  // namespace tg
