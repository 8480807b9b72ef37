// Tutorial 5: an LSTM reads a sequence and says whether it held more +1s than -1s.
//
//   (i, f, g, o) = split(x_t W_ih^T + b_ih + h W_hh^T + b_hh);  c' = f c + i g;  h' = o tanh(c')
//
// tg::LSTM runs its cell with tg::scan: the expression's type holds one step, not T of them, and the backward
// pass through time is generated like any other. The classifier reads the last hidden state.
#include <random>
#include <typegrad/typegrad.hpp>

#include "tutorial.hpp"

constexpr std::size_t B = 64, T = 15, H = 16;

struct Counter {
  BOOST_HANA_DEFINE_STRUCT(Counter, (tg::LSTM<1, H>, lstm), (tg::Linear<H, 2>, head));
  explicit Counter(std::uint64_t seed) { tg::init::initialize(*this, seed); }
  auto operator()(auto xs) const {                 // [B, T, 1] -> logits [B, 2]
    auto last = tg::slice<1, T - 1, T>(lstm(xs));  // [B, 1, H]: the state after the whole sequence
    return head(tg::reshape<B, H>(last));
  }
};

void sample(tg::Tensor<float, B, T, 1>& x, tg::Tensor<std::int32_t, B>& y, std::mt19937& gen) {
  for (std::size_t b = 0; b < B; ++b) {
    int sum = 0;
    for (std::size_t t = 0; t < T; ++t) {
      x(b, t, 0) = gen() % 2 ? 1.0f : -1.0f;
      sum += x(b, t, 0) > 0 ? 1 : -1;
    }
    y[b] = sum > 0;  // T is odd: never a tie
  }
}

int main() {
  Counter model(6);
  auto step = tg::compile<tg::Input<float, B, T, 1>, tg::Labels<B, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto predict = tg::compile_inference<tg::Input<float, B, T, 1>>([&](auto x) { return model(x); });
  auto adam = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{1e-2});
  std::mt19937 gen(7);
  tg::Tensor<float, B, T, 1> x;
  tg::Tensor<std::int32_t, B> y;
  for (int it = 0; it < 600; ++it) {
    sample(x, y, gen);
    step(x, y);
    adam.update(step);
  }
  double accuracy = 0;
  for (int t = 0; t < 16; ++t) {  // 1024 fresh sequences
    sample(x, y, gen);
    accuracy += tutorial::accuracy(predict(x), y, B, 2) / 16;
  }
  std::printf("held-out accuracy %.3f on sequences of %zu steps\n", accuracy, T);
  tutorial::expect(accuracy > 0.9, "the LSTM counts (held-out accuracy above 0.9)");
  return tutorial::result();
}
