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

// A region that a matmul reads is materialised, and its backward loop runs over rows of the last axis when
// an operand is broadcast along leading axes (row_index): operands broadcast along leading axes, along the
// last axis, and along interior axes are indexed per row there. d/d(p, q) of sum(tanh(f(p, q) M)).
namespace {
// element of a [From] operand under flat index i of the broadcast result [To], by NumPy's rule
template <class From, class To>
std::size_t numpy_source(std::size_t i) {
  std::size_t j = 0;
  for (std::size_t k = To::rank; k-- > 0;) {
    const std::size_t c = i % To::dims[k];
    i /= To::dims[k];
    const std::size_t lead = To::rank - From::rank;
    if (k >= lead && From::dims[k - lead] != 1) j += c * From::strides[k - lead];
  }
  return j;
}

template <class SA, class SB>
void materialised_region_suite() {
  using S = tg::broadcast_shape_t<SA, SB>;
  constexpr std::size_t L = S::dims[S::rank - 1];
  static_assert(L >= 16, "the suite is about regions that loop by rows");
  const auto m = random_of<double, shape<L, 3>>();
  auto through_matmul = [&](auto f) {
    return [&, f](auto p, auto q) { return tg::sum(tg::tanh(tg::matmul(f(p, q), m))); };
  };
  const auto a = random_of<double, SA>(-2, 2);
  const auto b = random_of<double, SB>(0.5, 2);
  SECTION("values (the region is the output, computed by rows)") {
    auto program = tgtest::compile_inference<tg::InputSpec<double, SA, false>, tg::InputSpec<double, SB, false>>(
        [](auto p, auto q) { return p * q - q; });
    const auto y = program(a, b);
    for (std::size_t i = 0; i < S::size; ++i) {
      const double u = a.data()[numpy_source<SA, S>(i)], v = b.data()[numpy_source<SB, S>(i)];
      REQUIRE(y.data()[i] == near(u * v - v, 1e-12));
    }
  }
  SECTION("add") { TG_CHECK_GRADIENTS(tgtest::check_gradients(through_matmul([](auto p, auto q) { return p + q; }), a, b), 1e-6); }
  SECTION("mul, tanh and sub") {
    TG_CHECK_GRADIENTS(tgtest::check_gradients(through_matmul([](auto p, auto q) { return tg::tanh(p * q) - q; }), a, b), 1e-6);
  }
  SECTION("div") { TG_CHECK_GRADIENTS(tgtest::check_gradients(through_matmul([](auto p, auto q) { return p / q; }), a, b), 1e-6); }
}
}  // namespace

TEST_CASE("materialised region gradients by rows, bias over a batch", "[gradcheck]") {
  materialised_region_suite<shape<5, 16>, shape<16>>();
}
TEST_CASE("materialised region gradients by rows, one value per row", "[gradcheck]") {
  materialised_region_suite<shape<3, 32>, shape<3, 1>>();
}
TEST_CASE("materialised region gradients by rows, interior and leading broadcast", "[gradcheck]") {
  materialised_region_suite<shape<2, 1, 16>, shape<3, 16>>();
}
TEST_CASE("materialised region gradients by rows, a row against a column of a batch", "[gradcheck]") {
  materialised_region_suite<shape<1, 16>, shape<2, 3, 1>>();
}
