#pragma once
// Multi-head scaled dot-product self-attention over x [B, T, E] with Heads heads of size D = E / Heads:
//   [Q, K, V] = x W_in^T + b_in (one projection, W_in [3E, E] as PyTorch's in_proj_weight), split into heads
//   A = softmax(Q K^T / sqrt(D) + M) along the last axis, M = -inf above the diagonal when Causal, plus the
//       masks given at run time (PyTorch's attn_mask and key_padding_mask), as operands after x:
//         attention_mask(m)          m [T, T] added to every head's scores (float mask)
//         boolean_attention_mask(m)  m [T, T], nonzero: query i may not attend to key j (bool mask, True)
//         key_padding_mask(m)        m [B, T], nonzero: key j of sample b is padding (True)
//       a query whose keys are all masked gets NaN, as in PyTorch
//   y = concat_heads(A V) W_o^T + b_o
// Without run-time masks the heads run as one kernel over the projection (primitives/scaled_dot_product_attention.hpp:
// nothing L x L kept for the backward pass); with them, as the primitives above (the scores materialised).
// PositionalEmbedding<MaxT, E>: y = x + P[0:T] with P learned, ~ N(0, 1).
#include <cmath>
#include <limits>

#include "typegrad/core/init.hpp"
#include "typegrad/core/let.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/layers/linear.hpp"
#include "typegrad/primitives/operators.hpp"
#include "typegrad/primitives/reshape.hpp"
#include "typegrad/primitives/scaled_dot_product_attention.hpp"
#include "typegrad/primitives/slice.hpp"
#include "typegrad/primitives/softmax.hpp"
#include "typegrad/primitives/where.hpp"

namespace tg {

template <class M>
struct AttentionMask {
  M mask;
};
template <class M>
struct BooleanAttentionMask {
  M mask;
};
template <class M>
struct KeyPaddingMask {
  M mask;
};
template <tensor_operand M>
auto attention_mask(M&& m) {
  return AttentionMask<expr_t<M>>{as_expr(std::forward<M>(m))};
}
template <tensor_operand M>
auto boolean_attention_mask(M&& m) {
  return BooleanAttentionMask<expr_t<M>>{as_expr(std::forward<M>(m))};
}
template <tensor_operand M>
auto key_padding_mask(M&& m) {
  return KeyPaddingMask<expr_t<M>>{as_expr(std::forward<M>(m))};
}

namespace error {
template <class Mask, class Expected, class Given, bool Ok>
struct attention_mask_shape_differs {
  static_assert(Ok, "typegrad: an attention mask is [T, T] (queries x keys) and a key padding mask [B, T]");
};
}  // namespace error

template <std::size_t E, std::size_t Heads, bool Causal = false, class T = float>
struct MultiHeadAttention {
  static_assert(E % Heads == 0, "tg::MultiHeadAttention: the embedding size must be divisible by the number of heads");
  static constexpr std::size_t D = E / Heads;
  // PyTorch's nn.MultiheadAttention names and layout: in_proj_weight [3E, E] (rows q, k, v), in_proj_bias [3E]
  BOOST_HANA_DEFINE_STRUCT(MultiHeadAttention, (Parameter<T, 3 * E, E>, in_proj_weight),
                           (Parameter<T, 3 * E>, in_proj_bias), (Linear<E, E, T>, out_proj));
  template <class S>
  static constexpr bool accepts = S::rank == 3 && S::dims[2] == E;
  MultiHeadAttention() { init::from_default_stream(*this); }
  explicit MultiHeadAttention(std::uint64_t seed) { init::initialize(*this, seed); }
  // PyTorch: xavier_uniform in_proj_weight, zero in_proj_bias (out_proj initialises itself as a Linear)
  void reset_parameters(init::Generator& g) {
    init::xavier_uniform(in_proj_weight, g);
    init::zeros(in_proj_bias);
  }

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

