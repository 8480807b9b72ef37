// The vectorisable float tanh and exp against double precision over their whole range (vectorised loops:
// test_fast_math_vectorised.cpp).
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "support.hpp"

TEST_CASE("float tanh stays within a few ulps of tanh", "[integration]") {
  double worst_ulps = 0, worst_at = 0;
  std::size_t checked = 0;
  const auto check = [&](float x) {
    const double exact = std::tanh(double(x));
    const float got = tg::math::tanh(x);
    REQUIRE(std::abs(got) <= 1.0f);
    REQUIRE((x == 0 || std::signbit(got) == std::signbit(x)));
    // ulp of the exact value, in float
    const double ulp = std::max(double(std::nextafter(std::abs(float(exact)), 2.0f) - std::abs(float(exact))),
                                double(std::numeric_limits<float>::denorm_min()));
    const double ulps = std::abs(double(got) - exact) / ulp;
    if (ulps > worst_ulps) worst_ulps = ulps, worst_at = x;
    ++checked;
  };
  for (float x = -12.0f; x <= 12.0f; x += 1.0f / 4096) check(x);
  for (float x = 1e-30f; x < 1e-2f; x *= 1.01f) check(x), check(-x);
  check(0.0f);
  check(std::numeric_limits<float>::max());
  check(-std::numeric_limits<float>::infinity());
  INFO("worst " << worst_ulps << " ulps at " << worst_at << " over " << checked << " points");
  CHECK(worst_ulps <= 8);  // measured: 6.1 ulps (3.6e-7 absolute) near x = -5.92
  CHECK(std::isnan(tg::math::tanh(std::numeric_limits<float>::quiet_NaN())));                     // the clamp keeps NaN
  CHECK(std::abs(tg::math::tanh(std::numeric_limits<float>::infinity()) - 1.0f) <= 4 * 1.2e-7f);  // 8 ulps below 1
  // the primitive uses it for float and libm for double
  auto p = tg::compile_inference<tg::Input<float, 1, 3>>([](auto x) { return tg::tanh(x); });
  tg::Tensor<float, 1, 3> x;
  x[0] = 0.3f, x[1] = -2.0f, x[2] = 9.0f;
  const auto y = p(x);
  for (std::size_t i = 0; i < 3; ++i) CHECK(y[i] == tg::math::tanh(x[i]));
}

// exp_nonpositive is exp without its upper range (a softmax's x - max): on x <= 0 it must be exp, bit for bit
TEST_CASE("exp_nonpositive gives exp's bits on x <= 0", "[integration]") {
  std::size_t differ = 0, checked = 0;
  float first_differing = 0;
  const auto check = [&](float x) {
    ++checked;
    const float got = tg::math::exp_nonpositive(x), want = tg::math::exp(x);
    if (std::bit_cast<std::uint32_t>(got) != std::bit_cast<std::uint32_t>(want) && differ++ == 0) first_differing = x;
  };
  for (float x = -100.0f; x <= 0.0f; x += 1.0f / 1024) check(x);  // exp's zero below -87.34, its normal range
  for (float x = -1e-30f; x > -1.0f; x *= 1.01f) check(x);        // tiny arguments: e^x rounds to 1 or just below
  for (const float x : {0.0f, -0.0f, -87.33654022216796875f, -87.3365478515625f, -1e30f,
                        -std::numeric_limits<float>::max(), -std::numeric_limits<float>::infinity()})
    check(x);
  INFO(differ << " of " << checked << " differ, the first at " << first_differing);
  CHECK(differ == 0);
  CHECK(tg::math::exp_nonpositive(-std::numeric_limits<float>::infinity()) == 0.0f);  // a masked score
  CHECK(std::isnan(tg::math::exp_nonpositive(std::numeric_limits<float>::quiet_NaN())));
  CHECK(tg::math::exp_nonpositive_of(-1.5) == std::exp(-1.5));  // double: libm
}

TEST_CASE("float exp stays within 2 ulps of exp, with exact limits", "[integration]") {
  double worst_ulps = 0, worst_at = 0;
  for (float x = -87.3f; x <= 88.7f; x += 1.0f / 1024) {
    const double exact = std::exp(double(x));
    const float got = tg::math::exp(x);
    const double ulp = double(std::nextafter(float(exact), std::numeric_limits<float>::infinity()) - float(exact));
    const double ulps = std::abs(double(got) - exact) / ulp;
    if (ulps > worst_ulps) worst_ulps = ulps, worst_at = x;
  }
  INFO("worst " << worst_ulps << " ulps at " << worst_at);
  CHECK(worst_ulps <= 2);
  CHECK(tg::math::exp(0.0f) == 1.0f);
  CHECK(tg::math::exp(89.0f) == std::numeric_limits<float>::infinity());
  CHECK(tg::math::exp(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(tg::math::exp(-90.0f) == 0.0f);
  CHECK(tg::math::exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isnan(tg::math::exp(std::numeric_limits<float>::quiet_NaN())));
  // sigmoid built on it keeps its limits and relative accuracy far into the tails
  auto p = tg::compile_inference<tg::Input<float, 1, 5>>([](auto x) { return tg::sigmoid(x); });
  tg::Tensor<float, 1, 5> x;
  x[0] = -200.0f, x[1] = -80.0f, x[2] = -3.0f, x[3] = 15.0f, x[4] = 200.0f;
  const auto y = p(x);
  CHECK(y[0] == 0.0f);
  CHECK(y[4] == 1.0f);
  for (std::size_t i = 1; i < 4; ++i) {
    const double exact = 1.0 / (1.0 + std::exp(-double(x[i])));
    CHECK(std::abs(y[i] - exact) / exact < 1e-6);
  }
}
