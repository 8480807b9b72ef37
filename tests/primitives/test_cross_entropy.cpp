// cross_entropy and log_softmax at confident logits against a long-double reference, and labels / indices
// given as int64 (PyTorch's type) read as such.
#include <cmath>
#include <cstdint>
#include <vector>

#include "support.hpp"

namespace {
constexpr std::size_t B = 3, C = 4;
// rows with 1 - p ~ 1e-8 and ~1e-11 for the predicted class, one row whose label is not the predicted class
const double logits_rows[B][C] = {{36.0, 17.6, 1.0, -3.0}, {12.0, -8.0, 3.0, 36.0}, {-2.0, 30.0, 29.5, 0.0}};
const std::int64_t labels_rows[B] = {0, 3, 2};

// softmax(x_b)_k in long double, with 1 - p_j summed over the other classes (no cancellation)
long double reference_softmax(std::size_t b, std::size_t k) {
  long double m = logits_rows[b][0];
  for (double v : logits_rows[b]) m = std::max<long double>(m, v);
  long double s = 0;
  for (double v : logits_rows[b]) s += std::exp(static_cast<long double>(v) - m);
  return std::exp(static_cast<long double>(logits_rows[b][k]) - m) / s;
}
long double reference_one_minus(std::size_t b, std::size_t j) {
  long double r = 0;
  for (std::size_t k = 0; k < C; ++k)
    if (k != j) r += reference_softmax(b, k);
  return r;
}
double relative_error(double got, long double want) { return double(std::abs((got - want) / want)); }

tg::Tensor<double, B, C> logits() {
  tg::Tensor<double, B, C> x;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t k = 0; k < C; ++k) x(b, k) = logits_rows[b][k];
  return x;
}
}  // namespace

TEST_CASE("cross_entropy's gradient at confident logits matches a long-double reference", "[value]") {
  tg::ClassLabels<B, C> y;
  for (std::size_t b = 0; b < B; ++b) y[b] = std::int32_t(labels_rows[b]);
  const auto r = tg::value_and_grad([](auto x, auto t) { return tg::cross_entropy(x, t); }, logits(), y);
  const auto g = r.grad<0>();
  long double loss = 0;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t t = std::size_t(labels_rows[b]);
    loss += -std::log(reference_softmax(b, t));
    for (std::size_t k = 0; k < C; ++k) {
      // dx_bk = (p_bk - [k == t]) / B; for k == t: -(1 - p_bt) / B
      const long double want = (k == t ? -reference_one_minus(b, t) : reference_softmax(b, k)) / B;
      INFO("row " << b << " class " << k << ": " << g(b, k) << " vs " << double(want));
      CHECK(relative_error(g(b, k), want) < 1e-12);  // was 3e-7 for row 0's label (exp(x - (m + log s)) - 1)
    }
  }
  CHECK(relative_error(r.value, loss / B) < 1e-12);
}

TEST_CASE("log_softmax at confident logits matches a long-double reference", "[value]") {
  // each log-probability alone, picked by a one-hot weight: row 0's largest is -1.02e-8, whose low bits
  // x - (m + log s) loses (relative error 3e-7)
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t k = 0; k < C; ++k) {
      tg::Tensor<double, B, C> pick{};
      pick(b, k) = 1.0;
      const auto r = tg::value_and_grad([](auto x, auto w) { return tg::sum(tg::log_softmax<1>(x) * w); }, logits(),
                                        pick);
      const long double p = reference_softmax(b, k);
      const long double want = p > 0.5L ? std::log1p(-reference_one_minus(b, k)) : std::log(p);
      INFO("row " << b << " class " << k);
      CHECK(relative_error(r.value, want) < 1e-12);
    }
}

