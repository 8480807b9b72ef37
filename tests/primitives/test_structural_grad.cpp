// Numerical gradient checks of the shape, reduction, softmax and loss primitives (double < 1e-6, float < 1e-3).
#include "support.hpp"

using namespace tgtest;
using tg::shape;


TEST_CASE("shape primitives", "[gradcheck]") {
  auto x = random<double, 2, 3, 4>();
  SECTION("broadcast_to") { check_primitive([](auto a) { return tg::broadcast_to<5, 2, 3, 4>(a); }, x); }
  SECTION("broadcast_to from a middle 1") {
    check_primitive([](auto a) { return tg::broadcast_to<2, 3, 4>(a); }, random<double, 2, 1, 4>());
  }
  SECTION("reshape") { check_primitive([](auto a) { return tg::reshape<4, 6>(a); }, x); }
  SECTION("permute") { check_primitive([](auto a) { return tg::permute<2, 0, 1>(a); }, x); }
  SECTION("transpose (last two axes)") { check_primitive([](auto a) { return tg::transpose(a); }, x); }
  SECTION("slice") { check_primitive([](auto a) { return tg::slice<1, 1, 3>(a); }, x); }
  SECTION("slice of an element-wise region") { check_primitive([](auto a) { return tg::slice<2, 0, 2>(tg::exp(a) * 2.0); }, x); }
  SECTION("concat along a middle axis") {
    check_primitive([](auto a, auto b) { return tg::concat<1>(a, tg::tanh(b)); }, x, random<double, 2, 5, 4>());
  }
  SECTION("concat along the first axis") {
    check_primitive([](auto a, auto b) { return tg::concat<0>(a, b); }, random<double, 3, 2>(), random<double, 1, 2>());
  }
}

namespace {
// attention's heads from one projection [2, 8, 96]: a third of the last axis, split into 2 heads of 16, heads
// first; Begin picks the third (0, 32 or 64)
template <std::size_t Begin, std::size_t... To, class X>
auto head_split(X&& x) {
  return tg::reshape<To...>(tg::permute<0, 2, 1, 3>(tg::reshape<2, 8, 2, 16>(tg::slice<2, Begin, Begin + 32>(x))));
}
tg::Parameter<double, 2, 8, 96> projected;
using tg::detail::contiguous_run;
using tg::detail::run_length;
// runs: the head width 16 (permute keeps the last axis); a slice read from a buffer at any start keeps its
// length; under a permute the slice's runs must start where the permute's do; a transpose or a broadcast has none
static_assert(contiguous_run<decltype(head_split<32, 4, 8, 16>(projected))>() == 16);
static_assert(run_length<decltype(head_split<32, 4, 8, 16>(projected))> == 16);
static_assert(contiguous_run<decltype(tg::slice<2, 3, 35>(projected))>() == 32);
static_assert(
    contiguous_run<decltype(tg::permute<1, 0, 2>(tg::reshape<16, 2, 16>(tg::slice<2, 3, 35>(projected))))>() == 16);
static_assert(contiguous_run<decltype(tg::slice<1, 8, 24>(tg::permute<0, 2, 1>(tg::slice<2, 3, 35>(projected))))>() ==
              1);
static_assert(contiguous_run<decltype(tg::transpose(projected))>() == 1);
static_assert(contiguous_run<decltype(tg::exp(tg::slice<2, 0, 32>(projected)) + tg::slice<2, 32, 64>(projected))>() ==
              32);
static_assert(run_length<decltype(projected + tg::Parameter<double, 96>{})> == 0);  // by rows (a bias)
}  // namespace

TEST_CASE("regions of index maps run by runs of consecutive elements", "[gradcheck]") {
  // each operand of the batched product is a region of index maps (materialised: a product reads buffers) that
  // runs by runs of 16: forward copies a run, backward pushes one into the slice of the projection
  auto x = random<double, 2, 8, 96>();
  SECTION("two heads of one projection") {
    check_primitive([](auto a) { return tg::matmul(head_split<0, 4, 8, 16>(a), head_split<32, 4, 16, 8>(a)); }, x);
  }
  SECTION("an element-wise map of two heads") {
    check_primitive(
        [](auto a) {
          return tg::matmul(tg::tanh(head_split<0, 4, 8, 16>(a)) * head_split<64, 4, 8, 16>(a),
                            head_split<32, 4, 16, 8>(a));
        },
        x);
  }
  SECTION("heads joined back after a product (one-to-one: the product's adjoint is assigned)") {
    // x in [-1, 1]: the loss, cubic in x, 8x smaller, and so its rounding over the step (the OMP device's
    // reductions round differently per evaluation: with [-2, 2] seed 901379260 failed there at 1.075e-6)
    const auto x1 = random<double, 2, 8, 96>(-1, 1);
    check_primitive(
        [](auto a, auto w) {
          auto heads = tg::matmul(head_split<0, 4, 8, 16>(a), w);  // [4, 8, 16]: (batch, head), token, feature
          return tg::matmul(tg::reshape<16, 32>(tg::permute<0, 2, 1, 3>(tg::reshape<2, 2, 8, 16>(heads))),
                            tg::reshape<32, 24>(tg::slice<2, 0, 48>(a)));
        },
        x1, random<double, 4, 16, 16>(-0.25, 0.25));  // small: the loss, cubic in x, stays O(10) for the checker
  }
  SECTION("values: the split is the definition's") {
    tg::Tensor<double, 4, 16, 16> eye{};
    for (std::size_t b = 0; b < 4; ++b)
      for (std::size_t k = 0; k < 16; ++k) eye(b, k, k) = 1.0;
    auto p = tg::compile_inference<tg::Input<double, 2, 8, 96>, tg::Input<double, 4, 16, 16>>(
        [](auto a, auto e) { return tg::matmul(head_split<32, 4, 8, 16>(a), e); });
    const auto y = p(x, eye);
    // y[(n, h), t, f] = x[n, t, 32 + 16 h + f]
    for (std::size_t n = 0; n < 2; ++n)
      for (std::size_t h = 0; h < 2; ++h)
        for (std::size_t t = 0; t < 8; ++t)
          for (std::size_t f = 0; f < 16; ++f) CHECK(y(n * 2 + h, t, f) == x(n, t, 32 + 16 * h + f));
  }
}

