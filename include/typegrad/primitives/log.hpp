#pragma once
// y = ln x;  dy/dx = 1/x
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct log {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return std::log(x);
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T x) const {
    return T(1) / x;
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto log(X&& x) {
  return map(op::log{}, std::forward<X>(x));
}
}  // namespace tg
