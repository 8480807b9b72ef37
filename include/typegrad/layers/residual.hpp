#pragma once
// Residual connection: y = x + f(x), with x computed once and held once in the expression's type (tg::let).
#include "typegrad/core/let.hpp"
#include "typegrad/primitives/add.hpp"

namespace tg {

// tg::residual(f)(x) = x + f(x), with x computed once and held once in the type.
template <class F>
struct Residual {
  F f;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return let(std::forward<X>(x), [&](auto h) { return add(h, f(h)); });
  }
};
template <class F>
Residual<std::remove_cvref_t<F>> residual(F&& f) {
  return {std::forward<F>(f)};
}

}  // namespace tg