TEST_CASE("reductions", "[gradcheck]") {
  auto x = random_distinct<double, 3, 4, 5>();  // no ties for max
  SECTION("sum of all") { check_primitive([](auto a) { return tg::sum(a); }, x); }
  SECTION("sum over axis 1") { check_primitive([](auto a) { return tg::sum<1>(a); }, x); }
  SECTION("sum over axes 0 and 2") { check_primitive([](auto a) { return tg::sum<0, 2>(a); }, x); }
  SECTION("mean of all") { check_primitive([](auto a) { return tg::mean(a); }, x); }
  SECTION("mean over the last axis") { check_primitive([](auto a) { return tg::mean<2>(a); }, x); }
  SECTION("max of all") { check_primitive([](auto a) { return tg::max(a); }, x); }
  SECTION("max over axis 0") { check_primitive([](auto a) { return tg::max<0>(a); }, x); }
  SECTION("max over axes 1 and 2 of a fused region") {
    // a*a - a increases on [1, 3]: distinct inputs give distinct (untied) region values
    check_primitive([](auto a) { return tg::max<1, 2>(a * a - a); }, random_distinct<double, 3, 4, 5>(1, 3));
  }
}

TEST_CASE("softmax and log_softmax", "[gradcheck]") {
  auto x = random<double, 3, 4, 5>(-3, 3);
  SECTION("softmax, last axis") { check_primitive([](auto a) { return tg::softmax<2>(a); }, x); }
  SECTION("softmax, middle axis") { check_primitive([](auto a) { return tg::softmax<1>(a); }, x); }
  SECTION("log_softmax, first axis") { check_primitive([](auto a) { return tg::log_softmax<0>(a); }, x); }
  SECTION("log_softmax, last axis, large logits") {
    // Logits in [-30, 30] saturate the softmax; scaling the output back by 1/10 keeps the gradients
    // O(1), the scale the checker's relative-error floor assumes (x30 failed about 1 run in 1000).
    check_primitive([](auto a) { return tg::log_softmax<2>(a * 10.0) * 0.1; }, x);
  }
}

TEST_CASE("softmax and log_softmax over rows longer than one block of partial results", "[gradcheck]") {
  // 37 along the axis: two blocks of the 16 partial sums (core/row_sums.hpp) and a tail of 5
  auto x = random<double, 2, 37, 37>(-3, 3);
  SECTION("softmax, last axis") {
    check_primitive([](auto a) { return tg::softmax<2>(a); }, x);
  }
  SECTION("softmax, middle axis") {
    check_primitive([](auto a) { return tg::softmax<1>(a); }, x);
  }
  SECTION("log_softmax, last axis") {
    check_primitive([](auto a) { return tg::log_softmax<2>(a); }, x);
  }
}

namespace {
// softmax(x_b)_k and log softmax(x_b)_k against long double, relative errors; the sum below the maximum kept
// apart from the maximum's 1 (a confident row's log p ~ -1e-15)
template <class T, std::size_t R, std::size_t N>
void check_softmax_rows(const tg::Tensor<T, R, N>& x, double tolerance) {
  auto soft = tg::compile_inference<tg::Input<T, R, N>>([](auto v) { return tg::softmax<1>(v); });
  auto log_soft = tg::compile_inference<tg::Input<T, R, N>>([](auto v) { return tg::log_softmax<1>(v); });
  const auto p = soft(x);
  const auto lp = log_soft(x);
  for (std::size_t b = 0; b < R; ++b) {
    long double m = x(b, 0);
    for (std::size_t k = 0; k < N; ++k) m = std::max<long double>(m, x(b, k));
    long double below = 0, ties = 0;
    for (std::size_t k = 0; k < N; ++k)
      (x(b, k) == m ? ties : below) += std::exp(static_cast<long double>(x(b, k)) - m);
    const long double r = below + (ties - 1), s = 1 + r;
    for (std::size_t k = 0; k < N; ++k) {
      const long double want_lp = (static_cast<long double>(x(b, k)) - m) - std::log1p(r);
      INFO("row " << b << " element " << k << ": " << p(b, k) << ", " << lp(b, k));
      const long double want_p = std::exp(static_cast<long double>(x(b, k)) - m) / s;
      CHECK(double(std::abs((p(b, k) - want_p) / want_p)) < tolerance);
      CHECK(double(std::abs((lp(b, k) - want_lp) / want_lp)) < tolerance);
    }
  }
}
}  // namespace

