// A compiled step makes no heap allocation: operator new is counted around the calls.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "typegrad/typegrad.hpp"

// operator new is replaced by a counter (bench/allocation_counter.cpp, linked into this binary)
std::size_t heap_allocations();

TEST_CASE("a compiled training step allocates nothing", "[integration]") {
  tg::Linear<32, 16> fc1(1);
  tg::Linear<16, 4> fc2(2);
  auto step = tg::compile<tg::Input<float, 8, 32>, tg::Labels<8, 4>>(
      [&](auto x, auto y) { return tg::cross_entropy(fc2(tg::gelu(fc1(x))), y) + tg::mean(tg::softmax<1>(fc2(tg::relu(fc1(x))))); });
  auto infer = tg::compile_inference<tg::Input<float, 1, 32>>([&](auto x) { return tg::softmax<1>(fc2(tg::tanh(fc1(x)))); });
  tg::Tensor<float, 8, 32> x(0.25f);
  tg::Tensor<std::int32_t, 8> y(1);
  tg::Tensor<float, 1, 32> one(0.5f);
  step(x, y);  // warm-up: BLAS may allocate its buffers on first use
  infer(one);
  const std::size_t before = heap_allocations();
  float total = 0;
  for (int i = 0; i < 10; ++i) {
    total += step(x, y);
    total += infer(one)[0];
  }
  const std::size_t during = heap_allocations() - before;
  CHECK(std::isfinite(total));
  CHECK(during == 0);
  // the counter works: a program's construction allocates
  const std::size_t before_build = heap_allocations();
  auto another = tg::compile_inference<tg::Input<float, 1, 32>>([&](auto v) { return fc1(v); });
  CHECK(heap_allocations() > before_build);
  (void)another;
}

TEST_CASE("conv, pooling, recurrent and attention steps with optimizer updates allocate nothing", "[integration]") {
  using LeNet = tg::Sequential<tg::Conv2d<1, 4, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Flatten, tg::Linear<576, 10>,
                               tg::LogSoftmax<1>>;
  LeNet lenet;
  auto conv_step = tg::compile<tg::Input<float, 4, 1, 28, 28>, tg::Labels<4, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(lenet(x), y); });
  auto conv_opt = tg::optim::make(conv_step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
  tg::LSTM<8, 16> lstm(3);
  tg::Tensor<float, 4, 6, 16> target(0.1f);
  auto lstm_step = tg::compile<tg::Input<float, 4, 6, 8>>([&](auto x) { return tg::mse(lstm(x), target); });
  auto lstm_opt = tg::optim::make(lstm_step, tg::optim::Adam{}, tg::sched::Constant{1e-3}, {.clip_norm = 1.0});
  tg::TransformerEncoderBlock<16, 2, 32, true> block(4);
  tg::Tensor<float, 2, 8, 16> block_target(0.0f);
  auto block_step = tg::compile<tg::Input<float, 2, 8, 16>>([&](auto x) { return tg::mse(block(x), block_target); });
  auto block_opt = tg::optim::make(block_step, tg::optim::AdamW{}, tg::sched::Cosine{1e-3, 100});
  tg::Tensor<float, 4, 1, 28, 28> images(0.3f);
  tg::Tensor<std::int32_t, 4> labels(2);
  tg::Tensor<float, 4, 6, 8> sequence(0.2f);
  tg::Tensor<float, 2, 8, 16> tokens(0.5f);
  const auto all_steps = [&] {
    float total = conv_step(images, labels);
    conv_opt.update(conv_step);
    total += lstm_step(sequence);
    lstm_opt.update(lstm_step);
    total += block_step(tokens);
    block_opt.update(block_step);
    return total;
  };
  all_steps();  // warm-up: GEMM kernels are dispatched on first use
  const std::size_t before = heap_allocations();
  float total = 0;
  for (int i = 0; i < 5; ++i) total += all_steps();
  CHECK(std::isfinite(total));
  CHECK(heap_allocations() - before == 0);
}

namespace {
// a small decoder-only language model: blocks through tg::Repeat, residuals through tg::let
struct TinyGpt {
  BOOST_HANA_DEFINE_STRUCT(TinyGpt, (tg::Embedding<12, 16>, token), (tg::PositionalEmbedding<8, 16>, position),
                           (tg::Repeat<3, tg::TransformerEncoderBlock<16, 2, 32, true>>, blocks),
                           (tg::LayerNorm<16>, norm), (tg::Linear<16, 12>, head));
  template <class X>
  auto operator()(X&& tokens) const {
    return tg::reshape<2 * 8, 12>(head(norm(blocks(position(token(std::forward<X>(tokens)))))));
  }
};
}  // namespace

TEST_CASE("deep programs (repeated Transformer blocks, a ResNet) allocate nothing per step", "[integration]") {
  auto gpt = std::make_unique<TinyGpt>();
  auto gpt_step = tg::compile<tg::Input<std::int32_t, 2, 8>, tg::Labels<16, 12>>(
      [&](auto x, auto y) { return tg::cross_entropy((*gpt)(x), y); });
  auto gpt_opt = tg::optim::make(gpt_step, tg::optim::AdamW{}, tg::sched::Constant{1e-3}, {.clip_norm = 1.0});
  auto resnet = std::make_unique<tg::ResNet<14, 1, 4, float, 4>>(2);
  auto resnet_step = tg::compile<tg::Input<float, 4, 1, 8, 8>, tg::Labels<4, 4>>(
      [&](auto x, auto y) { return tg::cross_entropy((*resnet)(x), y); });
  auto resnet_opt = tg::optim::make(resnet_step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
  tg::Tensor<std::int32_t, 2, 8> tokens;
  tg::Tensor<std::int32_t, 16> next;
  for (std::size_t i = 0; i < 16; ++i) {
    tokens[i] = std::int32_t(i % 12);
    next[i] = std::int32_t((i + 1) % 12);
  }
  tg::Tensor<float, 4, 1, 8, 8> images(0.3f);
  tg::Tensor<std::int32_t, 4> labels(1);
  const auto both = [&] {
    float total = gpt_step(tokens, next);
    gpt_opt.update(gpt_step);
    total += resnet_step(images, labels);
    resnet_opt.update(resnet_step);
    return total;
  };
  both();  // warm-up
  const std::size_t before = heap_allocations();
  float total = 0;
  for (int i = 0; i < 5; ++i) total += both();
  CHECK(std::isfinite(total));
  CHECK(heap_allocations() - before == 0);
}
