#pragma once
// Normalisation over the last axis (n = its size), per row:
//   xhat = (x - mean) / sqrt(var + eps)   (biased variance),   y = gamma xhat + beta
// VJP: dx = invstd / n (n g gamma - sum(g gamma) - xhat sum(g gamma xhat)),  dgamma = sum_rows g xhat,
//      dbeta = sum_rows g.   The input may be an element-wise region (computed inside this kernel).
// The host runs one body per row; devices run segmented reductions over the rows (and over the columns for gamma and
// beta) and passes over the elements, whose threads read consecutive elements: one thread per row walked its row
// with strided reads, two thirds of a GPT step's time on an H200 (docs/gpu.md).
#include <cmath>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/row_sums.hpp"

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

  // the forward pass keeps each row's mean and 1 / sqrt(var + eps) for the backward pass; on a device, as two arrays
  // followed by working space: the variances, the rows' sum(g gamma) and sum(g gamma xhat), dgamma's and dbeta's sums
  static constexpr std::size_t scratch_bytes = 2 * rows * sizeof(T);
  static constexpr std::size_t device_scratch_bytes = (5 * rows + 2 * n) * sizeof(T);
  template <std::size_t Id, class Ctx>
  static T* saved_statistics(const Ctx& c) {
    return LayerNormNode::template scratch<T, Id>(c);
  }

  // y = x first (the input region computed once), then mean and variance from y (two passes: no cancellation in
  // E[x^2] - mean^2), then y in place; row sums in 16 partial sums (core/row_sums.hpp)
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    if constexpr (Ctx::backend::is_device) {
      forward_by_reductions<Id>(c);
    } else {
      T* y = this->template out<Id>(c);
      T* stats = saved_statistics<Id>(c);
      const auto normalise_row = TG_BODY((std::size_t r) {
        T* yr = y + r * n;
        const T mean = detail::row_sum<T, n>([&](std::size_t k) {
                         const T v = this->template in<Id, 0>(c, r * n + k);
                         yr[k] = v;
                         return v;
                       }) /
                       T(n);
        const T var = detail::row_sum<T, n>([&](std::size_t k) { return (yr[k] - mean) * (yr[k] - mean); }) / T(n);
        const T invstd = T(1) / std::sqrt(var + T(eps));
        stats[2 * r] = mean, stats[2 * r + 1] = invstd;
        for (std::size_t k = 0; k < n; ++k)
          yr[k] = (yr[k] - mean) * invstd * this->template in<Id, 1>(c, k) + this->template in<Id, 2>(c, k);
      });
      Ctx::backend::for_each(launch::elementwise, rows, normalise_row);  // one body per row
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (Ctx::backend::is_device) {
      backward_by_reductions<Id>(c);
    } else {
      const T* g = this->template out_grad<Id>(c);
      const T* stats = saved_statistics<Id>(c);
      const auto row_grad = TG_BODY((std::size_t r) {  // one body per row
        // declared in the body: nvcc's extended lambdas may not first capture a variable inside an if constexpr
        constexpr bool dx = LayerNormNode::template wants_grad<Id, 0, Ctx>();
        constexpr bool dgamma = LayerNormNode::template wants_grad<Id, 1, Ctx>();
        constexpr bool dbeta = LayerNormNode::template wants_grad<Id, 2, Ctx>();
        const T mean = stats[2 * r], invstd = stats[2 * r + 1];
        const T* gr = g + r * n;
        const auto xhat = [&](std::size_t k) { return (this->template in<Id, 0>(c, r * n + k) - mean) * invstd; };
        T sg = 0, sgx = 0;  // sum(g gamma), sum(g gamma xhat)
        if constexpr (dx)
          detail::row_sums<T, n>(
              [&](std::size_t k) {
                const T gg = gr[k] * this->template in<Id, 1>(c, k);
                return detail::two_values<T>{gg, gg * xhat(k)};
              },
              sg, sgx);
        // clang-format off
        TG_IVDEP
        for (std::size_t k = 0; k < n; ++k) {
          const T xh = xhat(k);
          if constexpr (dgamma) this->template add_grad<Id, 1>(c, k, gr[k] * xh);
          if constexpr (dbeta) this->template add_grad<Id, 2>(c, k, gr[k]);
          if constexpr (dx) {
            const T gg = gr[k] * this->template in<Id, 1>(c, k);
            this->template add_grad<Id, 0>(c, r * n + k, invstd / T(n) * (T(n) * gg - sg - xh * sgx));
          }
        }
        // clang-format on
      });
      Ctx::backend::for_each(launch::elementwise, rows, row_grad);
    }
  }

  // Devices: y = x (the input region computed once); mean and variance by segmented reductions over the rows; then
  // invstd per row and y in place, one thread per element
  template <std::size_t Id, class Ctx>
  void forward_by_reductions(Ctx& c) const {
    using Bk = typename Ctx::backend;
    T* y = this->template out<Id>(c);
    T* mean = this->template scratch<T, Id>(c);
    T* invstd = mean + rows;
    T* var = mean + 2 * rows;
    const T e = T(eps);
    Bk::for_each(launch::elementwise, rows * n, TG_BODY((std::size_t i) { y[i] = this->template in<Id, 0>(c, i); }));
    Bk::segmented_reduce(launch::reduction, rows, n,
                         TG_BODY_OF_VALUES((std::size_t r, std::size_t k) { return y[r * n + k]; }), detail::plus_op{},
                         T(0), mean, T(n));
    const auto squared_deviation = TG_BODY_OF_VALUES((std::size_t r, std::size_t k) {
      const T d = y[r * n + k] - mean[r];
      return d * d;
    });
    Bk::segmented_reduce(launch::reduction, rows, n, squared_deviation, detail::plus_op{}, T(0), var, T(n));
    Bk::for_each(launch::elementwise, rows,
                 TG_BODY_OF_VALUES((std::size_t r) { invstd[r] = T(1) / std::sqrt(var[r] + e); }));
    const auto normalise = TG_BODY((std::size_t i) {
      const std::size_t r = i / n, k = i % n;
      y[i] = (y[i] - mean[r]) * invstd[r] * this->template in<Id, 1>(c, k) + this->template in<Id, 2>(c, k);
    });
    Bk::for_each(launch::elementwise, rows * n, normalise);
  }

  // xhat at row r, column k, from the saved statistics
  template <std::size_t Id, class Ctx>
  TG_HD TG_INLINE T normalised(const Ctx& c, const T* mean, const T* invstd, std::size_t r, std::size_t k) const {
    return (this->template in<Id, 0>(c, r * n + k) - mean[r]) * invstd[r];
  }

  // Devices: the rows' sum(g gamma) and sum(g gamma xhat) by segmented reductions, dx one thread per element; dgamma
  // and dbeta by segmented reductions over the columns, added by one pass
  template <std::size_t Id, class Ctx>
  void backward_by_reductions(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* g = this->template out_grad<Id>(c);
    T* scratch = this->template scratch<T, Id>(c);
    const T* mean = scratch;
    const T* invstd = scratch + rows;
    T* sg = scratch + 3 * rows;
    T* sgx = sg + rows;
    T* sum_gamma = sgx + rows;
    T* sum_beta = sum_gamma + n;
    if constexpr (LayerNormNode::template wants_grad<Id, 0, Ctx>()) {
      const auto g_gamma =
          TG_BODY((std::size_t r, std::size_t k) { return g[r * n + k] * this->template in<Id, 1>(c, k); });
      Bk::segmented_reduce(launch::reduction, rows, n, g_gamma, detail::plus_op{}, T(0), sg);
      const auto g_gamma_xhat = TG_BODY((std::size_t r, std::size_t k) {
        return g[r * n + k] * this->template in<Id, 1>(c, k) * this->template normalised<Id>(c, mean, invstd, r, k);
      });
      Bk::segmented_reduce(launch::reduction, rows, n, g_gamma_xhat, detail::plus_op{}, T(0), sgx);
      const auto dx = TG_BODY((std::size_t i) {
        const std::size_t r = i / n, k = i % n;
        const T gg = g[i] * this->template in<Id, 1>(c, k);
        this->template add_grad<Id, 0>(
            c, i,
            invstd[r] / T(n) * (T(n) * gg - sg[r] - this->template normalised<Id>(c, mean, invstd, r, k) * sgx[r]));
      });
      Bk::for_each(launch::elementwise, rows * n, dx);
    }
    if constexpr (LayerNormNode::template wants_grad<Id, 1, Ctx>()) {
      const auto g_xhat = TG_BODY((std::size_t k, std::size_t r) {
        return g[r * n + k] * this->template normalised<Id>(c, mean, invstd, r, k);
      });
      Bk::segmented_reduce(launch::reduction, n, rows, g_xhat, detail::plus_op{}, T(0), sum_gamma);
      Bk::for_each(launch::elementwise, n,
                   TG_BODY((std::size_t k) { this->template add_grad<Id, 1>(c, k, sum_gamma[k]); }));
    }
    if constexpr (LayerNormNode::template wants_grad<Id, 2, Ctx>()) {
      Bk::segmented_reduce(launch::reduction, n, rows,
                           TG_BODY_OF_VALUES((std::size_t k, std::size_t r) { return g[r * n + k]; }),
                           detail::plus_op{}, T(0), sum_beta);
      Bk::for_each(launch::elementwise, n,
                   TG_BODY((std::size_t k) { this->template add_grad<Id, 2>(c, k, sum_beta[k]); }));
    }
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
