// Tutorial 1: linear regression with mean squared error and plain gradient descent.
//
//   J(w, b) = 1/(2m) sum_i (w^T x_i + b - y_i)^2
//   dJ/dw   = 1/m sum_i (w^T x_i + b - y_i) x_i,     dJ/db = 1/m sum_i (w^T x_i + b - y_i)
//
// The forward computation is an ordinary expression; tg::compile turns it into a step whose backward pass the
// compiler generated. We compare that gradient with the closed form above, then descend by hand.
#include <cmath>
#include <random>
#include <typegrad/typegrad.hpp>

#include "tutorial.hpp"

constexpr std::size_t m = 256, n = 3;  // examples, features

int main() {
  // data: y = w_true . x + b_true + a little noise
  const double w_true[n] = {2.0, -3.0, 0.5}, b_true = 1.25;
  std::mt19937 gen(1);
  std::normal_distribution<double> feature(0.0, 1.0), noise(0.0, 0.01);
  tg::Tensor<double, m, n> x;
  tg::Tensor<double, m, 1> y;
  for (std::size_t i = 0; i < m; ++i) {
    y(i, 0) = b_true + noise(gen);
    for (std::size_t j = 0; j < n; ++j) {
      x(i, j) = feature(gen);
      y(i, 0) += w_true[j] * x(i, j);
    }
  }

  // the model's parameters, zero to start with; J is half the mean squared error
  tg::Parameter<double, n, 1> w;
  tg::Parameter<double, 1> b;
  auto step = tg::compile<tg::Input<double, m, n>, tg::Input<double, m, 1>>(
      [&](auto xs, auto ys) { return 0.5 * tg::mse(tg::matmul(xs, w) + b, ys); });

  // 1. the generated gradient equals the closed form (at a point where it is not zero)
  for (std::size_t j = 0; j < n; ++j) w.data()[j] = 0.1 * double(j + 1);
  b.data()[0] = -0.2;
  step(x, y);
  double dw[n] = {}, db = 0;
  for (std::size_t i = 0; i < m; ++i) {
    double r = b.data()[0] - y(i, 0);
    for (std::size_t j = 0; j < n; ++j) r += w.data()[j] * x(i, j);
    for (std::size_t j = 0; j < n; ++j) dw[j] += r * x(i, j) / double(m);
    db += r / double(m);
  }
  double worst = std::abs(step.grad(b)[0] - db);
  for (std::size_t j = 0; j < n; ++j) worst = std::max(worst, std::abs(step.grad(w)(j, 0) - dw[j]));
  std::printf("generated vs closed-form gradient: largest difference %.2e\n", worst);
  tutorial::expect(worst < 1e-12, "the generated gradient is the closed-form one");

  // 2. plain gradient descent: w <- w - lr dJ/dw, b <- b - lr dJ/db
  const double lr = 0.5;
  double loss = 0;
  for (int it = 0; it < 200; ++it) {
    loss = step(x, y);
    for (std::size_t j = 0; j < n; ++j) w.data()[j] -= lr * step.grad(w)(j, 0);
    b.data()[0] -= lr * step.grad(b)[0];
  }
  std::printf("after 200 steps: J = %.6f, w = [%.4f, %.4f, %.4f], b = %.4f (true [2, -3, 0.5], 1.25)\n", loss,
              w.data()[0], w.data()[1], w.data()[2], b.data()[0]);
  double err = std::abs(b.data()[0] - b_true);
  for (std::size_t j = 0; j < n; ++j) err = std::max(err, std::abs(w.data()[j] - w_true[j]));
  tutorial::expect(err < 0.01, "gradient descent recovers w and b within 0.01");
  return tutorial::result();
}
