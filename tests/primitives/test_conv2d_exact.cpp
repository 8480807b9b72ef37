// TYPEGRAD_WINOGRAD=0 (a compile definition of this target, tests/CMakeLists.txt): conv2d's 3x3 convolutions with
// padding 1 run the shifted products instead of Winograd's F(4x4) / F(2x2), and round as the direct sum does.
#include "primitives/conv_checks.hpp"
#include "support.hpp"

#include <algorithm>
#include <cmath>

using namespace tgtest;

static_assert(TYPEGRAD_WINOGRAD == 0, "this test is built with TYPEGRAD_WINOGRAD=0");

// ResNet-20's three 3x3 shapes take the shifted products (with the default, 4: F(4x4), F(2x2), F(2x2))
template <class T, std::size_t C, std::size_t H, std::size_t O>
constexpr bool shifted = std::is_same_v<tg::detail::many_tap_conv<T, C, H, H, 1, O, 3, 3>,
                                        tg::detail::shifted_conv<T, C, H, H, 1, O, 3, 3>>;
static_assert(shifted<float, 16, 28, 16> && shifted<float, 32, 14, 32> && shifted<float, 64, 7, 64>);
static_assert(shifted<double, 2, 16, 3>);

namespace {
struct relative_errors {
  double y = 0, dx = 0, dw = 0;
};

// The largest difference from the definition (in double) over the largest magnitude, for y = conv2d<1, 1>(x, w) and
// the gradients of sum(y * g), on N float images of C channels, H x H, O outputs
template <std::size_t N, std::size_t C, std::size_t H, std::size_t O>
relative_errors conv3x3_errors() {
  auto x = random<float, N, C, H, H>();
  auto w = random<float, O, C, 3, 3>();
  auto g = random<float, N, O, H, H>();
  auto forward = tgtest::compile_inference<tg::Input<float, N, C, H, H>, tg::Input<float, O, C, 3, 3>>(
      [](auto a, auto b) { return tg::conv2d<1, 1>(a, b); });
  const auto& y = forward(x, w);  // the program's output buffer
  const auto r = tg::value_and_grad([&](auto a, auto b) { return tg::sum(tg::conv2d<1, 1>(a, b) * g); }, x, w);
  const auto& dx = r.template grad<0>();
  const auto& dw = r.template grad<1>();
  const auto in = [](long i) { return i >= 0 && i < long(H); };
  std::vector<double> ry(N * O * H * H), rdx(N * C * H * H), rdw(O * C * 9);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < H; ++i)
          for (std::size_t j = 0; j < H; ++j)
            for (std::size_t a = 0; a < 3; ++a)
              for (std::size_t b = 0; b < 3; ++b) {  // y[n, o, i, j] reads x[n, c, i + a - 1, j + b - 1]
                const long r0 = long(i + a) - 1, q0 = long(j + b) - 1;
                if (!in(r0) || !in(q0)) continue;
                const auto r1 = std::size_t(r0), q1 = std::size_t(q0);
                ry[((n * O + o) * H + i) * H + j] += double(x(n, c, r1, q1)) * double(w(o, c, a, b));
                rdx[((n * C + c) * H + r1) * H + q1] += double(g(n, o, i, j)) * double(w(o, c, a, b));
                rdw[(o * C + c) * 9 + a * 3 + b] += double(g(n, o, i, j)) * double(x(n, c, r1, q1));
              }
  const auto error = [](const std::vector<double>& ref, auto&& got) {
    double diff = 0, largest = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) {
      diff = std::max(diff, std::abs(double(got(k)) - ref[k]));
      largest = std::max(largest, std::abs(ref[k]));
    }
    return diff / largest;
  };
  return {error(ry, [&](std::size_t k) { return y.data()[k]; }),
          error(rdx, [&](std::size_t k) { return dx.data()[k]; }),
          error(rdw, [&](std::size_t k) { return dw.data()[k]; })};
}
}  // namespace

TEST_CASE("TYPEGRAD_WINOGRAD=0: 3x3 convolutions round as the direct sum", "[conv]") {
  // Largest error / largest magnitude on 4 images of ResNet-20's 28 x 28 x 16 layer, three runs each (Zen 1,
  // 2026-12-02), y / dx / dW: the shifted products 4.4-4.7e-7 / 3.8-4.8e-7 / 6.1-7.6e-7; F(2x2) (TYPEGRAD_WINOGRAD=2)
  // 1.9-2.0e-7 / 2.0-2.4e-7 / 4.7-5.3e-7; F(4x4) (the default) 3.2-3.6e-6 / 1.7-2.0e-6 / 2.5-3.6e-6, which fails
  // each bound here.
  const auto e = conv3x3_errors<4, 16, 28, 16>();
  INFO("largest error / largest magnitude: y " << e.y << ", dx " << e.dx << ", dW " << e.dw);
  CHECK(e.y < 1e-6);
  CHECK(e.dx < 1e-6);
  CHECK(e.dw < 1.5e-6);
}

TEST_CASE("TYPEGRAD_WINOGRAD=0: values and gradients against the definition", "[conv]") {
  check_conv_values<1, 1, 2, 16, 28, 28, 16, 3, 3, float>();
  check_float_conv_weight_grad<1, 2, 8, 16, 16, 32, 3>();
  check_float_conv_input_grad<1, 2, 8, 16, 16, 32, 3>();
  // 9 images in the 8 groups of conv2d.hpp: one group has two, the second adding to the dW its first assigned
  // (channels-last products for 32 outputs, channels-first for 16)
  static_assert(std::is_same_v<tg::detail::many_tap_conv<float, 8, 8, 8, 1, 32, 3, 3>,
                               tg::detail::shifted_conv_cl<float, tg::detail::shifted_grid<8, 8, 8, 1, 32, 3, 3>>>);
  static_assert(std::is_same_v<tg::detail::many_tap_conv<float, 8, 8, 8, 1, 16, 3, 3>,
                               tg::detail::shifted_conv_cf<float, tg::detail::shifted_grid<8, 8, 8, 1, 16, 3, 3>>>);
  check_float_conv_weight_grad<1, 9, 8, 8, 8, 32, 3>();
  check_float_conv_weight_grad<1, 9, 8, 8, 8, 16, 3>();
  check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(tg::tanh(x), w, b); },
                  random<double, 2, 2, 16, 20>(-1, 1), random<double, 3, 2, 3, 3>(-1, 1), random<double, 3>());
}
