#pragma once
// y = 1 / (1 + e^-x) (evaluated without overflow);  dy/dx = y (1 - y)
#include <cmath>

#include "typegrad/core/expr.hpp"
#include "typegrad/core/fast_math.hpp"

namespace tg::op {
struct sigmoid {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>)
      return T(1) / (T(1) + math::exp(-x));  // exp saturates to inf, not NaN: exact limits
    else
      return x >= T(0) ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
  }
  template <std::size_t K, class T>
  TG_HD T d(T y, T) const {
    return y * (T(1) - y);
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto sigmoid(X&& x) {
  return map(op::sigmoid{}, std::forward<X>(x));
}
}  // namespace tg
