#pragma once
// The entry check shared by losses over class labels (cross_entropy, nll_loss): Y must be a
// tg::Labels<B, C> input and the scores X must be [B, C]; otherwise one error naming the loss and both shapes.
#include "typegrad/core/inputs.hpp"

namespace tg::detail {

template <template <class, class> class Loss, class Op, class X, class Y>
auto class_label_loss(X&& scores, Y&& labels) {
  using L = std::remove_cvref_t<Y>;
  if constexpr (any_invalid_v<X, Y>) {
    return invalid_expression{};
  } else {
    static_assert(require<error::labels_must_be_integer_class_indices<Op, L, is_labels_v<L>>>);
    if constexpr (is_labels_v<L>) {
      using SX = typename expr_t<X>::shape_type;
      using SY = shape<L::shape_type::dims[0], L::classes>;
      constexpr bool ok = std::is_same_v<SX, SY>;
      static_assert(require<error::loss_label_shape_mismatch<Op, SX, SY, ok>>);
      if constexpr (ok)
        return Loss<expr_t<X>, L>{{{}, {as_expr(std::forward<X>(scores)), labels}}};
      else
        return invalid_expression{};
    } else {
      return invalid_expression{};
    }
  }
}

}  // namespace tg::detail