TEST_CASE("softmax and log_softmax match the definition with ties at the maximum", "[value]") {
  // row 0: the maximum three times (positions 1, 17 and 34: both blocks of 16 and the tail); row 1: confident (36
  // against at most 1, so log p of the maximum is ~ -1e-15, which only log1p of the others' sum keeps); row 2:
  // random; row 3: all equal (p = 1/37)
  constexpr std::size_t N = 37;
  auto fill = [](auto& x) {
    for (std::size_t k = 0; k < N; ++k) {
      x(0, k) = k == 1 || k == 17 || k == 34 ? 2.5 : -0.25 * double(k % 5);
      x(1, k) = k == 12 ? 36.0 : 1.0 - 0.0625 * double(k);
      x(3, k) = 0.75;
    }
  };
  auto xd = random<double, 4, N>(-3, 3);
  fill(xd);
  check_softmax_rows(xd, 1e-13);
  tg::Tensor<float, 4, N> xf;
  for (std::size_t i = 0; i < xd.size(); ++i) xf[i] = float(xd[i]);
  fill(xf);
  check_softmax_rows(xf, 2e-6);
}

TEST_CASE("softmax of scores plus a mask broadcast over the batch matches the definition", "[value]") {
  // attention's pattern: [B, T, T] scores + a causal [T, T] mask; rows of 20 (>= 16) read the mask by columns
  // (kernel_node::in_row), the other rows by flat index
  constexpr std::size_t B = 3, T = 20;
  const auto x = random<double, B, T, T>(-3, 3);
  tg::Tensor<double, T, T> mask;
  for (std::size_t i = 0; i < T; ++i)
    for (std::size_t j = 0; j < T; ++j)
      mask(i, j) = j > i ? -std::numeric_limits<double>::infinity() : 0.25 * double(j % 3);
  auto program =
      tg::compile_inference<tg::Input<double, B, T, T>>([&](auto v) { return tg::softmax<2>(v * 0.5 + mask); });
  const auto p = program(x);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t i = 0; i < T; ++i) {
      long double m = -std::numeric_limits<long double>::infinity(), s = 0;
      for (std::size_t j = 0; j <= i; ++j) m = std::max<long double>(m, 0.5L * x(b, i, j) + mask(i, j));
      for (std::size_t j = 0; j <= i; ++j) s += std::exp(0.5L * x(b, i, j) + mask(i, j) - m);
      for (std::size_t j = 0; j < T; ++j) {
        const long double want = j > i ? 0.0L : std::exp(0.5L * x(b, i, j) + mask(i, j) - m) / s;
        INFO("image " << b << " row " << i << " column " << j);
        CHECK(std::abs(p(b, i, j) - double(want)) < 1e-15);
      }
    }
}

TEST_CASE("softmax is stable for large logits", "[gradcheck]") {
  tg::Tensor<double, 1, 3> x{1000.0, 1001.0, 1002.0};
  auto r = tg::value_and_grad([](auto a) { return tg::sum(tg::log_softmax<1>(a) * tg::log_softmax<1>(a)); }, x);
  CHECK(std::isfinite(r.value));
  for (double g : std::vector<double>(r.grad<0>().begin(), r.grad<0>().end())) CHECK(std::isfinite(g));
}

TEST_CASE("cross_entropy", "[gradcheck]") {
  auto logits = random<double, 6, 5>(-3, 3);
  tg::ClassLabels<6, 5> y;
  std::uniform_int_distribution<int> cls(0, 4);
  for (auto& v : y) v = cls(rng());
  auto loss = [](auto x, auto labels) { return tg::cross_entropy(x * 2.0, labels); };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(loss, logits, y), 1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients_in<float>(loss, logits, y), 1e-3);

  SECTION("value matches the definition") {
    double expected = 0;
    for (std::size_t b = 0; b < 6; ++b) {
      double z = 0;
      for (std::size_t k = 0; k < 5; ++k) z += std::exp(2 * logits(b, k));
      expected += std::log(z) - 2 * logits(b, std::size_t(y[b]));
    }
    CHECK(tg::value_and_grad(loss, logits, y).value == near(expected / 6, 1e-12));
  }
  SECTION("a label out of range is an error naming it") {
    y[3] = 5;
    CHECK_THROWS_WITH(tg::value_and_grad(loss, logits, y), Catch::Contains("label 5 at position 3"));
  }
}
