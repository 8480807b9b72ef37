#pragma once
// y = ln(1 + e^x), linear above 20 as in PyTorch;  dy/dx = sigmoid(x)
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct softplus {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return x > T(20) ? x : std::log1p(std::exp(x));
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T x) const {
    return x > T(20) ? T(1) : T(1) / (T(1) + std::exp(-x));
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto softplus(X&& x) {
  return map(op::softplus{}, std::forward<X>(x));
}
}  // namespace tg
