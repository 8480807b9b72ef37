#pragma once
// C++ operators on expressions and parameters: a + b, a - b, a * b, a / b, -a, a > b, a < b.
#include "typegrad/primitives/add.hpp"
#include "typegrad/primitives/compare.hpp"
#include "typegrad/primitives/div.hpp"
#include "typegrad/primitives/mul.hpp"
#include "typegrad/primitives/neg.hpp"
#include "typegrad/primitives/sub.hpp"

namespace tg {
// An operator applies when a side is an expression or a parameter (plain tensors keep their own meaning).
template <class X>
concept symbolic = expression<X> || is_parameter_v<std::remove_cvref_t<X>>;

template <operand A, operand B>
requires(symbolic<A> || symbolic<B>) auto operator+(A&& a, B&& b) {
  return add(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(symbolic<A> || symbolic<B>) auto operator-(A&& a, B&& b) {
  return sub(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(symbolic<A> || symbolic<B>) auto operator*(A&& a, B&& b) {
  return mul(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(symbolic<A> || symbolic<B>) auto operator/(A&& a, B&& b) {
  return div(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(symbolic<A> || symbolic<B>) auto operator>(A&& a, B&& b) {
  return greater(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
requires(symbolic<A> || symbolic<B>) auto operator<(A&& a, B&& b) {
  return less(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
  requires(symbolic<A> || symbolic<B>)
auto operator<=(A&& a, B&& b) {
  return less_equal(std::forward<A>(a), std::forward<B>(b));
}
template <operand A, operand B>
  requires(symbolic<A> || symbolic<B>)
auto operator>=(A&& a, B&& b) {
  return greater_equal(std::forward<A>(a), std::forward<B>(b));
}
template <symbolic X>
auto operator-(X&& x) {
  return neg(std::forward<X>(x));
}
}  // namespace tg
