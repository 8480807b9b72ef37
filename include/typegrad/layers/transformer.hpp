#pragma once
// Pre-LayerNorm Transformer encoder block over [B, T, E]:
//   x = x + Attention(LayerNorm1(x));   y = x + FFN(LayerNorm2(x)),  FFN(z) = max(0, z W1^T + b1) W2^T + b2
#include "typegrad/layers/attention.hpp"
#include "typegrad/layers/layer_norm.hpp"
#include "typegrad/layers/linear.hpp"
#include "typegrad/layers/residual.hpp"
#include "typegrad/primitives/relu.hpp"

namespace tg {

template <std::size_t E, std::size_t Heads, std::size_t Hidden, bool Causal = false, class T = float>
struct TransformerEncoderBlock {
  // PyTorch's nn.TransformerEncoderLayer names (self_attn, linear1, linear2, norm1, norm2)
  BOOST_HANA_DEFINE_STRUCT(TransformerEncoderBlock, (LayerNorm<E, T>, norm1),
                           (MultiHeadAttention<E, Heads, Causal, T>, self_attn), (LayerNorm<E, T>, norm2),
                           (Linear<E, Hidden, T>, linear1), (Linear<Hidden, E, T>, linear2));
  template <class S>
  static constexpr bool accepts = S::rank == 3 && S::dims[2] == E;
  TransformerEncoderBlock() = default;
  explicit TransformerEncoderBlock(std::uint64_t seed) { init::initialize(*this, seed); }
  // masks: as MultiHeadAttention's (attention_mask, boolean_attention_mask, key_padding_mask)
  template <tensor_operand X, class... Masks>
  auto operator()(X&& x, const Masks&... masks) const {
    // each residual holds its input once in the type (tg::residual = tg::let): blocks stack linearly
    auto attend = residual([&](auto h) { return self_attn(norm1(h), masks...); });
    auto feed_forward = residual([this](auto h) { return linear2(relu(linear1(norm2(h)))); });
    return feed_forward(attend(std::forward<X>(x)));
  }
};

}  // namespace tg
