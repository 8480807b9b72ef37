#pragma once
// Comparisons give 1 or 0 in the operands' element type; they have no gradient.
#include "typegrad/core/expr.hpp"

namespace tg::op {
#define TG_COMPARISON(NAME, EXPR)                                 \
  struct NAME {                                                   \
    static constexpr std::size_t arity = 2;                       \
    static constexpr std::uint32_t nondifferentiable_args = 0b11; \
    template <class T>                                            \
    TG_HD T operator()(T a, T b) const {                          \
      return (EXPR) ? T(1) : T(0);                                \
    }                                                             \
    template <std::size_t K, class T>                             \
    TG_HD T d(T, T, T) const {                                    \
      return T(0);                                                \
    }                                                             \
  };
TG_COMPARISON(greater, a > b)
TG_COMPARISON(less, a < b)
TG_COMPARISON(greater_equal, a >= b)
TG_COMPARISON(less_equal, a <= b)
TG_COMPARISON(equal, a == b)
#undef TG_COMPARISON
}  // namespace tg::op

namespace tg {
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto greater(A&& a, B&& b) {
  return map(op::greater{}, std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto less(A&& a, B&& b) {
  return map(op::less{}, std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto greater_equal(A&& a, B&& b) {
  return map(op::greater_equal{}, std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto less_equal(A&& a, B&& b) {
  return map(op::less_equal{}, std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(tensor_operand<A> || tensor_operand<B>) auto equal(A&& a, B&& b) {
  return map(op::equal{}, std::forward<A>(a), std::forward<B>(b));
}
}  // namespace tg
