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

  // Reductions along the axis keep W independent partial results (one 8-float vector; GCC vectorises the
  // loops over a block of W, not a single chain of dependent adds), combined in a fixed order: deterministic.
  static constexpr std::size_t W = 8;
  static constexpr std::size_t blocked = n / W * W;

  // one body per lane (p, q): the n elements along Axis. Pass 1: y = x, m = max. Pass 2: e_k = e^(x_k - m) and
  // s = 1 + r, r = sum of e_k over k with x_k < m plus (ties - 1): adding the maximum's 1 first would round a
  // confident row's tiny r away, which log1p(r) keeps. Pass 3: y = e / s, or (x - m) - log1p(r).
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    Ctx::backend::for_each(launch::elementwise, pre * post, TG_BODY(std::size_t lane) {
      const std::size_t p = lane / post, q = lane % post;
      T mw[W];
      for (std::size_t l = 0; l < W; ++l) mw[l] = -std::numeric_limits<T>::infinity();
      for (std::size_t k0 = 0; k0 < blocked; k0 += W)
        for (std::size_t l = 0; l < W; ++l) {
          const T v = this->template in<Id, 0>(c, at(p, k0 + l, q));
          y[at(p, k0 + l, q)] = v;
          mw[l] = math::select_of(v > mw[l], v, mw[l]);  // NaN never wins, as in the 1-chain loop
        }
      for (std::size_t k = blocked; k < n; ++k) {
        const T v = this->template in<Id, 0>(c, at(p, k, q));
        y[at(p, k, q)] = v;
        mw[0] = math::select_of(v > mw[0], v, mw[0]);
      }
      T m = mw[0];
      for (std::size_t l = 1; l < W; ++l) m = mw[l] > m ? mw[l] : m;
      T rw[W], tw[W];  // sums of e_k below the maximum, counts of k at it
      for (std::size_t l = 0; l < W; ++l) rw[l] = tw[l] = 0;
      const auto part = [&](std::size_t k, std::size_t l) {
        const T v = y[at(p, k, q)];
        const T e = math::exp_of(v - m);
        if (!is_log) y[at(p, k, q)] = e;
        rw[l] += math::select_of(v == m, T(0), e);
        tw[l] += math::select_of(v == m, T(1), T(0));
      };
      for (std::size_t k0 = 0; k0 < blocked; k0 += W)
        for (std::size_t l = 0; l < W; ++l) part(k0 + l, l);
      for (std::size_t k = blocked; k < n; ++k) part(k, 0);
      T r = 0, ties = 0;
      for (std::size_t l = 0; l < W; ++l) r += rw[l], ties += tw[l];
      r += ties - 1;
      if (is_log) {
        const T log_s = std::log1p(r);
        for (std::size_t k = 0; k < n; ++k) y[at(p, k, q)] = (y[at(p, k, q)] - m) - log_s;
      } else {
        const T inv = T(1) / (1 + r);
        for (std::size_t k = 0; k < n; ++k) y[at(p, k, q)] *= inv;
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
        T sw[W];  // s = sum_k g_k (log) or sum_k g_k y_k
        for (std::size_t l = 0; l < W; ++l) sw[l] = 0;
        for (std::size_t k0 = 0; k0 < blocked; k0 += W)
          for (std::size_t l = 0; l < W; ++l) {
            const std::size_t i = at(p, k0 + l, q);
            sw[l] += is_log ? g[i] : g[i] * y[i];
          }
        for (std::size_t k = blocked; k < n; ++k) sw[0] += is_log ? g[at(p, k, q)] : g[at(p, k, q)] * y[at(p, k, q)];
        T s = 0;
        for (std::size_t l = 0; l < W; ++l) s += sw[l];
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
