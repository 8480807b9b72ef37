// Tutorial 6: a Transformer block learns to continue sequences that count up modulo V.
//
//   h = embed(tokens) + position;  h = h + attention(layer_norm1(h));  h = h + ffn(layer_norm2(h))  (pre-LN)
//   logits = h W_head^T + b_head;   J = cross_entropy over every position (next token)
//
// tg::TransformerEncoderBlock holds PyTorch's names (self_attn.in_proj_weight, linear1, norm1, ...), so its
// weights load from a PyTorch state_dict. Its residuals use tg::residual (tg::let): the input of each is held
// once in the expression's type, so blocks stack without the type doubling. The causal mask keeps position t
// from seeing later tokens, so the model must learn the rule from the past alone.
#include <random>
#include <typegrad/typegrad.hpp>

#include "tutorial.hpp"

constexpr std::size_t B = 16, T = 16, V = 12, E = 32;

struct CountingLm {
  BOOST_HANA_DEFINE_STRUCT(CountingLm, (tg::Embedding<V, E>, embed), (tg::PositionalEmbedding<T, E>, position),
                           (tg::TransformerEncoderBlock<E, 4, 64, /*causal=*/true>, block), (tg::Linear<E, V>, head));
  explicit CountingLm(std::uint64_t seed) { tg::init::initialize(*this, seed); }
  auto operator()(auto tokens) const {  // [B, T] token ids -> [B T, V] next-token logits
    return tg::reshape<B * T, V>(head(block(position(embed(tokens)))));
  }
};

// rows start at a random token and count up: 7 8 9 10 11 0 1 ...; the label of position t is token t + 1
void sample(tg::Tensor<std::int32_t, B, T>& x, tg::Tensor<std::int32_t, B * T>& y, std::mt19937& gen) {
  for (std::size_t r = 0; r < B; ++r) {
    std::int32_t v = std::int32_t(gen() % V);
    for (std::size_t t = 0; t < T; ++t, v = (v + 1) % std::int32_t(V)) {
      x(r, t) = v;
      y[r * T + t] = (v + 1) % std::int32_t(V);
    }
  }
}

int main() {
  CountingLm model(8);
  std::printf("%zu parameters, e.g. %s\n", tg::parameter_count(model), tg::parameter_names(model)[3].c_str());
  auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto predict = tg::compile_inference<tg::Input<std::int32_t, B, T>>([&](auto x) { return model(x); });
  auto adamw = tg::optim::make(step, tg::optim::AdamW{}, tg::sched::Constant{3e-3});
  std::mt19937 gen(9);
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  sample(x, y, gen);
  const float first = step(x, y);
  for (int it = 0; it < 300; ++it) {
    sample(x, y, gen);
    step(x, y);
    adamw.update(step);
  }
  sample(x, y, gen);
  const float last = step.evaluate(x, y);  // forward only: the loss on a fresh batch
  const double accuracy = tutorial::accuracy(predict(x), y, B * T, V);
  std::printf("loss %.3f -> %.3f; next-token accuracy on a fresh batch %.3f\n", first, last, accuracy);
  tutorial::expect(accuracy > 0.9, "the block learns to count (next-token accuracy above 0.9)");
  return tutorial::result();
}