TEST_CASE("int64 labels (PyTorch's type) give the same loss and gradient as int32", "[value]") {
  using Labels64 = tg::Labels<B, C, std::int64_t>;
  auto f = [](auto x, auto t) { return tg::cross_entropy(x, t); };
  auto step64 = tg::compile<tg::Variable<double, B, C>, Labels64>(f);
  auto step32 = tg::compile<tg::Variable<double, B, C>, tg::Labels<B, C>>(f);
  const std::vector<std::int64_t> y64(std::begin(labels_rows), std::end(labels_rows));
  const std::vector<std::int32_t> y32(std::begin(labels_rows), std::end(labels_rows));
  const auto x = logits();
  const double l64 = step64(x, y64), l32 = step32(x, y32);
  CHECK(l64 == l32);
  long double loss = 0;
  for (std::size_t b = 0; b < B; ++b) loss -= std::log(reference_softmax(b, std::size_t(labels_rows[b])));
  CHECK(relative_error(l64, loss / B) < 1e-12);
  for (std::size_t i = 0; i < B * C; ++i) CHECK(step64.grad_input<0>()[i] == step32.grad_input<0>()[i]);
  // labels out of range are named whatever their type
  const std::vector<std::int64_t> bad{0, 1, std::int64_t(1) << 40};
  CHECK_THROWS_WITH(step64(x, bad), Catch::Contains("label 1099511627776 at position 2 is outside [0, 4)"));
}

TEST_CASE("int64 indices select embedding rows", "[value]") {
  tg::Tensor<double, 5, 2> table;
  for (std::size_t i = 0; i < 10; ++i) table[i] = double(i);
  tg::Tensor<std::int64_t, 3> index{4, 0, 4};
  const auto r = tg::value_and_grad([](auto t, auto i) { return tg::sum(tg::gather(t, i)); }, table, index);
  CHECK(r.value == (8 + 9) * 2 + (0 + 1));
  const auto g = r.grad<0>();
  CHECK(g(4, 0) == 2.0);
  CHECK(g(0, 1) == 1.0);
  CHECK(g(2, 0) == 0.0);
}

TEST_CASE("cross_entropy over rows longer than one block of partial sums matches a long-double reference", "[value]") {
  // rows of 37 classes: two blocks of the 16 partial results (core/row_sums.hpp) and a tail of 5. Row 0: its
  // maximum three times (positions 1, 17 and 34), label 17; row 1: confident (36 at 12), label 12; row 2: label
  // 30, not its maximum
  constexpr std::size_t R = 3, N = 37;
  tg::Tensor<double, R, N> x;
  for (std::size_t k = 0; k < N; ++k) {
    x(0, k) = k == 1 || k == 17 || k == 34 ? 2.5 : -0.25 * double(k % 5);
    x(1, k) = k == 12 ? 36.0 : 1.0 - 0.0625 * double(k);
    x(2, k) = std::sin(double(k));
  }
  tg::ClassLabels<R, N> y;
  y[0] = 17, y[1] = 12, y[2] = 30;
  const auto r = tg::value_and_grad([](auto v, auto t) { return tg::cross_entropy(v, t); }, x, y);
  long double loss = 0;
  for (std::size_t b = 0; b < R; ++b) {
    long double m = x(b, 0);
    for (std::size_t k = 0; k < N; ++k) m = std::max<long double>(m, x(b, k));
    long double s = 0;
    for (std::size_t k = 0; k < N; ++k) s += std::exp(static_cast<long double>(x(b, k)) - m);
    const auto p = [&](std::size_t k) { return std::exp(static_cast<long double>(x(b, k)) - m) / s; };
    long double others = 0;  // 1 - p of the label, without cancellation
    for (std::size_t k = 0; k < N; ++k)
      if (k != std::size_t(y[b])) others += p(k);
    loss += others > 0.5L ? -std::log(p(std::size_t(y[b]))) : -std::log1p(-others);
    for (std::size_t k = 0; k < N; ++k) {
      const long double want = (k == std::size_t(y[b]) ? -others : p(k)) / R;
      INFO("row " << b << " class " << k);
      CHECK(relative_error(r.grad<0>()(b, k), want) < 1e-12);
    }
  }
  CHECK(relative_error(r.value, loss / R) < 1e-12);
}
