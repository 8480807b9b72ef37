// core/row_sums.hpp against its definition: element k of the row's whole blocks of 16 goes to partial result k % 16,
// the tail after them to partial result 0, and the 16 partial results are combined pairwise (l with l + 8, then + 4,
// + 2, + 1). The order is part of the contract (the same bits on every thread count and backend), so the sums are
// compared bit for bit with that order written out here, on values of mixed magnitudes where another order rounds
// differently; rows shorter than 16 (one chain), whole blocks, blocks with a tail; float and double. Built three
// times: as every test (-O0), vectorised for this machine ("native: ") and for AVX2 ("avx2: "), where float partial
// results are combined in vector registers.
#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "support.hpp"
#include "typegrad/core/row_sums.hpp"

namespace {
constexpr std::size_t lanes = tg::detail::sum_lanes;

// the definition above, with op(part, value) for each element and op(part[l], part[l + w]) for the combination
template <class T, class Op>
T in_documented_order(const std::vector<T>& x, T init, Op op) {
  const std::size_t whole = x.size() / lanes * lanes;
  T part[lanes];
  for (auto& p : part) p = init;
  for (std::size_t k = 0; k < x.size(); ++k)
    part[k < whole ? k % lanes : 0] = op(part[k < whole ? k % lanes : 0], x[k]);
  for (std::size_t w = lanes / 2; w > 0; w /= 2)
    for (std::size_t l = 0; l < w; ++l) part[l] = op(part[l], part[l + w]);
  return part[0];
}
template <class T>
T plus(T a, T b) {
  return a + b;
}
template <class T>
T larger(T a, T b) {
  return b > a ? b : a;  // a NaN b never wins
}

// +-m 2^e, e in [-24, 24]: sums of these round differently in different orders
template <class T>
std::vector<T> mixed_magnitudes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> mantissa(1.0, 2.0);
  std::uniform_int_distribution<int> exponent(-24, 24), sign(0, 1);
  std::vector<T> x(n);
  for (auto& v : x) v = T((sign(rng) ? -1.0 : 1.0) * std::ldexp(mantissa(rng), exponent(rng)));
  return x;
}

template <class T, std::size_t N>
void check_row() {
  INFO(N << " values, " << sizeof(T) << "-byte floats");
  const std::vector<T> x = mixed_magnitudes<T>(N, unsigned(N)), y = mixed_magnitudes<T>(N, unsigned(N) + 1000);
  const auto at = [&](const std::vector<T>& v) { return [&v](std::size_t k) { return v[k]; }; };

  CHECK(tg::detail::row_sum<T, N>(at(x)) == in_documented_order(x, T(0), plus<T>));
  T a = -1, b = -1;
  tg::detail::row_sums<T, N>([&](std::size_t k) { return tg::detail::two_values<T>{x[k], y[k]}; }, a, b);
  CHECK(a == in_documented_order(x, T(0), plus<T>));
  CHECK(b == in_documented_order(y, T(0), plus<T>));
  long double exact = 0, magnitude = 0;  // any order's rounding error is below N eps sum |x|
  for (T v : x) exact += v, magnitude += std::abs(static_cast<long double>(v));
  CHECK(std::abs(static_cast<long double>(a) - exact) <= N * std::numeric_limits<T>::epsilon() * magnitude);

  const T inf = std::numeric_limits<T>::infinity();
  CHECK(tg::detail::row_max<T, N>(at(x)) == in_documented_order(x, -inf, larger<T>));
  // NaNs never win: the maximum of the other values (or -inf when all are NaN)
  std::vector<T> with_nan = x;
  for (std::size_t k = 0; k < N; k += 3) with_nan[k] = std::numeric_limits<T>::quiet_NaN();
  T others = -inf;
  for (std::size_t k = 0; k < N; ++k)
    if (k % 3 != 0) others = std::max(others, x[k]);
  CHECK(tg::detail::row_max<T, N>(at(with_nan)) == others);
}

template <class T, std::size_t... N>
void check_rows(std::index_sequence<N...>) {
  (check_row<T, N>(), ...);
}
using row_lengths = std::index_sequence<1, 2, 7, 10, 15, 16, 17, 31, 32, 37, 96, 128, 256, 300>;
}  // namespace

TEST_CASE("row sums and maxima follow the documented order of partial results, bit for bit", "[row_sums]") {
  check_rows<float>(row_lengths{});
  check_rows<double>(row_lengths{});
}

TEST_CASE("the row sums' order is visible in the bits of these values", "[row_sums]") {
  // the check above could not tell orders apart if every order gave the same sum: one chain in order differs
  const std::vector<float> x = mixed_magnitudes<float>(96, 96);
  float chain = 0;
  for (float v : x) chain += v;
  CHECK(chain != in_documented_order(x, 0.0f, plus<float>));
}
