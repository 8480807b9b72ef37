// Compile-cost probe for depth (bench/compile_times): the training step of a ResNet-20 (CIFAR variant, He et
// al. 2016: 3 stages x 3 BasicBlocks, 16/32/64 channels, BatchNorm, 1x1 projection shortcuts) on [32, 1, 28, 28]
// images, 10 classes, cross-entropy, SGD momentum. It also trains a few steps on one fixed batch and exits
// non-zero unless the loss went down.
#include <typegrad/typegrad.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

int main() {
  constexpr std::size_t B = 32;
  auto net = std::make_unique<tg::ResNet20<1, 10>>(1);
  auto step = tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy((*net)(x), y); });
  auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.02});
  tg::Tensor<float, B, 1, 28, 28> x;
  tg::Tensor<std::int32_t, B> y;
  std::mt19937 g(3);
  std::normal_distribution<float> n(0, 1);
  for (auto& v : x) v = n(g);
  for (std::size_t i = 0; i < B; ++i) y[i] = std::int32_t(i % 10);
  const float before = step(x, y);
  for (int s = 0; s < 5; ++s) {
    step(x, y);
    opt.update(step);
  }
  const float after = step(x, y);
  std::printf("resnet20 rows %zu kernels %zu working memory %zu bytes: loss %.4f -> %.4f\n", decltype(step)::node_count,
              decltype(step)::kernel_count, step.total_workspace_bytes(), before, after);
  return std::isfinite(after) && after < before ? 0 : 1;  // it trains
}