  // scores [B Heads, L, L] with one run-time mask applied
  template <std::size_t B, std::size_t L, class Scores, class M>
  static auto masked(Scores&& s, const AttentionMask<M>& m) {
    constexpr bool ok = std::is_same_v<typename M::shape_type, shape<L, L>>;
    static_assert(detail::require<
                  error::attention_mask_shape_differs<AttentionMask<M>, shape<L, L>, typename M::shape_type, ok>>);
    if constexpr (ok)
      return std::forward<Scores>(s) + m.mask;
    else
      return invalid_expression{};
  }
  template <std::size_t B, std::size_t L, class Scores, class M>
  static auto masked(Scores&& s, const BooleanAttentionMask<M>& m) {
    constexpr bool ok = std::is_same_v<typename M::shape_type, shape<L, L>>;
    static_assert(
        detail::require<
            error::attention_mask_shape_differs<BooleanAttentionMask<M>, shape<L, L>, typename M::shape_type, ok>>);
    if constexpr (ok)
      return std::forward<Scores>(s) + where(m.mask, -std::numeric_limits<double>::infinity(), 0.0);
    else
      return invalid_expression{};
  }
  template <std::size_t B, std::size_t L, class Scores, class M>
  static auto masked(Scores&& s, const KeyPaddingMask<M>& m) {
    constexpr bool ok = std::is_same_v<typename M::shape_type, shape<B, L>>;
    static_assert(detail::require<
                  error::attention_mask_shape_differs<KeyPaddingMask<M>, shape<B, L>, typename M::shape_type, ok>>);
    if constexpr (ok) {
      auto bias = reshape<B, 1, 1, L>(where(m.mask, -std::numeric_limits<double>::infinity(), 0.0));
      return reshape<B * Heads, L, L>(reshape<B, Heads, L, L>(std::forward<Scores>(s)) + bias);
    } else {
      return invalid_expression{};
    }
  }

  template <std::size_t B, std::size_t L, class Scores>
  static auto with_masks(Scores&& s) {
    return std::forward<Scores>(s);
  }
  template <std::size_t B, std::size_t L, class Scores, class M, class... Rest>
  static auto with_masks(Scores&& s, const M& m, const Rest&... rest) {
    return with_masks<B, L>(masked<B, L>(std::forward<Scores>(s), m), rest...);
  }

  template <tensor_operand X, class... Masks>
  auto operator()(X&& x, const Masks&... masks) const {
    const auto in_projection = [this](auto&& h) {
      return matmul(std::forward<decltype(h)>(h), transpose(in_proj_weight)) + in_proj_bias;
    };
    return attend(std::forward<X>(x), in_projection, out_proj, masks...);
  }

  // The attention with its projections given: in_projection(x) [B, L, 3E] (q, k, v), out_projection(heads merged)
  // [B, L, E]. operator() passes this layer's; LoRA passes adapted ones (layers/lora.hpp).
  template <tensor_operand X, class InProjection, class OutProjection, class... Masks>
  static auto attend(X&& x, const InProjection& in_projection, const OutProjection& out_projection,
                     const Masks&... masks) {
    using S = typename expr_t<X>::shape_type;
    static_assert(detail::require<error::layer_does_not_accept_input<MultiHeadAttention, S, accepts<S>>>);
    if constexpr (!accepts<S>) {
      return invalid_expression{};
    } else {
      constexpr std::size_t B = S::dims[0], L = S::dims[1];
      // without run-time masks: one kernel over the projection (primitives/scaled_dot_product_attention.hpp)
      if constexpr (sizeof...(Masks) == 0)
        return out_projection(scaled_dot_product_attention<Heads, Causal>(in_projection(std::forward<X>(x))));
      // else q, k and v read one projection [B, L, 3E], held once in the type (tg::let)
      else
        return let(in_projection(std::forward<X>(x)), [&](auto qkv) {
          auto heads = [&](auto p) {  // [B, L, E] -> [B Heads, L, D]
            return reshape<B * Heads, L, D>(permute<0, 2, 1, 3>(reshape<B, L, Heads, D>(p)));
          };
          auto q = heads(slice<2, 0, E>(qkv));
          auto k = heads(slice<2, E, 2 * E>(qkv));
          auto v = heads(slice<2, 2 * E, 3 * E>(qkv));
          auto scores = matmul(q, permute<0, 2, 1>(k)) * (1.0 / std::sqrt(double(D)));
          auto causal = [&] {
            if constexpr (Causal)
              return scores + causal_mask<L>();
            else
              return scores;
          };
          auto weights = softmax<2>(with_masks<B, L>(causal(), masks...));
          auto merged = reshape<B, L, E>(permute<0, 2, 1, 3>(reshape<B, Heads, L, D>(matmul(weights, v))));
          return out_projection(merged);
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
