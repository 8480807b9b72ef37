#pragma once
// y = e^x;  dy/dx = y
#include <cmath>

#include "typegrad/core/expr.hpp"
#include "typegrad/core/fast_math.hpp"

namespace tg::op {
struct exp {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return math::exp_of(x);
  }
  template <std::size_t K, class T>
  TG_HD T d(T y, T) const {
    return y;
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto exp(X&& x) {
  return map(op::exp{}, std::forward<X>(x));
}
}  // namespace tg
