#pragma once
// y = x Phi(x) = x/2 (1 + erf(x/sqrt2));  dy/dx = Phi(x) + x phi(x)  (PyTorch's exact GELU)
#include <cmath>

#include "typegrad/core/expr.hpp"
#include "typegrad/core/fast_math.hpp"

namespace tg::op {
struct gelu {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T x) const {
    return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440))) +
           x * T(0.39894228040143267794) * math::exp_of(T(-0.5) * x * x);
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto gelu(X&& x) {
  return map(op::gelu{}, std::forward<X>(x));
}
}  // namespace tg
