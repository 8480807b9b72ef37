// Losses: numerical gradient checks (double < 1e-6, float < 1e-3) and values against their formulas.
#include "support.hpp"

using namespace tgtest;

namespace {
template <class F, class... Args>
void check_loss(F f, const Args&... args) {
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, args...), 1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients_in<float>(f, args...), 1e-3);
}
double value(auto f, const auto&... args) { return tg::value_and_grad(f, args...).value; }
}  // namespace

TEST_CASE("regression losses", "[gradcheck]") {
  auto p = random<double, 4, 3>(-2, 2);
  auto t = random<double, 4, 3>(-2, 2);
  SECTION("mse") {
    auto f = [](auto a, auto b) { return tg::mse(a, b); };
    check_loss(f, p, t);
    double e = 0;
    for (std::size_t i = 0; i < 12; ++i) e += (p[i] - t[i]) * (p[i] - t[i]) / 12;
    CHECK(value(f, p, t) == near(e, 1e-12));
  }
  SECTION("l1") {
    auto f = [](auto a, auto b) { return tg::l1(a, b); };
    check_loss(f, p, t);
    double e = 0;
    for (std::size_t i = 0; i < 12; ++i) e += std::abs(p[i] - t[i]) / 12;
    CHECK(value(f, p, t) == near(e, 1e-12));
  }
  SECTION("huber, on both sides of delta") {
    auto f = [](auto a, auto b) { return tg::huber(a, b, 0.7); };
    // keep |p - t| away from delta, where the loss's second derivative jumps
    for (std::size_t i = 0; i < 12; ++i)
      if (std::abs(std::abs(p[i] - t[i]) - 0.7) < 1e-2) p[i] += 0.05;
    check_loss(f, p, t);
    double e = 0;
    for (std::size_t i = 0; i < 12; ++i) {
      const double d = std::abs(p[i] - t[i]);
      e += (d <= 0.7 ? 0.5 * d * d : 0.7 * (d - 0.35)) / 12;
    }
    CHECK(value(f, p, t) == near(e, 1e-12));
  }
}

TEST_CASE("binary cross-entropy with logits", "[gradcheck]") {
  auto x = random<double, 5, 2>(-30, 30);
  auto z = random<double, 5, 2>(0, 1);
  auto f = [](auto a, auto b) { return tg::binary_cross_entropy_with_logits(a, b); };
  check_loss(f, x, z);
  double e = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    const double pos = x[i] > 0 ? -std::log1p(std::exp(-x[i])) : x[i] - std::log1p(std::exp(x[i]));  // log s
    const double neg = pos - x[i];                                                                    // log(1 - s)
    e -= (z[i] * pos + (1 - z[i]) * neg) / 10;
  }
  CHECK(value(f, x, z) == near(e, 1e-10));
}

TEST_CASE("L1 and L2 penalties over chosen parameters", "[gradcheck]") {
  tg::Linear<3, 2, double> fc(5);
  auto x = random<double, 4, 3>();
  // the penalties reach the parameters' gradients: check_gradients covers them too
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::mean(fc(v)) + 0.1 * tg::l2_penalty(fc.weight, fc.bias); }, x),
                     1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::mean(fc(v)) + 0.1 * tg::l1_penalty(fc.weight); }, x), 1e-6);
  auto r = tg::value_and_grad([&](auto v) { return tg::mean(v) * 0.0 + tg::l2_penalty(fc.weight); }, x);
  double e = 0;
  for (double w : fc.weight.value) e += w * w;
  CHECK(r.value == near(e, 1e-12));
  const auto g = r.grad(fc.weight);
  for (std::size_t i = 0; i < 6; ++i) CHECK(g[i] == Approx(2 * fc.weight.value[i]));
}
