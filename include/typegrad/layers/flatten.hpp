#pragma once
// [N, d1, d2, ...] -> [N, d1 d2 ...] (a view: no copy, fused with its neighbours).
#include "typegrad/primitives/reshape.hpp"

namespace tg {

struct Flatten {
  template <class S>
  static constexpr bool accepts = S::rank >= 1;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    using S = typename expr_t<X>::shape_type;
    return reshape<S::dims[0], S::size / S::dims[0]>(std::forward<X>(x));
  }
};

}  // namespace tg
