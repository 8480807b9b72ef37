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

// The synthetic batch the gpt_step benchmarks train on: token (r, t) = (7 r + 3 t) mod V, its label (7 r + 3 t + 3)
// mod V
template <std::size_t B>
void fill_gpt_batch(tg::Tensor<std::int32_t, B, GT>& x, tg::Tensor<std::int32_t, B * GT>& y) {
  for (std::size_t r = 0; r < B; ++r)
    for (std::size_t t = 0; t < GT; ++t) {
      x(r, t) = std::int32_t((r * 7 + t * 3) % GV);
      y[r * GT + t] = std::int32_t((r * 7 + t * 3 + 3) % GV);
    }
}
}  // namespace bench
