#pragma once
// The language model of bench/compare's gpt_step and bench/dist_scaling: a 6-block decoder-only Transformer
// (E 256, 8 heads, FFN 1024, context 128, vocabulary 96): token + learned position embeddings, pre-LN causal
// blocks through tg::Repeat, final LayerNorm, linear head; [B, T] tokens -> [B T, V] logits.
#include <typegrad/typegrad.hpp>

namespace bench {
constexpr std::size_t GT = 128, GV = 96, GE = 256, GH = 8, GF = 1024, GBlocks = 6;

// Blocks: the depth; Checkpointed: the blocks through tg::checkpoint (activation checkpointing)
template <std::size_t B, std::size_t Blocks = GBlocks, bool Checkpointed = false>
struct Gpt {
  BOOST_HANA_DEFINE_STRUCT(Gpt, (tg::Embedding<GV, GE>, token), (tg::PositionalEmbedding<GT, GE>, position),
                           (tg::Repeat<Blocks, tg::TransformerEncoderBlock<GE, GH, GF, true>>, blocks),
                           (tg::LayerNorm<GE>, norm), (tg::Linear<GE, GV>, head));
  explicit Gpt(std::uint64_t seed) : token(seed), position(seed + 1), blocks(seed + 2), head(seed + 3) {}
  template <class X>
  auto operator()(X&& tokens) const {
    auto h = position(token(std::forward<X>(tokens)));
    if constexpr (Checkpointed)
      return tg::reshape<B * GT, GV>(head(norm(tg::checkpoint(blocks)(h))));
    else
      return tg::reshape<B * GT, GV>(head(norm(blocks(h))));
  }
};
}  // namespace bench
