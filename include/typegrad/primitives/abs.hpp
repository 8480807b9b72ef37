#pragma once
// y = |x|;  dy/dx = sign(x) (0 at 0)
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct abs {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return std::abs(x);
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T x) const {
    return T((x > T(0)) - (x < T(0)));
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto abs(X&& x) {
  return map(op::abs{}, std::forward<X>(x));
}
}  // namespace tg
