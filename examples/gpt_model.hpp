#pragma once
// The GPT of gpt_pretrain (and the fine-tuning example to come): byte tokens [Batch, T] -> token + learned position
// embeddings -> Blocks pre-LN causal Transformer blocks (tg::Repeat: one traced block, compile time flat in depth)
// -> LayerNorm -> linear head; logits [Batch T, V]. V is the vocabulary's capacity: a corpus may use fewer bytes.
// Parameters walk with PyTorch names: token.weight, position.weight, blocks.0.norm1.weight, ...,
// blocks.3.linear2.bias, norm.weight, head.weight.
#include <typegrad/typegrad.hpp>

namespace examples {
constexpr std::size_t B = 16, T = 128, V = 128, E = 128, Heads = 4, Hidden = 512, Blocks = 4;

struct Gpt {
  BOOST_HANA_DEFINE_STRUCT(Gpt, (tg::Embedding<V, E>, token), (tg::PositionalEmbedding<T, E>, position),
                           (tg::Repeat<Blocks, tg::TransformerEncoderBlock<E, Heads, Hidden, true>>, blocks),
                           (tg::LayerNorm<E>, norm), (tg::Linear<E, V>, head));
  template <class X>
  auto operator()(X&& tokens) const {  // [N, T] -> [N T, V]
    constexpr std::size_t N = tg::expr_t<X>::shape_type::dims[0];
    return tg::reshape<N * T, V>(head(norm(blocks(position(token(std::forward<X>(tokens)))))));
  }
};
}  // namespace examples
