#pragma once
// The GPT of gpt_pretrain (and the fine-tuning example to come): byte tokens [Batch, T] -> token + learned position
// embeddings -> Blocks pre-LN causal Transformer blocks (tg::Repeat: one traced block, compile time flat in depth)
// -> LayerNorm -> linear head; logits [Batch T, V]. V is the vocabulary's capacity: a corpus may use fewer bytes.
// Parameters walk with PyTorch names: token.weight, position.weight, blocks.0.norm1.weight, ...,
// blocks.3.linear2.bias, norm.weight, head.weight.
#include <numbers>
#include <typegrad/data/text.hpp>
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

// A language-model step's summed cross-entropy (nats) and the number of UTF-8 characters among the targets
// (continuation bytes 10xxxxxx not counted) over in-order batches k < `batches` of `windows` (0: all) with
// k % parts == part (so that ranks can share the work).
template <class Step>
std::pair<double, std::size_t> validation_totals(Step& step, const tg::data::TokenWindows<B, T>& windows,
                                                 const tg::data::ByteVocabulary& vocabulary, std::size_t batches = 0,
                                                 std::size_t part = 0, std::size_t parts = 1) {
  const std::size_t n = batches == 0 ? windows.batches_per_epoch() : std::min(batches, windows.batches_per_epoch());
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  double nats = 0;
  std::size_t characters = 0;
  for (std::size_t k = part; k < n; k += parts) {
    windows.batch_in_order(k, x, y);
    nats += double(step.evaluate(x, y)) * double(B * T);  // the mean over the batch's B T targets
    for (std::size_t i = 0; i < B * T; ++i) characters += (vocabulary.byte(y[i]) & 0xC0) != 0x80;
  }
  return {nats, characters};
}
inline double bits_per_character(double nats, std::size_t characters) {
  return nats / std::numbers::ln2 / double(characters);
}
// validation bits per UTF-8 character over the first `batches` batches (0: all)
template <class Step>
double bits_per_character(Step& step, const tg::data::TokenWindows<B, T>& windows,
                          const tg::data::ByteVocabulary& vocabulary, std::size_t batches = 0) {
  const auto [nats, characters] = validation_totals(step, windows, vocabulary, batches);
  return bits_per_character(nats, characters);
}
}  // namespace examples
