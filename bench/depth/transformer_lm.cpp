// Compile-cost probe for depth (bench/compile_times): a decoder-only Transformer language model's training
// step, TG_BLOCKS pre-LN causal blocks (E 256, 8 heads, FFN 1024, context 128, vocabulary 96, batch 8),
// token + learned position embeddings, final LayerNorm, linear head, cross-entropy, AdamW.
//   TG_REPEAT=1: the blocks through tg::Repeat (one traced block);  TG_REPEAT=0: written out one by one.
// It also trains a few steps on a counting sequence and prints the loss before and after, the planner's
// rows and the workspace, so the unit is a working program.
#include <typegrad/typegrad.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>

#ifndef TG_BLOCKS
#define TG_BLOCKS 12
#endif
#ifndef TG_REPEAT
#define TG_REPEAT 1
#endif

namespace {
constexpr std::size_t B = 8, T = 128, V = 96, E = 256, Blocks = TG_BLOCKS;
using Block = tg::TransformerEncoderBlock<E, 8, 1024, true>;

#if TG_REPEAT
using Stack = tg::Repeat<Blocks, Block>;
template <class X>
auto apply_blocks(const Stack& s, X&& x) {
  return s(std::forward<X>(x));
}
#else
using Stack = std::array<Block, Blocks>;
template <std::size_t N = Blocks, class X>
auto apply_blocks(const Stack& s, X&& x) {
  if constexpr (N == 0)
    return tg::as_expr(std::forward<X>(x));
  else
    return s[N - 1](apply_blocks<N - 1>(s, std::forward<X>(x)));
}
#endif

struct Gpt {
  BOOST_HANA_DEFINE_STRUCT(Gpt, (tg::Embedding<V, E>, token), (tg::PositionalEmbedding<T, E>, position),
                           (Stack, blocks), (tg::LayerNorm<E>, norm), (tg::Linear<E, V>, head));
  template <class X>
  auto operator()(X&& tokens) const {  // [B, T] -> [B T, V]
    return tg::reshape<B * T, V>(head(norm(apply_blocks(blocks, position(token(std::forward<X>(tokens)))))));
  }
};
}  // namespace

int main() {
  auto model = std::make_unique<Gpt>();
  auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy((*model)(x), y); });
  auto opt = tg::optim::make(step, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  std::mt19937 g(7);
  for (std::size_t r = 0; r < B; ++r)
    for (std::size_t t = 0; t < T; ++t) {
      x(r, t) = std::int32_t((r * 5 + t) % V);
      y[r * T + t] = std::int32_t((r * 5 + t + 1) % V);
    }
  const float before = step(x, y);
  for (int s = 0; s < 3; ++s) {
    step(x, y);
    opt.update(step);
  }
  const float after = step(x, y);
  std::printf("blocks %zu (repeat %d) rows %zu kernels %zu working memory %zu bytes: loss %.4f -> %.4f\n", Blocks,
              TG_REPEAT, decltype(step)::node_count, decltype(step)::kernel_count, step.total_workspace_bytes(),
              before, after);
  return std::isfinite(after) && after < before ? 0 : 1;  // it trains
}
