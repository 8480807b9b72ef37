#pragma once
// y = a * b;  dy/da = b, dy/db = a
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct mul {
  static constexpr std::size_t arity = 2;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T a, T b) const {
    return a * b;
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T a, T b) const {
    if constexpr (K == 0)
      return b;
    else
      return a;
  }
};
}  // namespace tg::op

namespace tg {
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto mul(A&& a, B&& b) {
  return map(op::mul{}, std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
