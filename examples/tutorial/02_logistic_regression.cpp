// Tutorial 2: logistic regression with binary cross-entropy, trained by an optimizer.
//
//   p(y = 1 | x) = sigmoid(w^T x + b)
//   J(w, b) = mean_i [ -z_i log p_i - (1 - z_i) log(1 - p_i) ]
//
// tg::binary_cross_entropy_with_logits computes J from the logits w^T x + b without forming p (stable for any
// logit). Instead of updating by hand (tutorial 1), tg::optim::make builds an optimizer over every trainable
// parameter the step found in its expression.
#include <random>
#include <typegrad/typegrad.hpp>

#include "tutorial.hpp"

constexpr std::size_t m = 512;

// two Gaussian clouds, class 1 centred at (1.5, 1.5), class 0 at (-1.5, -1.5)
void sample(tg::Tensor<double, m, 2>& x, tg::Tensor<double, m, 1>& z, std::mt19937& gen) {
  std::normal_distribution<double> spread(0.0, 1.0);
  for (std::size_t i = 0; i < m; ++i) {
    z(i, 0) = double(i % 2);
    const double c = z(i, 0) > 0 ? 1.5 : -1.5;
    x(i, 0) = c + spread(gen);
    x(i, 1) = c + spread(gen);
  }
}

int main() {
  std::mt19937 gen(2);
  tg::Tensor<double, m, 2> x, x_test;
  tg::Tensor<double, m, 1> z, z_test;
  sample(x, z, gen);
  sample(x_test, z_test, gen);

  tg::Parameter<double, 2, 1> w;
  tg::Parameter<double, 1> b;
  auto logits = [&](auto xs) { return tg::matmul(xs, w) + b; };
  auto step = tg::compile<tg::Input<double, m, 2>, tg::Input<double, m, 1>>(
      [&](auto xs, auto zs) { return tg::binary_cross_entropy_with_logits(logits(xs), zs); });
  auto predict = tg::compile_inference<tg::Input<double, m, 2>>(logits);  // forward only: no gradient code
  auto sgd = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.5});

  const double first = step(x, z);
  double loss = first;
  for (int it = 0; it < 300; ++it) {
    loss = step(x, z);
    sgd.update(step);
  }
  const auto out = predict(x_test);
  std::size_t right = 0;
  for (std::size_t i = 0; i < m; ++i) right += (out(i, 0) > 0) == (z_test(i, 0) > 0);
  const double accuracy = double(right) / double(m);
  std::printf("loss %.4f -> %.4f; w = [%.3f, %.3f], b = %.3f; held-out accuracy %.3f\n", first, loss, w.data()[0],
              w.data()[1], b.data()[0], accuracy);
  tutorial::expect(loss < 0.5 * first, "training halves the cross-entropy");
  tutorial::expect(accuracy > 0.95, "held-out accuracy above 0.95 (the clouds overlap a little)");
  return tutorial::result();
}
