#pragma once
// y = x if x > 0 else alpha x;  dy/dx = 1 if x > 0 else alpha
#include "typegrad/core/expr.hpp"

namespace tg::op {
template <class T>
struct leaky_relu {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  constant<T> alpha;
  TG_HD T operator()(T x) const { return x > T(0) ? x : T(alpha) * x; }
  template <std::size_t K>
  TG_HD T d(T, T x) const {
    return x > T(0) ? T(1) : T(alpha);
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto leaky_relu(X&& x, double alpha = 0.01) {
  using T = typename expr_t<X>::value_type;
  return map(op::leaky_relu<T>{static_cast<T>(alpha)}, std::forward<X>(x));
}
}  // namespace tg
