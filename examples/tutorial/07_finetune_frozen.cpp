// Tutorial 7: fine-tuning with frozen layers.
//
// An MLP is trained on task A (which of the four quadrants is the point in?). A new model with a two-class head
// takes over its first two layers, frozen, and trains only the head on task B (is the point in the upper half?),
// on the features the frozen layers learned for task A. (A task those features do not carry, such as "same
// sign?", an XOR of quadrants, stays near 0.7 with frozen features and reaches 1.0 only when they train too.)
//
// tg::frozen(layer) marks a layer's parameters as constants of the program: no gradient code is generated for
// them and the optimizer keeps no state for them (the step has fewer trainable leaves, checked at compile time).
#include <cstring>
#include <random>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "tutorial.hpp"

constexpr std::size_t B = 128;

template <std::size_t Classes>
struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<2, 64>, fc1), (tg::Linear<64, 64>, fc2), (tg::Linear<64, Classes>, head));
  explicit Mlp(std::uint64_t seed) { tg::init::initialize(*this, seed); }
  auto features(auto x) const { return tg::tanh(fc2(tg::tanh(fc1(x)))); }
};

template <class Label>
void sample(tg::Tensor<float, B, 2>& x, tg::Tensor<std::int32_t, B>& y, std::mt19937& gen, Label label) {
  std::uniform_real_distribution<float> u(-2, 2);
  for (std::size_t i = 0; i < B; ++i) {
    x(i, 0) = u(gen);
    x(i, 1) = u(gen);
    y[i] = label(x(i, 0), x(i, 1));
  }
}

int main() {
  const auto quadrant = [](float a, float b) { return (a > 0) + 2 * (b > 0); };
  const auto upper_half = [](float, float b) { return b > 0; };
  std::mt19937 gen(10);
  tg::Tensor<float, B, 2> x;
  tg::Tensor<std::int32_t, B> y;

  // 1. task A, every layer trainable
  Mlp<4> base(11);
  auto step_a = tg::compile<tg::Input<float, B, 2>, tg::Labels<B, 4>>(
      [&](auto xs, auto ys) { return tg::cross_entropy(base.head(base.features(xs)), ys); });
  auto adam_a = tg::optim::make(step_a, tg::optim::Adam{}, tg::sched::Constant{1e-2});
  for (int it = 0; it < 1000; ++it) {
    sample(x, y, gen, quadrant);
    step_a(x, y);
    adam_a.update(step_a);
  }

  // 2. task B: a new model with base's features (copied by name: fc1.*, fc2.*) and a fresh two-class head
  Mlp<2> tuned(12);
  tg::for_each_parameter(tuned, [&](const std::string& name, auto& p) {
    tg::for_each_parameter(base, [&](const std::string& other, const auto& q) {
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(p)>, std::remove_cvref_t<decltype(q)>>)
        if (name == other) std::memcpy(p.data(), q.data(), p.size() * sizeof(float));
    });
  });
  const std::vector<float> fc1_before(tuned.fc1.weight.data(), tuned.fc1.weight.data() + tuned.fc1.weight.size());
  auto step_b = tg::compile<tg::Input<float, B, 2>, tg::Labels<B, 2>>([&](auto xs, auto ys) {
    return tg::cross_entropy(tuned.head(tg::frozen(tuned.fc2)(tg::tanh(tg::frozen(tuned.fc1)(xs)))), ys);
  });
  static_assert(decltype(step_b)::gradient_leaf_count == 2, "only the head's weight and bias are trained");
  auto predict_b =
      tg::compile_inference<tg::Input<float, B, 2>>([&](auto xs) { return tuned.head(tuned.features(xs)); });
  auto adam_b = tg::optim::make(step_b, tg::optim::Adam{}, tg::sched::Constant{1e-2});
  for (int it = 0; it < 1000; ++it) {
    sample(x, y, gen, upper_half);
    step_b(x, y);
    adam_b.update(step_b);
  }
  double accuracy = 0;
  for (int t = 0; t < 8; ++t) {
    sample(x, y, gen, upper_half);
    accuracy += tutorial::accuracy(predict_b(x), y, B, 2) / 8;
  }
  const bool unchanged =
      std::memcmp(fc1_before.data(), tuned.fc1.weight.data(), fc1_before.size() * sizeof(float)) == 0;
  std::printf("task B held-out accuracy with frozen features: %.3f; fc1.weight unchanged: %s\n", accuracy,
              unchanged ? "yes" : "no");
  tutorial::expect(unchanged, "the frozen layers' weights are bit-for-bit what task A left");
  tutorial::expect(accuracy > 0.95, "a new head on the frozen features learns task B (accuracy above 0.95)");
  return tutorial::result();
}
