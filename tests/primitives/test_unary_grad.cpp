// Numerical gradient checks of every unary element-wise primitive, in double (< 1e-6) and float (< 1e-3),
// on fresh random inputs, with broadcasting over several shapes.
#include "support.hpp"

using namespace tgtest;
using tg::shape;

namespace {

template <class S>
void unary_suite() {
  auto x = [] { return random_of<double, S>(-2, 2, {0.0}); };
  auto pos = [] { return random_of<double, S>(0.3, 3); };
  SECTION("neg") { check_primitive([](auto a) { return -a; }, x()); }
  SECTION("exp") { check_primitive([](auto a) { return tg::exp(a); }, x()); }
  SECTION("log") { check_primitive([](auto a) { return tg::log(a); }, pos()); }
  SECTION("sqrt") { check_primitive([](auto a) { return tg::sqrt(a); }, pos()); }
  SECTION("abs") { check_primitive([](auto a) { return tg::abs(a); }, x()); }
  SECTION("tanh") { check_primitive([](auto a) { return tg::tanh(a); }, x()); }
  SECTION("sigmoid") { check_primitive([](auto a) { return tg::sigmoid(a); }, random_of<double, S>(-30, 30)); }
  SECTION("relu") { check_primitive([](auto a) { return tg::relu(a); }, x()); }
  SECTION("leaky_relu") { check_primitive([](auto a) { return tg::leaky_relu(a, 0.2); }, x()); }
  SECTION("gelu") { check_primitive([](auto a) { return tg::gelu(a); }, x()); }
  SECTION("gelu_tanh") { check_primitive([](auto a) { return tg::gelu_tanh(a); }, x()); }
  SECTION("softplus") { check_primitive([](auto a) { return tg::softplus(a); }, random_of<double, S>(-25, 25, {20.0})); }
  SECTION("clamp") {
    check_primitive([](auto a) { return tg::clamp(a, -0.5, 1.0); }, random_of<double, S>(-2, 2, {-0.5, 1.0}));
  }
  SECTION("pow with a scalar exponent") { check_primitive([](auto a) { return tg::pow(a, 2.5); }, pos()); }
  SECTION("chain of eight element-wise ops") {
    check_primitive([](auto a) { return tg::tanh(tg::exp(a * 0.5) - tg::sigmoid(a) * 2.0 + tg::gelu(a)) / 3.0; }, x());
  }
}

}  // namespace

TEST_CASE("unary element-wise gradients, rank 1", "[gradcheck]") { unary_suite<shape<7>>(); }
TEST_CASE("unary element-wise gradients, rank 3", "[gradcheck]") { unary_suite<shape<2, 3, 4>>(); }
TEST_CASE("unary element-wise gradients, scalar", "[gradcheck]") { unary_suite<shape<>>(); }

TEST_CASE("gelu_tanh is PyTorch's approximate=\"tanh\" GELU", "[value]") {
  // F.gelu(x, approximate="tanh") = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) at 1, -0.5, 2.5, -3
  const tg::Tensor<double, 4> x{1.0, -0.5, 2.5, -3.0};
  auto p = tgtest::compile_inference<tg::Input<double, 4>>([](auto a) { return tg::gelu_tanh(a); });
  const auto y = p(x);
  CHECK(y[0] == Approx(0.8411919906082768).epsilon(1e-14));
  CHECK(y[1] == Approx(-0.15428599017485606).epsilon(1e-14));
  CHECK(y[2] == Approx(2.484915733910001).epsilon(1e-14));
  CHECK(y[3] == Approx(-0.0036373920817729943).epsilon(1e-13));
}
