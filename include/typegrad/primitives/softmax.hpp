#pragma once
// softmax / log_softmax along Axis, stable: with m = max_k x_k,
//   softmax y_k = e^(x_k - m) / sum_j e^(x_j - m)      VJP: dx_k = y_k (g_k - sum_j g_j y_j)
//   log_softmax y_k = x_k - m - ln sum_j e^(x_j - m)   VJP: dx_k = g_k - e^(y_k) sum_j g_j
#include <cmath>
#include <limits>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/fast_math.hpp"
#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct softmax {};
struct log_softmax {};
}  // namespace op

template <class Kind, std::size_t Axis, class X>
struct SoftmaxNode : kernel_node<typename X::value_type, typename X::shape_type, X> {
  static constexpr std::uint32_t assigns_child_adjoints = 1u;  // dx: one add_grad per element
  using op_type = Kind;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  template <class... X2>
  using rebind = SoftmaxNode<Kind, Axis, X2...>;
  using S = typename X::shape_type;
  static constexpr std::size_t n = S::dims[Axis];
  static constexpr std::size_t post = S::strides[Axis];
  static constexpr std::size_t pre = S::size / (n * post);
  static constexpr bool is_log = std::is_same_v<Kind, op::log_softmax>;
  static TG_HD TG_INLINE std::size_t at(std::size_t p, std::size_t k, std::size_t q) { return (p * n + k) * post + q; }

  static constexpr bool runs_on_device = true;

  // one body per lane (p, q): the n elements along Axis
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    Ctx::backend::for_each(launch::elementwise, pre * post, TG_BODY(std::size_t lane) {
      const std::size_t p = lane / post, q = lane % post;
      T m = -std::numeric_limits<T>::infinity();
      std::size_t j = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const T v = this->template in<Id, 0>(c, at(p, k, q));
        y[at(p, k, q)] = v;
        if (v > m) m = v, j = k;
      }
      T r = 0;  // s = sum_k exp(x_k - m) = 1 + r
      for (std::size_t k = 0; k < n; ++k)
        if (k != j) r += math::exp_of(y[at(p, k, q)] - m);
      const T s = 1 + r;
      if constexpr (is_log) {
        // (x - m) - log1p(r): m + log s, or log of the rounded 1 + r, would lose a confident row's tiny log s
        const T log_s = std::log1p(r);
        for (std::size_t k = 0; k < n; ++k) y[at(p, k, q)] = (y[at(p, k, q)] - m) - log_s;
      } else {
        const T inv = T(1) / s;
        for (std::size_t k = 0; k < n; ++k) y[at(p, k, q)] = math::exp_of(y[at(p, k, q)] - m) * inv;
      }
    });
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (SoftmaxNode::template wants_grad<Id, 0, Ctx>()) {
      const T* y = this->template out<Id>(c);
      const T* g = this->template out_grad<Id>(c);
      Ctx::backend::for_each(launch::elementwise, pre * post, TG_BODY(std::size_t lane) {
        const std::size_t p = lane / post, q = lane % post;
        T s = 0;
        for (std::size_t k = 0; k < n; ++k) s += is_log ? g[at(p, k, q)] : g[at(p, k, q)] * y[at(p, k, q)];
        for (std::size_t k = 0; k < n; ++k) {
          const std::size_t i = at(p, k, q);
          const T dx = is_log ? g[i] - math::exp_of(y[i]) * s : y[i] * (g[i] - s);
          this->template add_grad<Id, 0>(c, i, dx);
        }
      });
    }
  }
};

namespace detail {
template <class Kind, std::size_t Axis, class X>
auto softmax_node(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using S = typename expr_t<X>::shape_type;
    constexpr bool ok = Axis < S::rank;
    static_assert(require<error::axis_out_of_range<Kind, S, axes<Axis>, ok>>);
    if constexpr (ok)
      return SoftmaxNode<Kind, Axis, expr_t<X>>{{{}, {as_expr(std::forward<X>(x))}}};
    else
      return invalid_expression{};
  }
}
}  // namespace detail

template <std::size_t Axis, tensor_operand X>
auto softmax(X&& x) {
  return detail::softmax_node<op::softmax, Axis>(std::forward<X>(x));
}
template <std::size_t Axis, tensor_operand X>
auto log_softmax(X&& x) {
  return detail::softmax_node<op::log_softmax, Axis>(std::forward<X>(x));
}
}  // namespace tg
