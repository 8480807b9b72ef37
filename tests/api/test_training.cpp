// A short deterministic training run: an MLP learns a nonlinear 2-class problem (two interleaved spirals'
// worth of XOR-like quadrants) with SGD on the compiled step.
#include "support.hpp"

namespace {
struct Mlp {
  tg::Linear<2, 16> fc1{1};
  tg::Linear<16, 16> fc2{2};
  tg::Linear<16, 2> fc3{3};
  auto operator()(auto x) const { return fc3(tg::tanh(fc2(tg::tanh(fc1(x))))); }
};
}  // namespace

TEST_CASE("an MLP learns XOR-like data with the compiled step", "[integration]") {
  Mlp model;
  auto step = tg::compile<tg::Input<float, 64, 2>, tg::Labels<64, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto sgd = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.5});
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  tg::Tensor<float, 64, 2> x;
  tg::Tensor<std::int32_t, 64> y;
  float first = 0, last = 0;
  for (int it = 0; it < 600; ++it) {
    for (std::size_t b = 0; b < 64; ++b) {
      x(b, 0) = u(rng);
      x(b, 1) = u(rng);
      y[b] = (x(b, 0) > 0) != (x(b, 1) > 0);
    }
    const float loss = step(x, y);
    REQUIRE(std::isfinite(loss));
    if (it == 0) first = loss;
    last = loss;
    sgd.update(step);
  }
  INFO("first loss " << first << ", last loss " << last);
  CHECK(first > 0.6f);
  CHECK(last < 0.2f);
}
