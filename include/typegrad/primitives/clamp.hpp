#pragma once
// y = min(max(x, lo), hi);  dy/dx = [lo <= x <= hi] (as PyTorch)
#include "typegrad/core/expr.hpp"

namespace tg::op {
template <class T>
struct clamp {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  constant<T> lo, hi;
  TG_HD T operator()(T x) const { return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x); }
  template <std::size_t K>
  TG_HD T d(T, T x) const {
    return (x >= T(lo) && x <= T(hi)) ? T(1) : T(0);
  }
};
}  // namespace tg::op

namespace tg {
template <tensor_operand X>
auto clamp(X&& x, double lo, double hi) {
  using T = typename expr_t<X>::value_type;
  return map(op::clamp<T>{static_cast<T>(lo), static_cast<T>(hi)}, std::forward<X>(x));
}
}  // namespace tg
