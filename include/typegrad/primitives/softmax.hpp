#pragma once
// softmax / log_softmax along Axis, stable: with m = max_k x_k,
//   softmax y_k = e^(x_k - m) / sum_j e^(x_j - m)      VJP: dx_k = y_k (g_k - sum_j g_j y_j)
//   log_softmax y_k = x_k - m - ln sum_j e^(x_j - m)   VJP: dx_k = g_k - e^(y_k) sum_j g_j
#include <cmath>
#include <limits>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/fast_math.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/row_sums.hpp"

namespace tg {
namespace op {
struct softmax {};
struct log_softmax {};
}  // namespace op

template <class Kind, std::size_t Axis, class X>
struct SoftmaxNode : kernel_node<typename X::value_type, typename X::shape_type, X> {
  static constexpr std::uint32_t assigns_child_adjoints = 1u;  // dx: one add_grad per element
  // ... after the row's dy is read whole (its sum), each element after it is read: dx may be written over dy
  static constexpr std::uint32_t in_place_child_adjoints = 1u;
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

  // one body per lane (p, q): the n elements along Axis. Pass 1: y = x (the input region computed once, in a loop
  // of its own, which GCC vectorises), m = max y in 16 partial maxima. Pass 2: e_k = e^(y_k - m) and s = 1 + r,
  // r = sum of e_k over k with y_k < m plus (ties - 1): adding the maximum's 1 first would round a confident
  // row's tiny r away, which log1p(r) keeps. Pass 3: y = e / s, or (y - m) - log1p(r). Sums in 16 partial sums
  // (core/row_sums.hpp), maxima likewise: deterministic. Attention's causal 64 x 128 x 128 scores alone (Intel
  // 0xA7): 1660 -> 917 us, of which the loop of its own for y = x (the mask read by columns) 1312 -> 917.
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    const auto softmax_of_row = TG_BODY((std::size_t lane) {
      const std::size_t p = lane / post, q = lane % post;
      T* yl = y + at(p, 0, q);  // y_k at yl[k * post]
      for (std::size_t k = 0; k < n; ++k) yl[k * post] = input<Id>(c, p, k, q);
      const T m = detail::row_max<T, n>([&](std::size_t k) { return yl[k * post]; });
      T r, ties;  // sums of e_k below the maximum, counts of k at it
      detail::row_sums<T, n>(
          [&](std::size_t k) {
            const T v = yl[k * post];
            const T e = math::exp_nonpositive_of(v - m);  // v - m <= 0
            if (!is_log) yl[k * post] = e;
            return detail::two_values<T>{math::select_of(v == m, T(0), e), math::select_of(v == m, T(1), T(0))};
          },
          r, ties);
      r += ties - 1;
      if (is_log) {
        const T log_s = std::log1p(r);
        for (std::size_t k = 0; k < n; ++k) yl[k * post] = (yl[k * post] - m) - log_s;
      } else {
        const T inv = T(1) / (1 + r);
        for (std::size_t k = 0; k < n; ++k) yl[k * post] *= inv;
      }
    });
    Ctx::backend::for_each(launch::elementwise, pre * post, softmax_of_row);
  }
  // x at (p, k, q); along the last axis by rows (kernel_node::in_row: a mask broadcast over the batch by columns)
  template <std::size_t Id, class Ctx>
  TG_HD TG_INLINE T input(const Ctx& c, std::size_t p, std::size_t k, std::size_t q) const {
    if constexpr (post == 1)
      return this->template in_row<Id, 0, n>(c, p, k);
    else
      return this->template in<Id, 0>(c, at(p, k, q));
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (SoftmaxNode::template wants_grad<Id, 0, Ctx>()) {
      const T* y = this->template out<Id>(c);
      const T* g = this->template out_grad<Id>(c);
      const auto row_grad = TG_BODY((std::size_t lane) {
        const std::size_t p = lane / post, q = lane % post;
        // s = sum_k g_k (log) or sum_k g_k y_k
        const T s = detail::row_sum<T, n>([&](std::size_t k) {
          const std::size_t i = at(p, k, q);
          return is_log ? g[i] : g[i] * y[i];
        });
        for (std::size_t k = 0; k < n; ++k) {
          const std::size_t i = at(p, k, q);
          const T dx = is_log ? g[i] - math::exp_nonpositive_of(y[i]) * s : y[i] * (g[i] - s);  // y <= 0 when log
          this->template add_grad<Id, 0>(c, i, dx);
        }
      });
      Ctx::backend::for_each(launch::elementwise, pre * post, row_grad);
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
