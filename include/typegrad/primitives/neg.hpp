#pragma once
// y = -x;  dy/dx = -1
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct neg {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return -x;
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T) const {
    return T(-1);
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto neg(X&& x) {
  return map(op::neg{}, std::forward<X>(x));
}
}  // namespace tg
