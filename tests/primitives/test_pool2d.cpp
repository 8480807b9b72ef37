// max_pool2d's backward pass where the windows tile the input (K == S, no rows or columns left over): it assigns dx
// (dy at each window's recorded maximum, 0 elsewhere) instead of clearing it and adding, with GCC's vector
// extensions in blocks of 8, 4, 2 and 1 windows (pool2d.hpp). Built twice: as every test (16-byte vectors: blocks of
// at most 4 windows forward and 2 backward for float), and for the machine's vector unit (-march=native, "native: ";
// with AVX2 or AVX-512: 8 and 4).
#include "support.hpp"

using namespace tgtest;

namespace {
// dx of sum(max_pool2d<2>(x) * g) against the definition: g at each window's first maximum (row-major), 0 at its
// three other elements; and the pooled values
// (Levels > 0: x rounded to Levels steps per unit, so that windows hold ties)
template <class T, std::size_t N, std::size_t C, std::size_t H, std::size_t W, int Levels = 0>
void check_max_pool_2x2() {
  constexpr std::size_t Ho = H / 2, Wo = W / 2;
  auto x = random<T, N, C, H, W>();
  if constexpr (Levels > 0)
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::round(x.data()[i] * T(Levels)) / T(Levels);
  auto g = random<T, N, C, Ho, Wo>();
  const auto r = tg::value_and_grad([&](auto a) { return tg::sum(tg::max_pool2d<2>(a) * g); }, x);
  double loss = 0;
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < Ho; ++i)
        for (std::size_t j = 0; j < Wo; ++j) {
          std::size_t best = 0;  // a b as 2 a + b
          for (std::size_t k = 1; k < 4; ++k)
            if (x(n, c, 2 * i + k / 2, 2 * j + k % 2) > x(n, c, 2 * i + best / 2, 2 * j + best % 2)) best = k;
          loss += double(x(n, c, 2 * i + best / 2, 2 * j + best % 2)) * double(g(n, c, i, j));
          for (std::size_t k = 0; k < 4; ++k)
            CHECK(r.template grad<0>()(n, c, 2 * i + k / 2, 2 * j + k % 2) == (k == best ? g(n, c, i, j) : T(0)));
        }
  CHECK(double(r.value) == near(loss, std::is_same_v<T, float> ? 1e-3 : 1e-9));
}
}  // namespace

TEST_CASE("max_pool2d 2x2 assigns every element of dx: dy at each window's first maximum, 0 elsewhere", "[value]") {
  SECTION("float: LeNet's two pooling layers (rows of 12 windows: a block of 8 and one of 4; rows of 4)") {
    check_max_pool_2x2<float, 3, 10, 24, 24>();
    check_max_pool_2x2<float, 2, 20, 8, 8>();
  }
  SECTION("rows of 9, 12 and 16 windows, odd sizes, and windows with ties (the first maximum, row-major)") {
    check_max_pool_2x2<float, 2, 3, 4, 18>();
    check_max_pool_2x2<float, 1, 3, 6, 32>();
    check_max_pool_2x2<float, 2, 3, 7, 25>();
    check_max_pool_2x2<float, 3, 10, 24, 24, 1>();
    check_max_pool_2x2<float, 2, 3, 6, 14, 1>();
    check_max_pool_2x2<double, 2, 3, 6, 14, 1>();
  }
  SECTION("rows of 1, 3, 7 and 17 windows (blocks of 1 and 2 after the whole ones), float and double") {
    check_max_pool_2x2<float, 2, 3, 2, 2>();
    check_max_pool_2x2<float, 1, 2, 4, 6>();
    check_max_pool_2x2<float, 2, 3, 6, 14>();
    check_max_pool_2x2<double, 2, 3, 6, 14>();
    check_max_pool_2x2<float, 1, 2, 4, 34>();
    check_max_pool_2x2<double, 1, 2, 4, 34>();
  }
}

TEST_CASE("max_pool2d 2x2 in programs: an input read twice, a let, a fused operand", "[gradcheck]") {
  // distinct inputs: no two candidates of a window tie
  SECTION("the input also read by another kernel: one of its two writers assigns, the other adds") {
    check_primitive([](auto x) { return tg::max_pool2d<2>(x) + tg::avg_pool2d<2>(x); },
                    random_distinct<double, 2, 3, 4, 6>());
  }
  SECTION("a let's value pooled and read again") {
    check_primitive(
        [](auto x) {
          return tg::let(tg::tanh(x), [](auto h) { return tg::max_pool2d<2>(h) * tg::max_pool2d<2>(h * h); });
        },
        random_distinct<double, 1, 2, 6, 10>(-1, 1));
  }
  SECTION("an element-wise operand computed inside the kernel (no buffer: added through the region)") {
    check_primitive([](auto x) { return tg::max_pool2d<2>(tg::relu(x)); },
                    random_distinct<double, 2, 2, 4, 6>(-2, 2, {0.0}));
  }
  SECTION("a kernel's buffer under an element-wise operand: assigned through the region, every element once") {
    // (each element of the convolution's dy reached once, 0 off the maxima: the buffer is not cleared)
    check_primitive([](auto x, auto w) { return tg::max_pool2d<2>(tg::tanh(tg::conv2d<1, 1>(x, w))); },
                    random_distinct<double, 2, 2, 4, 6>(-1, 1), random<double, 3, 2, 3, 3>(-1, 1));
  }
}

TEST_CASE("max_pool2d 2x2 split by planes across threads: the same values and gradients on 1 and 2 threads",
          "[value]") {
  // LeNet's first pooling layer at batch 16: 46,080 outputs, over the split threshold
  auto x = random<float, 16, 10, 24, 24>();
  auto g = random<float, 16, 10, 12, 12>();
  check_same_on_1_and_2_threads([&](auto a) { return tg::sum(tg::max_pool2d<2>(a) * g); }, x);
}
