// A Transformer-block model as one translation unit, for bench/compile_times (issue target: <= 25 s to
// compile) that also trains: tokens -> Embedding + learned positions -> pre-LN causal block (E 64, 4 heads,
// FFN 256) -> Linear -> next-token logits, on sequences that count up modulo V from a random start.
// Prints the loss and next-token accuracy before and after training.   transformer_block_model [--steps N]
#include <CLI/CLI.hpp>
#include <typegrad/typegrad.hpp>

#include <cstdio>
#include <random>

namespace {
constexpr std::size_t B = 16, T = 32, V = 16, E = 64;

struct Model {
  BOOST_HANA_DEFINE_STRUCT(Model, (tg::Embedding<V, E>, embed), (tg::PositionalEmbedding<T, E>, position),
                           (tg::TransformerEncoderBlock<E, 4, 256, true>, block), (tg::Linear<E, V>, head));
  explicit Model(std::uint64_t seed) : embed(seed), position(seed + 1), block(seed + 2), head(seed + 3) {}
  template <class X>
  auto operator()(X&& tokens) const {  // [B, T] int -> [B T, V]
    return tg::reshape<B * T, V>(head(block(position(embed(std::forward<X>(tokens))))));
  }
};

void fill(tg::Tensor<std::int32_t, B, T>& x, tg::Tensor<std::int32_t, B * T>& y, std::mt19937& g) {
  for (std::size_t r = 0; r < B; ++r) {
    std::int32_t v = std::int32_t(g() % V);
    for (std::size_t t = 0; t < T; ++t, v = (v + 1) % std::int32_t(V)) {
      x(r, t) = v;
      y[r * T + t] = (v + 1) % std::int32_t(V);
    }
  }
}
}  // namespace

int main(int argc, char** argv) {
  int steps = 200;
  CLI::App app("Transformer-block model: next token of counting sequences");
  app.add_option("--steps", steps);
  CLI11_PARSE(app, argc, argv);
  Model model(1);
  auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto predict = tg::compile_inference<tg::Input<std::int32_t, B, T>>([&](auto x) { return model(x); });
  auto opt = tg::optim::make(step, tg::optim::AdamW{}, tg::sched::Constant{1e-3});
  std::mt19937 g(7);
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  const auto report = [&](const char* when) {
    fill(x, y, g);
    const float loss = step(x, y);
    const auto logits = predict(x);
    std::size_t right = 0;
    for (std::size_t i = 0; i < B * T; ++i) {
      std::size_t best = 0;
      for (std::size_t k = 1; k < V; ++k)
        if (logits(i, k) > logits(i, best)) best = k;
      right += best == std::size_t(y[i]);
    }
    std::printf("%s: loss %.4f, next-token accuracy %.3f\n", when, loss, double(right) / double(B * T));
  };
  report("before");
  for (int s = 0; s < steps; ++s) {
    fill(x, y, g);
    step(x, y);
    opt.update(step);
  }
  report("after");
  return 0;
}
