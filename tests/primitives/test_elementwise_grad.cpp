// Numerical gradient checks of every element-wise primitive, in double (< 1e-6) and float (< 1e-3),
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
  SECTION("softplus") { check_primitive([](auto a) { return tg::softplus(a); }, random_of<double, S>(-25, 25, {20.0})); }
  SECTION("clamp") {
    check_primitive([](auto a) { return tg::clamp(a, -0.5, 1.0); }, random_of<double, S>(-2, 2, {-0.5, 1.0}));
  }
  SECTION("pow with a scalar exponent") { check_primitive([](auto a) { return tg::pow(a, 2.5); }, pos()); }
  SECTION("chain of eight element-wise ops") {
    check_primitive([](auto a) { return tg::tanh(tg::exp(a * 0.5) - tg::sigmoid(a) * 2.0 + tg::gelu(a)) / 3.0; }, x());
  }
}

template <class SA, class SB>
void binary_suite() {
  auto a = [] { return random_of<double, SA>(-2, 2); };
  auto b = [] { return random_of<double, SB>(-2, 2); };
  SECTION("add") { check_primitive([](auto p, auto q) { return p + q; }, a(), b()); }
  SECTION("sub") { check_primitive([](auto p, auto q) { return p - q; }, a(), b()); }
  SECTION("mul") { check_primitive([](auto p, auto q) { return p * q; }, a(), b()); }
  SECTION("div") { check_primitive([](auto p, auto q) { return p / q; }, a(), random_of<double, SB>(0.5, 2)); }
  SECTION("pow") { check_primitive([](auto p, auto q) { return tg::pow(p, q); }, random_of<double, SA>(0.5, 2), b()); }
  SECTION("minimum") { check_primitive([](auto p, auto q) { return tg::minimum(p, q); }, a(), b()); }
  SECTION("maximum") { check_primitive([](auto p, auto q) { return tg::maximum(p, q); }, a(), b()); }
  SECTION("where (condition from a comparison)") {
    check_primitive([](auto p, auto q) { return tg::where(p > q, p * q, p - q); }, a(), b());
  }
}

}  // namespace

TEST_CASE("unary element-wise gradients, rank 1", "[gradcheck]") { unary_suite<shape<7>>(); }
TEST_CASE("unary element-wise gradients, rank 3", "[gradcheck]") { unary_suite<shape<2, 3, 4>>(); }
TEST_CASE("unary element-wise gradients, scalar", "[gradcheck]") { unary_suite<shape<>>(); }

TEST_CASE("binary gradients, equal shapes", "[gradcheck]") { binary_suite<shape<3, 4>, shape<3, 4>>(); }
TEST_CASE("binary gradients, trailing broadcast (bias)", "[gradcheck]") { binary_suite<shape<3, 4>, shape<4>>(); }
TEST_CASE("binary gradients, both sides broadcast", "[gradcheck]") { binary_suite<shape<2, 1, 5>, shape<3, 1>>(); }
TEST_CASE("binary gradients, scalar against matrix", "[gradcheck]") { binary_suite<shape<>, shape<2, 3>>(); }
TEST_CASE("binary gradients, interior broadcast", "[gradcheck]") { binary_suite<shape<4, 1, 3>, shape<4, 2, 1>>(); }
