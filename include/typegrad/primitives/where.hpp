#pragma once
// y = a where cond != 0 else b;  dy/da = [cond != 0], dy/db = [cond == 0], no gradient to cond
#include "typegrad/core/expr.hpp"

namespace tg::op {
struct where {
  static constexpr std::size_t arity = 3;
  static constexpr std::uint32_t nondifferentiable_args = 0b001;
  template <class T>
  TG_HD T operator()(T c, T a, T b) const {
    return c != T(0) ? a : b;
  }
  template <std::size_t K, class T>
  TG_HD T d(T, T c, T, T) const {
    if constexpr (K == 1)
      return c != T(0) ? T(1) : T(0);
    else
      return c != T(0) ? T(0) : T(1);
  }
};
}  // namespace tg::op

namespace tg {
template <operand C, operand A, operand B>
requires(tensor_operand<C> || tensor_operand<A> || tensor_operand<B>) auto where(C&& cond, A&& a, B&& b) {
  return map(op::where{}, std::forward<C>(cond), std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
