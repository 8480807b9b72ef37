#pragma once
// y = a - b;  dy/da = 1, dy/db = -1
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct sub {
  static constexpr std::size_t arity = 2;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T a, T b) const {
    return a - b;
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T, T) const {
    if constexpr (K == 0)
      return T(1);
    else
      return T(-1);
  }
};
}  // namespace tg::op

namespace tg {
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto sub(A&& a, B&& b) {
  return map(op::sub{}, std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
