#pragma once
// y = max(x, 0);  dy/dx = [x > 0]
// relu of a kernel that fuses it (BatchNorm, layers/batch_norm.hpp) is that kernel with relu applied to its output.
#include <cmath>

#include "typegrad/core/expr.hpp"
#include "typegrad/core/fast_math.hpp"

namespace tg::op {
struct relu {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return x > T(0) ? x : T(0);
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T x) const {
    return math::positive_step(x);
  }
};
}  // namespace tg::op

namespace tg {
// A kernel that can apply relu to its own output (BatchNorm: with_relu) does so: one pass instead of two
template <tensor_operand X>
auto relu(X&& x) {
  if constexpr (requires { x.with_relu(); })
    return x.with_relu();
  else
    return map(op::relu{}, std::forward<X>(x));
}
}  // namespace tg
