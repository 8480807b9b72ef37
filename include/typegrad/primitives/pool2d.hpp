#pragma once
// 2-D pooling over windows K x K with stride S (NCHW, no padding):
//   max: y = max over the window;  VJP: dy goes to the first maximal element of the window (recorded by
//        the forward pass)
//   avg: y = mean over the window; VJP: dy / K^2 to every element of the window
// The operand may be an element-wise region (e.g. relu(conv)), computed inside the pooling kernel.
#include <cstdint>
#include <limits>

#include "typegrad/core/backend.hpp"

#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct max_pool2d {};
struct avg_pool2d {};
}  // namespace op

template <std::size_t Kernel, std::size_t Stride>
struct pool_geometry {};

template <class Kind, class X, std::size_t K, std::size_t S>
struct Pool2d : kernel_node<typename X::value_type,
                            shape<X::shape_type::dims[0], X::shape_type::dims[1], (X::shape_type::dims[2] - K) / S + 1,
                                  (X::shape_type::dims[3] - K) / S + 1>,
                            X> {
  using op_type = Kind;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  using SX = typename X::shape_type;
  static constexpr std::size_t planes = SX::dims[0] * SX::dims[1], H = SX::dims[2], W = SX::dims[3];
  static constexpr std::size_t Ho = (H - K) / S + 1, Wo = (W - K) / S + 1;
  static constexpr bool is_max = std::is_same_v<Kind, op::max_pool2d>;
  template <class... K2>
  using rebind = Pool2d<Kind, K2..., K, S>;
  static constexpr bool runs_on_device = true;
  static TG_HD TG_INLINE std::size_t at(std::size_t p, std::size_t r, std::size_t q) { return (p * H + r) * W + q; }

  // max: the forward pass records where each maximum came from, for the backward pass (if one follows)
  static constexpr std::size_t scratch_bytes = is_max ? planes * Ho * Wo * sizeof(std::uint32_t) : 0;
  static constexpr std::size_t forward_scratch_bytes = 0;
  static_assert(SX::size <= 0xffffffffu, "typegrad: max_pool2d records input positions in 32 bits");

  // one body per output element o = (p, i, j)
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    std::uint32_t* arg = this->template scratch<std::uint32_t, Id>(c);
    const auto window = TG_BODY((std::size_t o, std::size_t p, std::size_t i, std::size_t j) {
      T acc = is_max ? -std::numeric_limits<T>::infinity() : T(0);
      std::size_t best = at(p, i * S, j * S);
      for (std::size_t a = 0; a < K; ++a)
        for (std::size_t b = 0; b < K; ++b) {
          const std::size_t idx = at(p, i * S + a, j * S + b);
          const T v = this->template in<Id, 0>(c, idx);
          if constexpr (is_max) {  // the first maximal element (strict >), chosen without branches
            best = v > acc ? idx : best;
            acc = v > acc ? v : acc;
          } else {
            acc += v;
          }
        }
      y[o] = is_max ? acc : acc / T(K * K);
      if (is_max && Ctx::needs_adjoint(Id)) arg[o] = std::uint32_t(best);
    });
    Ctx::backend::template for_each_grid<planes, Ho, Wo, true>(launch::elementwise, window);
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (Pool2d::template wants_grad<Id, 0, Ctx>()) {
      const T* g = this->template out_grad<Id>(c);
      const std::uint32_t* arg = this->template scratch<std::uint32_t, Id>(c);
      // planes may run on several threads when dx is a buffer (a fused region could share a broadcast leaf)
      constexpr bool split = Ctx::materialised(Pool2d::template cid<Id, 0>);
      const auto window_grad = TG_BODY((std::size_t o, std::size_t p, std::size_t i, std::size_t j) {
        const auto& ctx = c;  // captured here: nvcc's lambdas cannot first capture inside if constexpr
        const std::uint32_t* const where = arg;
        const T go = g[o];
        if constexpr (is_max) {
          this->template add_grad<Id, 0>(ctx, where[o], go);
        } else {
          const T share = go / T(K * K);
          for (std::size_t a = 0; a < K; ++a)
            for (std::size_t b = 0; b < K; ++b) this->template add_grad<Id, 0>(ctx, at(p, i * S + a, j * S + b), share);
        }
      });
      Ctx::backend::template for_each_grid<planes, Ho, Wo, split>(launch::elementwise, window_grad);
    }
  }
};

namespace detail {
template <class Kind, std::size_t K, std::size_t S, class X>
auto pool2d(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using SX = typename expr_t<X>::shape_type;
    static_assert(require<error::needs_rank<Kind, SX, SX::rank == 4>>);
    if constexpr (SX::rank != 4) {
      return invalid_expression{};
    } else {
      constexpr bool fits = K > 0 && S > 0 && SX::dims[2] >= K && SX::dims[3] >= K;
      static_assert(require<error::window_does_not_fit<Kind, SX, pool_geometry<K, S>, fits>>);
      if constexpr (fits)
        return Pool2d<Kind, expr_t<X>, K, S>{{{}, {as_expr(std::forward<X>(x))}}};
      else
        return invalid_expression{};
    }
  }
}
}  // namespace detail

// tg::max_pool2d<K>(x) (stride K) or tg::max_pool2d<K, S>(x); x is [N, C, H, W].
template <std::size_t K, std::size_t S = K, tensor_operand X>
auto max_pool2d(X&& x) {
  return detail::pool2d<op::max_pool2d, K, S>(std::forward<X>(x));
}
template <std::size_t K, std::size_t S = K, tensor_operand X>
auto avg_pool2d(X&& x) {
  return detail::pool2d<op::avg_pool2d, K, S>(std::forward<X>(x));
}
}  // namespace tg
