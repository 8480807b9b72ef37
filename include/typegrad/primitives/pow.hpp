#pragma once
// y = a^b;  dy/da = b a^(b-1), dy/db = y ln a
#include <cmath>

#include "typegrad/core/expr.hpp"

namespace tg::op {
struct pow {
  static constexpr std::size_t arity = 2;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T a, T b) const {
    return std::pow(a, b);
  }
  template <std::size_t K, class T>
  TG_HD T d(T y, T a, T b) const {
    if constexpr (K == 0)
      return b * std::pow(a, b - T(1));
    else
      return y * std::log(a);
  }
};
}  // namespace tg::op

namespace tg {
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto pow(A&& a, B&& b) {
  return map(op::pow{}, std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
