#pragma once
// y = x broadcast to shape S (NumPy rules);  dx = sum of dy over the broadcast positions
// (the scatter-add happens in the fused region's backward: one pass, nothing materialised).
#include "typegrad/core/expr.hpp"

namespace tg {
namespace op {
struct broadcast_to {};
}  // namespace op
template <class From, class To>
struct broadcast_mapping {
  using shape_type = To;
  static TG_HD TG_INLINE std::size_t source(std::size_t i) { return broadcast_index<From, To>(i); }
};

template <std::size_t... D, tensor_operand X>
auto broadcast_to(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using From = typename expr_t<X>::shape_type;
    using To = shape<D...>;
    constexpr bool ok = broadcastable<From, To>() && std::is_same_v<broadcast_shape_t<From, To>, To>;
    static_assert(detail::require<error::cannot_broadcast_to<op::broadcast_to, From, To, ok>>);
    if constexpr (ok)
      return index_map<broadcast_mapping<From, To>>(std::forward<X>(x));
    else
      return invalid_expression{};
  }
}
}  // namespace tg
