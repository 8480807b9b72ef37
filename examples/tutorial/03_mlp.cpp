// Tutorial 3: a multi-layer perceptron on a problem no linear model solves.
//
//   h1 = tanh(x W1^T + b1),  h2 = tanh(h1 W2^T + b2),  logits = h2 W3^T + b3,  J = cross_entropy(logits, y)
//
// Layers (tg::Linear) hold their parameters in PyTorch's layout. Declaring the model's members with
// BOOST_HANA_DEFINE_STRUCT lets typegrad walk them: parameter names (fc1.weight), saving, loading, initialising.
// The label of a point is whether it lies inside the circle of radius 1.2: the boundary is curved.
#include <random>
#include <typegrad/typegrad.hpp>

#include "tutorial.hpp"

constexpr std::size_t B = 128;

struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<2, 32>, fc1), (tg::Linear<32, 32>, fc2), (tg::Linear<32, 2>, fc3));
  explicit Mlp(std::uint64_t seed) { tg::init::initialize(*this, seed); }  // one random stream for all layers
  auto operator()(auto x) const { return fc3(tg::tanh(fc2(tg::tanh(fc1(x))))); }
};

void sample(tg::Tensor<float, B, 2>& x, tg::Tensor<std::int32_t, B>& y, std::mt19937& gen) {
  std::uniform_real_distribution<float> u(-2, 2);
  for (std::size_t i = 0; i < B; ++i) {
    x(i, 0) = u(gen);
    x(i, 1) = u(gen);
    y[i] = x(i, 0) * x(i, 0) + x(i, 1) * x(i, 1) < 1.44f;
  }
}

int main() {
  Mlp model(3);
  std::printf("parameters:");
  for (const auto& name : tg::parameter_names(model)) std::printf(" %s", name.c_str());
  std::printf(" (%zu numbers)\n", tg::parameter_count(model));

  auto step = tg::compile<tg::Input<float, B, 2>, tg::Labels<B, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto predict = tg::compile_inference<tg::Input<float, B, 2>>([&](auto x) { return model(x); });
  auto adam = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{1e-2});

  std::mt19937 gen(4);
  tg::Tensor<float, B, 2> x;
  tg::Tensor<std::int32_t, B> y;
  for (int it = 0; it < 1500; ++it) {  // a fresh batch every step
    sample(x, y, gen);
    step(x, y);
    adam.update(step);
  }
  double accuracy = 0;
  for (int t = 0; t < 8; ++t) {  // 1024 held-out points
    sample(x, y, gen);
    accuracy += tutorial::accuracy(predict(x), y, B, 2) / 8;
  }
  std::printf("held-out accuracy %.3f\n", accuracy);
  tutorial::expect(accuracy > 0.95, "the MLP learns the circle (held-out accuracy above 0.95)");
  return tutorial::result();
}
