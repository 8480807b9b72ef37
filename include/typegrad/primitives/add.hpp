#pragma once
// y = a + b;  dy/da = 1, dy/db = 1
// a + b where a kernel fuses it (BatchNorm + residual, layers/batch_norm.hpp) is that kernel.
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct add {
  static constexpr std::size_t arity = 2;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T a, T b) const {
    return a + b;
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T, T) const {
    if constexpr (K == 0)
      return T(1);
    else
      return T(1);
  }
};
}  // namespace tg::op

namespace tg {
// A kernel that can add an operand of its output's shape itself (BatchNorm: with_residual) does so: one pass
// instead of two
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto add(A&& a, B&& b) {
  if constexpr (requires { a.with_residual(std::forward<B>(b)); })
    return a.with_residual(std::forward<B>(b));
  else if constexpr (requires { b.with_residual(std::forward<A>(a)); })
    return b.with_residual(std::forward<A>(a));
  else
    return map(op::add{}, std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
