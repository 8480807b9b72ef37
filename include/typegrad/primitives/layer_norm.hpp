#pragma once
// Normalisation over the last axis (n = its size), per row:
//   xhat = (x - mean) / sqrt(var + eps)   (biased variance),   y = gamma xhat + beta
// VJP: dx = invstd / n (n g gamma - sum(g gamma) - xhat sum(g gamma xhat)),  dgamma = sum_rows g xhat,
//      dbeta = sum_rows g.   The input may be an element-wise region (computed inside this kernel).
#include <cmath>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct layer_norm {};
}  // namespace op

template <class X, class G, class B>
struct LayerNormNode : kernel_node<typename X::value_type, typename X::shape_type, X, G, B> {
  static constexpr std::uint32_t assigns_child_adjoints = 1u;  // dx: one add_grad per element
  using op_type = op::layer_norm;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  static constexpr std::size_t n = X::shape_type::dims[X::shape_type::rank - 1];
  static constexpr std::size_t rows = X::shape_type::size / n;
  template <class... K2>
  using rebind = LayerNormNode<K2...>;
  constant<T> eps = T(1e-5);
  void key_payload(std::vector<std::uint64_t>& k) const { k.push_back(eps.bits); }
  template <class R>
  void copy_payload_to(R& r) const {
    r.eps = eps;
  }

  static constexpr bool runs_on_device = true;

  template <std::size_t Id, class Ctx>
  TG_HD void statistics(const Ctx& c, std::size_t r, T& mean, T& invstd) const {
    T s = 0, ss = 0;
    for (std::size_t k = 0; k < n; ++k) s += this->template in<Id, 0>(c, r * n + k);
    mean = s / T(n);
    for (std::size_t k = 0; k < n; ++k) {
      const T d = this->template in<Id, 0>(c, r * n + k) - mean;
      ss += d * d;
    }
    invstd = T(1) / std::sqrt(ss / T(n) + T(eps));
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    Ctx::backend::for_each(launch::elementwise, rows, TG_BODY(std::size_t r) {  // one body per row
      T mean, invstd;
      statistics<Id>(c, r, mean, invstd);
      for (std::size_t k = 0; k < n; ++k)
        y[r * n + k] = (this->template in<Id, 0>(c, r * n + k) - mean) * invstd * this->template in<Id, 1>(c, k) +
                       this->template in<Id, 2>(c, k);
    });
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* g = this->template out_grad<Id>(c);
    Ctx::backend::for_each(launch::elementwise, rows, TG_BODY(std::size_t r) {  // gamma, beta: atomic on devices
      T mean, invstd, sg = 0, sgx = 0;
      statistics<Id>(c, r, mean, invstd);
      for (std::size_t k = 0; k < n; ++k) {
        const T xhat = (this->template in<Id, 0>(c, r * n + k) - mean) * invstd;
        const T gg = g[r * n + k] * this->template in<Id, 1>(c, k);
        sg += gg;
        sgx += gg * xhat;
        if constexpr (LayerNormNode::template wants_grad<Id, 1, Ctx>()) this->template add_grad<Id, 1>(c, k, g[r * n + k] * xhat);
        if constexpr (LayerNormNode::template wants_grad<Id, 2, Ctx>()) this->template add_grad<Id, 2>(c, k, g[r * n + k]);
      }
      if constexpr (LayerNormNode::template wants_grad<Id, 0, Ctx>())
        for (std::size_t k = 0; k < n; ++k) {
          const T xhat = (this->template in<Id, 0>(c, r * n + k) - mean) * invstd;
          const T gg = g[r * n + k] * this->template in<Id, 1>(c, k);
          this->template add_grad<Id, 0>(c, r * n + k, invstd / T(n) * (T(n) * gg - sg - xhat * sgx));
        }
    });
  }
};

// tg::layer_norm(x, gamma, beta, eps): gamma and beta have the size of x's last axis.
template <tensor_operand X, tensor_operand G, tensor_operand B>
auto layer_norm(X&& x, G&& gamma, B&& beta, double eps = 1e-5) {
  if constexpr (any_invalid_v<X, G, B>) {
    return invalid_expression{};
  } else {
    using SX = typename expr_t<X>::shape_type;
    using SG = typename expr_t<G>::shape_type;
    using SB = typename expr_t<B>::shape_type;
    constexpr bool ok = SX::rank >= 1 && std::is_same_v<SG, shape<SX::dims[SX::rank - 1]>> && std::is_same_v<SG, SB>;
    static_assert(detail::require<error::normalized_shape_mismatch<op::layer_norm, SX, SG, ok>>);
    if constexpr (ok) {
      LayerNormNode<expr_t<X>, expr_t<G>, expr_t<B>> node{
          {{}, {as_expr(std::forward<X>(x)), as_expr(std::forward<G>(gamma)), as_expr(std::forward<B>(beta))}}};
      node.eps = typename expr_t<X>::value_type(eps);
      return node;
    } else {
      return invalid_expression{};
    }
  }
}
}  // namespace tg
