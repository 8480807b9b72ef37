#pragma once
// Multi-head scaled dot-product self-attention over x [B, T, E] with Heads heads of size D = E / Heads:
//   [Q, K, V] = x W_in^T + b_in (one projection, W_in [3E, E] as PyTorch's in_proj_weight), split into heads
//   A = softmax(Q K^T / sqrt(D) + M) along the last axis, M = -inf above the diagonal when Causal
//   y = concat_heads(A V) W_o^T + b_o
// PositionalEmbedding<MaxT, E>: y = x + P[0:T] with P learned, ~ N(0, 1).
#include <cmath>
#include <limits>

#include "typegrad/core/init.hpp"
#include "typegrad/core/let.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/layers/linear.hpp"
#include "typegrad/primitives/operators.hpp"
#include "typegrad/primitives/reshape.hpp"
#include "typegrad/primitives/slice.hpp"
#include "typegrad/primitives/softmax.hpp"

namespace tg {

template <std::size_t E, std::size_t Heads, bool Causal = false, class T = float>
struct MultiHeadAttention {
  static_assert(E % Heads == 0, "tg::MultiHeadAttention: the embedding size must be divisible by the number of heads");
  static constexpr std::size_t D = E / Heads;
  BOOST_HANA_DEFINE_STRUCT(MultiHeadAttention, (Linear<E, 3 * E, T>, in_proj), (Linear<E, E, T>, out_proj));
  template <class S>
  static constexpr bool accepts = S::rank == 3 && S::dims[2] == E;
  MultiHeadAttention() = default;
  explicit MultiHeadAttention(std::uint64_t seed) { init::initialize(*this, seed); }

  template <std::size_t L>
  static const Tensor<T, L, L>& causal_mask() {
    static const Tensor<T, L, L> mask = [] {
      Tensor<T, L, L> m(T(0));
      for (std::size_t i = 0; i < L; ++i)
        for (std::size_t j = i + 1; j < L; ++j) m(i, j) = -std::numeric_limits<T>::infinity();
      return m;
    }();
    return mask;
  }

  template <tensor_operand X>
  auto operator()(X&& x) const {
    using S = typename expr_t<X>::shape_type;
    static_assert(detail::require<error::layer_does_not_accept_input<MultiHeadAttention, S, accepts<S>>>);
    if constexpr (!accepts<S>) {
      return invalid_expression{};
    } else {
      constexpr std::size_t B = S::dims[0], L = S::dims[1];
      // q, k and v read one projection [B, L, 3E], held once in the type (tg::let)
      return let(in_proj(std::forward<X>(x)), [this](auto qkv) {
        auto heads = [](auto p) {  // [B, L, E] -> [B Heads, L, D]
          return reshape<B * Heads, L, D>(permute<0, 2, 1, 3>(reshape<B, L, Heads, D>(p)));
        };
        auto q = heads(slice<2, 0, E>(qkv));
        auto k = heads(slice<2, E, 2 * E>(qkv));
        auto v = heads(slice<2, 2 * E, 3 * E>(qkv));
        auto scores = matmul(q, permute<0, 2, 1>(k)) * (1.0 / std::sqrt(double(D)));
        auto weights = [&] {
          if constexpr (Causal)
            return softmax<2>(scores + causal_mask<L>());
          else
            return softmax<2>(scores);
        }();
        auto merged = reshape<B, L, E>(permute<0, 2, 1, 3>(reshape<B, Heads, L, D>(matmul(weights, v))));
        return out_proj(merged);
      });
    }
  }
};

template <std::size_t MaxT, std::size_t E, class T = float>
struct PositionalEmbedding {
  BOOST_HANA_DEFINE_STRUCT(PositionalEmbedding, (Parameter<T, MaxT, E>, weight));
  template <class S>
  static constexpr bool accepts = S::rank == 3 && S::dims[1] <= MaxT&& S::dims[2] == E;
  PositionalEmbedding() { init::from_default_stream(*this); }
  explicit PositionalEmbedding(std::uint64_t seed) { init::from_seed(*this, seed); }
  void reset_parameters(init::Generator& g) { init::normal(weight, 0.0, 1.0, g); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    using S = typename expr_t<X>::shape_type;
    static_assert(detail::require<error::layer_does_not_accept_input<PositionalEmbedding, S, accepts<S>>>);
    if constexpr (accepts<S>)
      return std::forward<X>(x) + slice<0, 0, S::dims[1]>(weight);
    else
      return invalid_expression{};
  }
};

}  // namespace tg
