#pragma once
// Losses (mean over all elements unless said), written over the engine's primitives so their gradients
// are generated; cross_entropy and nll_loss are primitives (primitives/).
//   mse(p, t)   = mean((p - t)^2)
//   l1(p, t)    = mean(|p - t|)
//   huber(p, t) = mean(0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta)),  d = p - t   (PyTorch's HuberLoss)
//   binary_cross_entropy_with_logits(x, z) = mean(max(x, 0) - x z + log(1 + e^-|x|))  (stable for any x)
//   l2_penalty(p...) = sum_p sum(p^2),  l1_penalty(p...) = sum_p sum(|p|)  (add lambda * penalty to a loss)
#include "typegrad/core/let.hpp"
#include "typegrad/primitives/abs.hpp"
#include "typegrad/primitives/cross_entropy.hpp"
#include "typegrad/primitives/nll_loss.hpp"
#include "typegrad/primitives/operators.hpp"
#include "typegrad/primitives/reduce.hpp"
#include "typegrad/primitives/relu.hpp"
#include "typegrad/primitives/softplus.hpp"
#include "typegrad/primitives/where.hpp"

namespace tg {
namespace op {
struct regression_loss {};
}  // namespace op

namespace detail {
template <class P, class T>
constexpr bool same_shapes_checked() {
  using SP = typename expr_t<P>::shape_type;
  using ST = typename expr_t<T>::shape_type;
  static_assert(require<error::loss_label_shape_mismatch<op::regression_loss, SP, ST, std::is_same_v<SP, ST>>>);
  return std::is_same_v<SP, ST>;
}

// A mistake upstream (an invalid operand) was reported where it was made: no second error here.
template <class P, class T>
constexpr bool same_shapes() {
  if constexpr (any_invalid_v<P, T>) return false;
  else return same_shapes_checked<P, T>();
}
}  // namespace detail

template <tensor_operand P, tensor_operand T>
auto mse(P&& prediction, T&& target) {
  if constexpr (detail::same_shapes<P, T>()) {
    // d = p - t is used twice: held once (tg::let), so a deep model under the loss is not copied
    return mean(let(as_expr(std::forward<P>(prediction)) - as_expr(std::forward<T>(target)), [](auto d) { return d * d; }));
  } else {
    return invalid_expression{};
  }
}

template <tensor_operand P, tensor_operand T>
auto l1(P&& prediction, T&& target) {
  if constexpr (detail::same_shapes<P, T>())
    return mean(abs(as_expr(std::forward<P>(prediction)) - as_expr(std::forward<T>(target))));
  else
    return invalid_expression{};
}

template <tensor_operand P, tensor_operand T>
auto huber(P&& prediction, T&& target, double delta = 1.0) {
  if constexpr (detail::same_shapes<P, T>()) {
    return mean(let(as_expr(std::forward<P>(prediction)) - as_expr(std::forward<T>(target)), [&](auto d) {
      auto a = abs(d);
      return where(a <= delta, d * d * 0.5, (a - 0.5 * delta) * delta);
    }));
  } else {
    return invalid_expression{};
  }
}

template <tensor_operand X, tensor_operand Z>
auto binary_cross_entropy_with_logits(X&& logits, Z&& targets) {
  if constexpr (detail::same_shapes<X, Z>()) {
    auto z = as_expr(std::forward<Z>(targets));
    return mean(let(std::forward<X>(logits), [&](auto x) { return relu(x) - x * z + softplus(-abs(x)); }));
  } else {
    return invalid_expression{};
  }
}

template <operand... Ps>
auto l2_penalty(const Ps&... ps) {
  return (sum(as_expr(ps) * as_expr(ps)) + ...);
}
template <operand... Ps>
auto l1_penalty(const Ps&... ps) {
  return (sum(abs(ps)) + ...);
}

}  // namespace tg
