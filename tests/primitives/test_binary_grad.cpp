// Numerical gradient checks of every binary and ternary element-wise primitive, in double (< 1e-6) and float (< 1e-3),
// on fresh random inputs, with broadcasting over several shapes.
#include "support.hpp"

using namespace tgtest;
using tg::shape;

namespace {

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

TEST_CASE("binary gradients, equal shapes", "[gradcheck]") { binary_suite<shape<3, 4>, shape<3, 4>>(); }
TEST_CASE("binary gradients, trailing broadcast (bias)", "[gradcheck]") { binary_suite<shape<3, 4>, shape<4>>(); }
TEST_CASE("binary gradients, both sides broadcast", "[gradcheck]") { binary_suite<shape<2, 1, 5>, shape<3, 1>>(); }
TEST_CASE("binary gradients, scalar against matrix", "[gradcheck]") { binary_suite<shape<>, shape<2, 3>>(); }
TEST_CASE("binary gradients, interior broadcast", "[gradcheck]") { binary_suite<shape<4, 1, 3>, shape<4, 2, 1>>(); }
