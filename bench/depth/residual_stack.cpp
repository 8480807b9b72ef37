// Compile-cost probe for depth (bench/compile_times): a stack of TG_BLOCKS residual blocks
//   h = h + relu(Linear<64, 64>(h))        (tg::residual: h is held once in the type)
// on [32, 64] inputs, MSE against a target, one SGD training program; it also trains a few steps and prints
// the loss before and after, so the unit is a working program, not only a type.
//   TG_REPEAT=1: the blocks through tg::Repeat (one traced block);  TG_REPEAT=0: written out one by one.
#include <typegrad/typegrad.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>

#ifndef TG_BLOCKS
#define TG_BLOCKS 8
#endif
#ifndef TG_REPEAT
#define TG_REPEAT 1
#endif

namespace {
constexpr std::size_t B = 32, F = 64, Blocks = TG_BLOCKS;

struct Block {
  BOOST_HANA_DEFINE_STRUCT(Block, (tg::Linear<F, F>, fc));
  template <class X>
  auto operator()(X&& x) const {
    return tg::residual([this](auto h) { return tg::relu(fc(h)); })(std::forward<X>(x));
  }
};

#if TG_REPEAT
struct Model {
  tg::Repeat<Blocks, Block> blocks;
  template <class X>
  auto apply(X&& x) const {
    return blocks(std::forward<X>(x));
  }
};
#else
struct Model {
  std::array<Block, Blocks> blocks;
  template <std::size_t N = Blocks, class X>
  auto apply(X&& x) const {
    if constexpr (N == 0)
      return tg::as_expr(std::forward<X>(x));
    else
      return blocks[N - 1](apply<N - 1>(std::forward<X>(x)));
  }
};
#endif
}  // namespace

int main() {
  Model model;
  tg::init::Generator g(1);
  for (std::size_t b = 0; b < Blocks; ++b) tg::init::kaiming_uniform(model.blocks[b].fc.weight, g, 0.3);
  auto step = tg::compile<tg::Input<float, B, F>, tg::Input<float, B, F>>(
      [&](auto x, auto y) { return tg::mse(model.apply(x), y); });
  auto opt = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{1e-3});
  tg::Tensor<float, B, F> x, y;
  std::mt19937 r(3);
  std::normal_distribution<float> n(0, 1);
  for (auto& v : x) v = n(r);
  for (auto& v : y) v = n(r);
  const float before = step(x, y);
  for (int s = 0; s < 20; ++s) {
    step(x, y);
    opt.update(step);
  }
  const float after = step(x, y);
  std::printf("blocks %zu (repeat %d) rows %zu kernels %zu working memory %zu bytes: loss %.4f -> %.4f\n", Blocks, TG_REPEAT,
              decltype(step)::node_count, decltype(step)::kernel_count, step.total_workspace_bytes(), before, after);
  return std::isfinite(after) && after < before ? 0 : 1;  // it trains
}
