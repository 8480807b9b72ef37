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
  // p apart from every q it meets (1e-2 >> the checker's step): no pair straddles the kink p = q
  auto b_and_a_apart = [&] {
    const auto q = b();
    return std::pair{random_apart_from<double, SA>(q), q};
  };
  SECTION("minimum") {
    const auto [p, q] = b_and_a_apart();
    check_primitive([](auto u, auto v) { return tg::minimum(u, v); }, p, q);
  }
  SECTION("maximum") {
    const auto [p, q] = b_and_a_apart();
    check_primitive([](auto u, auto v) { return tg::maximum(u, v); }, p, q);
  }
  SECTION("where (condition from a comparison)") {
    const auto [p, q] = b_and_a_apart();
    check_primitive([](auto u, auto v) { return tg::where(u > v, u * v, u - v); }, p, q);
  }
}

}  // namespace

TEST_CASE("binary gradients, equal shapes", "[gradcheck]") { binary_suite<shape<3, 4>, shape<3, 4>>(); }
TEST_CASE("binary gradients, trailing broadcast (bias)", "[gradcheck]") { binary_suite<shape<3, 4>, shape<4>>(); }
TEST_CASE("binary gradients, both sides broadcast", "[gradcheck]") { binary_suite<shape<2, 1, 5>, shape<3, 1>>(); }
TEST_CASE("binary gradients, scalar against matrix", "[gradcheck]") { binary_suite<shape<>, shape<2, 3>>(); }
TEST_CASE("binary gradients, interior broadcast", "[gradcheck]") { binary_suite<shape<4, 1, 3>, shape<4, 2, 1>>(); }
