#pragma once
// y = min(a, b);  the gradient goes to the smaller operand, split evenly on ties (as PyTorch)
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct minimum {
  static constexpr std::size_t arity = 2;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T a, T b) const {
    return a < b ? a : b;
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T a, T b) const {
    if constexpr (K == 0)
      return a < b ? T(1) : (a == b ? T(0.5) : T(0));
    else
      return b < a ? T(1) : (a == b ? T(0.5) : T(0));
  }
};
}  // namespace tg::op

namespace tg {
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto minimum(A&& a, B&& b) {
  return map(op::minimum{}, std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
