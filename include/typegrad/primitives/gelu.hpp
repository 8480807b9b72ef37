#pragma once
// gelu:      y = x Phi(x) = x/2 (1 + erf(x/sqrt2));  dy/dx = Phi(x) + x phi(x)  (PyTorch's exact GELU)
// gelu_tanh: y = x/2 (1 + t), t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3)   (approximate="tanh", GPT-2's)
//            dy/dx = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2)
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
           x * T(0.39894228040143267794) * math::exp_nonpositive_of(T(-0.5) * x * x);
  }
};
struct gelu_tanh {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  static constexpr double sqrt_2_over_pi = 0.79788456080286535588, c = 0.044715;
  template <class T>
  TG_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::tanh(T(sqrt_2_over_pi) * (x + T(c) * x * x * x)));
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T x) const {
    const T t = std::tanh(T(sqrt_2_over_pi) * (x + T(c) * x * x * x));
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(sqrt_2_over_pi) * (T(1) + T(3 * c) * x * x);
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto gelu(X&& x) {
  return map(op::gelu{}, std::forward<X>(x));
}
template <tensor_operand X>
auto gelu_tanh(X&& x) {
  return map(op::gelu_tanh{}, std::forward<X>(x));
}
}  // namespace tg
