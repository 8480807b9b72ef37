// The float exp and tanh (core/fast_math.hpp) in a loop the compiler vectorises: this file is built with -O3
// -march=native and no sanitizers (the other tests run at -O0, where every call is scalar). The selects are bit
// masks there (math::select); special values must give what the scalar calls give: NaN stays NaN, limits hold.
#include <cmath>
#include <iterator>
#include <limits>
#include <vector>

#include "support.hpp"

namespace {
// the loop the vectoriser sees (restrict pointers, a fixed trip count)
void exp_and_tanh(const float* __restrict x, float* __restrict e, float* __restrict t) {
  for (std::size_t i = 0; i < 64; ++i) {
    e[i] = tg::math::exp(x[i]);
    t[i] = tg::math::tanh(x[i]);
  }
}
void exp_nonpositive(const float* __restrict x, float* __restrict e) {
  for (std::size_t i = 0; i < 64; ++i) e[i] = tg::math::exp_nonpositive(x[i]);
}
}  // namespace

TEST_CASE("fast exp and tanh: a vectorised loop over special values agrees with the scalar calls", "[integration]") {
  constexpr float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float specials[] = {nan,    inf,    -inf, 0.0f,   -0.0f, 88.7f,  88.8f,
                            -87.3f, -87.4f, 7.9f, -7.91f, 1e30f, -1e30f, 0.5f};
  std::vector<float> x(64), e(64), t(64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = specials[i % std::size(specials)];
  exp_and_tanh(x.data(), e.data(), t.data());
  for (std::size_t i = 0; i < 64; ++i) {
    INFO("x = " << x[i]);
    const float es = tg::math::exp(x[i]), ts = tg::math::tanh(x[i]);
    CHECK((std::isnan(es) ? std::isnan(e[i]) : e[i] == es));
    CHECK((std::isnan(ts) ? std::isnan(t[i]) : t[i] == ts));
  }
  CHECK(std::isnan(e[0]));
  CHECK(e[1] == inf);
  CHECK(e[2] == 0.0f);
  // within 8 ulps of +-1 (test_fast_math's bound; ulps below 1 are epsilon / 2): with FMA contraction the fit at
  // its clamp gives 0.99999976, where tanh 7.905 is 0.99999973
  CHECK(std::abs(t[1] - 1.0f) <= 4 * std::numeric_limits<float>::epsilon());
  CHECK(std::abs(t[2] + 1.0f) <= 4 * std::numeric_limits<float>::epsilon());
}

TEST_CASE("exp_nonpositive: a vectorised loop over special values agrees with the scalar exp", "[integration]") {
  constexpr float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float specials[] = {nan, -inf, 0.0f, -0.0f, -87.3f, -87.4f, -1e30f, -0.5f, -1e-30f, -20.0f};
  std::vector<float> x(64), e(64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = specials[i % std::size(specials)];
  exp_nonpositive(x.data(), e.data());
  for (std::size_t i = 0; i < 64; ++i) {
    INFO("x = " << x[i]);
    const float es = tg::math::exp(x[i]);
    CHECK((std::isnan(es) ? std::isnan(e[i]) : e[i] == es));
  }
  CHECK(std::isnan(e[0]));
  CHECK(e[1] == 0.0f);
  CHECK(e[2] == 1.0f);
}
