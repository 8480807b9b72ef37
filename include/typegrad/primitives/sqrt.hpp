#pragma once
// y = sqrt(x);  dy/dx = 1 / (2y)
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct sqrt {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return std::sqrt(x);
  }
  template <std::size_t K, class T>
  TG_HD T d(T y, T) const {
    return T(0.5) / y;
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto sqrt(X&& x) {
  return map(op::sqrt{}, std::forward<X>(x));
}
}  // namespace tg
