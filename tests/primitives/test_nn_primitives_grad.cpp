// Numerical gradient checks of the network primitives: conv2d (stride, padding), pooling, gather, nll_loss,
// layer_norm, lstm_cell, gru_cell.
#include "primitives/conv_checks.hpp"
#include "support.hpp"

using namespace tgtest;

// which host path a convolution takes: direct for few taps at stride 1, im2col + GEMM otherwise
template <std::size_t N, std::size_t C, std::size_t H, std::size_t O, std::size_t K, std::size_t S>
constexpr bool runs_direct = tg::Conv2dNode<tg::InputLeaf<0, float, tg::shape<N, C, H, H>, false>,
                                            tg::ParamLeaf<float, tg::shape<O, C, K, K>, true>, S, 0>::direct;
// (the direct path needs GCC's vector extensions: not under nvcc)
static_assert(runs_direct<64, 1, 28, 10, 5, 1> == tg::detail::has_vector_extensions);  // LeNet's first layer: 25 taps
static_assert(runs_direct<64, 3, 32, 16, 3, 1> == tg::detail::has_vector_extensions);  // 27
static_assert(!runs_direct<64, 10, 12, 20, 5, 1>);  // LeNet's second: 250 taps
static_assert(!runs_direct<64, 1, 28, 10, 5, 2>);   // stride 2
// on the GEMM path, dW = dy_n cols_n^T from im2row where dy_n^T would be padded to whole 32-byte vectors
template <class T, std::size_t C, std::size_t H, std::size_t O, std::size_t K, std::size_t S, std::size_t P>
constexpr bool dw_from_rows = tg::Conv2dNode<tg::InputLeaf<0, T, tg::shape<2, C, H, H>, false>,
                                             tg::ParamLeaf<T, tg::shape<O, C, K, K>, true>, S, P>::dw_from_rows;
static_assert(dw_from_rows<float, 10, 12, 20, 5, 1, 0>);   // LeNet's second: 20 channels, padded to 24
static_assert(!dw_from_rows<float, 16, 28, 32, 3, 2, 1>);  // ResNet-20's strided ones: whole vectors
static_assert(dw_from_rows<double, 2, 7, 3, 3, 2, 1>);     // the stride 2, padding 1 gradient check
static_assert(dw_from_rows<float, 10, 9, 20, 5, 1, 2>);    // the dW checks below
// ... over flat positions with AVX-512, and with AVX2 where a row of outputs is not a whole number of vectors (not
// LeNet's 24)
template <std::size_t N, std::size_t C, std::size_t H, std::size_t O, std::size_t K>
constexpr bool runs_flat = tg::Conv2dNode<tg::InputLeaf<0, float, tg::shape<N, C, H, H>, false>,
                                          tg::ParamLeaf<float, tg::shape<O, C, K, K>, true>, 1, 0>::flat;
static_assert(runs_flat<64, 1, 28, 10, 5> ==
              (tg::detail::has_vector_extensions && tg::detail::flat_vector_bytes == 64));
// 20 outputs per row: ragged at 8 and 16
static_assert(runs_flat<2, 1, 24, 3, 5> == tg::detail::has_vector_extensions);
// its forward pass only with AVX-512 (with AVX2 direct_conv's is faster)
static_assert(tg::Conv2dNode<tg::InputLeaf<0, float, tg::shape<2, 1, 24, 24>, false>,
                             tg::ParamLeaf<float, tg::shape<3, 1, 5, 5>, true>, 1, 0>::flat_forward ==
              (tg::detail::has_vector_extensions && tg::detail::flat_vector_bytes == 64));
// shifted products (with libxsmm): more taps at stride 1, channels in whole 32-byte vectors, at most 1.5 anchors
// per output
template <class T, std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t KH,
          std::size_t KW, std::size_t S, std::size_t P>
constexpr bool runs_shifted = tg::Conv2dNode<tg::InputLeaf<0, T, tg::shape<N, C, H, W>, false>,
                                             tg::ParamLeaf<T, tg::shape<O, C, KH, KW>, true>, S, P>::shifted;
constexpr bool shifts = tg::detail::has_batch_reduce_gemm;
static_assert(runs_shifted<float, 64, 16, 28, 28, 16, 3, 3, 1, 1> == shifts);  // ResNet-20's stages: 838 anchors
static_assert(runs_shifted<float, 64, 64, 7, 7, 64, 3, 3, 1, 1> == shifts);    // 61 anchors for 49 outputs
static_assert(!runs_shifted<float, 64, 10, 12, 12, 20, 5, 5, 1, 0>);           // LeNet's second: 10 channels
static_assert(!runs_shifted<float, 64, 16, 28, 28, 32, 3, 3, 2, 1>);           // stride 2
static_assert(!runs_shifted<float, 64, 16, 5, 5, 16, 4, 4, 1, 0>);             // 7 anchors for 4 outputs
static_assert(runs_shifted<double, 2, 4, 5, 6, 4, 3, 3, 1, 1> == shifts);      // the gradient checks' shapes
static_assert(runs_shifted<double, 2, 8, 6, 9, 4, 2, 3, 1, 0> == shifts);
static_assert(runs_shifted<double, 2, 4, 5, 6, 4, 3, 3, 1, 2> == shifts);
static_assert(runs_shifted<double, 11, 4, 3, 4, 4, 3, 3, 1, 1> == shifts);
static_assert(runs_shifted<double, 2, 4, 5, 6, 16, 3, 3, 1, 1> == shifts);
static_assert(runs_shifted<float, 2, 8, 9, 9, 32, 3, 3, 1, 1> == shifts);
// the layout of the padded image: channels-first where the output channels fill at most two 32-byte vectors
template <class T, std::size_t C, std::size_t H, std::size_t O>
constexpr bool channels_first = tg::detail::shifted_conv<T, C, H, H, 1, O, 3, 3>::channels_first;
static_assert(channels_first<float, 16, 28, 16>);   // ResNet-20's first stage
static_assert(!channels_first<float, 32, 14, 32>);  // its second and third: channels-last
static_assert(!channels_first<float, 64, 7, 64>);
static_assert(channels_first<double, 4, 5, 4>);  // the gradient checks' shapes: both layouts
static_assert(!channels_first<double, 4, 5, 16>);
// 3x3 kernels with padding 1 on that path run Winograd's F(4x4, 3x3) where whole 4 x 4 tiles cover the image and
// there are at least 16 of them, else F(2x2, 3x3) (conv2d_winograd.hpp); other kernels and paddings keep the shifted
// products
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t KH, std::size_t KW,
          std::size_t P, std::size_t M = 2>
constexpr bool winograd =
    std::is_same_v<tg::detail::many_tap_conv<T, C, H, W, P, O, KH, KW>,
                   tg::detail::winograd_conv<T, tg::detail::shifted_grid<C, H, W, P, O, KH, KW>, M>>;
static_assert(winograd<float, 16, 28, 28, 16, 3, 3, 1, 4>);  // ResNet-20's first stage: 49 tiles of 4 x 4
static_assert(winograd<float, 32, 14, 14, 32, 3, 3, 1> && winograd<float, 64, 7, 7, 64, 3, 3, 1>);  // the others
static_assert(winograd<double, 2, 16, 20, 3, 3, 3, 1, 4>);  // the gradient check's shape
// TYPEGRAD_WINOGRAD=2 keeps F(2x2) everywhere (=0, no Winograd: test_conv2d_exact.cpp)
static_assert(tg::detail::winograd_tile(28, 28, 2) == 2 && tg::detail::winograd_tile(28, 28, 4) == 4);
static_assert(winograd<double, 4, 12, 12, 4, 3, 3, 1>);     // 9 tiles of 4 x 4: F(2x2)
static_assert(winograd<double, 4, 5, 6, 4, 3, 3, 1>);       // odd tiles
static_assert(!winograd<double, 4, 5, 6, 4, 3, 3, 2> && !winograd<double, 8, 6, 9, 4, 2, 3, 0>);
static_assert(!winograd<float, 16, 9, 9, 32, 3, 3, 0>);

TEST_CASE("conv2d", "[gradcheck]") {
  SECTION("stride 1, no padding") {
    check_primitive([](auto x, auto w) { return tg::conv2d(x, w); }, random<double, 2, 3, 6, 5>(),
                    random<double, 4, 3, 3, 3>());
  }
  SECTION("stride 2, padding 1") {
    check_primitive([](auto x, auto w) { return tg::conv2d<2, 1>(x, w); }, random<double, 2, 2, 7, 6>(),
                    random<double, 3, 2, 3, 3>());
  }
  SECTION("with a bias, stride 2, padding 1") {
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<2, 1>(x, w, b); }, random<double, 2, 2, 5, 6>(),
                    random<double, 3, 2, 3, 3>(), random<double, 3>());
  }
  SECTION("non-square kernel over an element-wise operand") {
    check_primitive([](auto x, auto w) { return tg::conv2d<1, 2>(tg::tanh(x), w); }, random<double, 1, 2, 5, 5>(),
                    random<double, 2, 2, 2, 4>());
  }
  SECTION("padding wider than the kernel: whole output rows and columns read only padding") {
    check_primitive([](auto x, auto w) { return tg::conv2d<2, 2>(x, w); }, random<double, 2, 2, 5, 4>(),
                    random<double, 2, 2, 1, 1>());
  }
  SECTION("stride 3, padding 1, a 2x2 kernel: windows that skip inputs") {
    check_primitive([](auto x, auto w) { return tg::conv2d<3, 1>(x, w); }, random<double, 1, 2, 7, 8>(),
                    random<double, 2, 2, 2, 2>());
  }
  SECTION("strided (through the image's phases on the host): values against the definition, then gradients") {
    check_conv_values<2, 1, 2, 16, 28, 28, 32, 3, 3>();  // ResNet's first strided layers
    check_conv_values<2, 0, 2, 16, 28, 28, 32, 1, 1>();  // ... and their shortcuts
    check_conv_values<2, 1, 3, 2, 7, 6, 3, 3, 2>();      // odd and even sizes, a non-square kernel
    check_conv_values<3, 1, 1, 2, 7, 8, 2, 2, 2>();      // stride 3: windows that skip inputs
    check_conv_values<2, 2, 2, 2, 5, 4, 2, 1, 1>();      // padding wider than the kernel
    check_conv_values<2, 3, 1, 2, 6, 5, 2, 3, 3>();      // padding wider than the stride
    check_primitive([](auto x, auto w) { return tg::conv2d<2, 3>(x, w); }, random<double, 1, 2, 6, 5>(),
                    random<double, 2, 2, 3, 3>());
    check_primitive([](auto x, auto w) { return tg::conv2d<2, 1>(tg::tanh(x), w); }, random<double, 3, 2, 7, 6>(),
                    random<double, 3, 2, 3, 2>());
    // no padding: dx's first column takes only the first kernel column's terms (col2im's pairs of columns)
    check_primitive([](auto x, auto w) { return tg::conv2d<2, 0>(x, w); }, random<double, 2, 2, 9, 8>(),
                    random<double, 2, 2, 3, 3>());
  }
  SECTION("a batch of 11: the host's 8 image groups hold 1 or 2 images (dW summed per group, then over groups)") {
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(x, w, b); }, random<double, 11, 2, 4, 3>(),
                    random<double, 3, 2, 3, 3>(), random<double, 3>());
  }
  SECTION("few taps at stride 1 (direct on the host): rows of several vectors, a ragged end, channel remainders") {
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(x, w, b); }, random<double, 2, 2, 5, 14>(),
                    random<double, 5, 2, 3, 3>(), random<double, 5>());
    check_primitive([](auto x, auto w) { return tg::conv2d(tg::tanh(x), w); }, random<double, 3, 1, 6, 13>(),
                    random<double, 3, 1, 5, 5>());
  }
  SECTION("float, vectors of 8: values and dW against the definition (LeNet's first layer; 2 vectors + 4)") {
    check_conv_values<1, 0, 3, 1, 28, 28, 10, 5, 5, float>();
    check_conv_values<1, 0, 2, 2, 8, 24, 6, 5, 5, float>();
    check_conv_values<1, 1, 2, 1, 9, 30, 16, 3, 3, float>();
    check_float_conv_weight_grad<0, 3, 1, 28, 28, 10, 5>();
    check_float_conv_weight_grad<0, 11, 1, 28, 28, 10, 5>();  // 1 or 2 images per group: dW summed over both
    check_float_conv_weight_grad<1, 2, 3, 9, 30, 5, 3>();
    check_float_conv_weight_grad<0, 2, 2, 8, 24, 6, 5>();
  }
  SECTION(
      "float, dW from im2row (20 output channels): LeNet's second layer, and with padding 2 (windows that run "
      "off the image take the element-by-element copy)") {
    check_float_conv_weight_grad<0, 3, 10, 12, 12, 20, 5>();
    check_float_conv_weight_grad<2, 2, 10, 9, 9, 20, 5>();
    check_float_conv_input_grad<0, 3, 10, 12, 12, 20, 5>();
  }
  SECTION("many taps at stride 1 (Winograd or shifted products): padding 0-2, a 2x3 kernel, 11 images") {
    // few outputs (a few hundred): the loss's rounding, divided by the step, stays below the tolerance (the OMP
    // device's reductions round differently per evaluation: 1,008 outputs gave 1.35e-6 there)
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(x, w, b); }, random<double, 2, 4, 5, 6>(),
                    random<double, 4, 4, 3, 3>(), random<double, 4>());
    // inputs and weights in [-1, 1]: the OMP device failed seed 130789990 with [-2, 2] at 1.35e-6 (a gradient of 0.006)
    check_primitive([](auto x, auto w) { return tg::conv2d(tg::tanh(x), w); }, random<double, 2, 8, 6, 9>(-1, 1),
                    random<double, 4, 8, 2, 3>(-1, 1));
    check_primitive([](auto x, auto w) { return tg::conv2d<1, 2>(x, w); }, random<double, 2, 4, 5, 6>(),
                    random<double, 4, 4, 3, 3>());
    // inputs in [-1, 1]: the loss's rounding over the step shrinks 4x (the OMP device failed seed 578615687 at
    // 1.11e-6 with [-2, 2], with this session's check_gradients and the previous one alike)
    check_primitive([](auto x, auto w) { return tg::conv2d<1, 1>(x, w); }, random<double, 11, 4, 3, 4>(-1, 1),
                    random<double, 4, 4, 3, 3>(-1, 1));
    // 16 output channels in double: Winograd; with padding 2, the shifted products' channels-last layout (the
    // shifted ones above are channels-first)
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(x, w, b); }, random<double, 2, 4, 5, 6>(-1, 1),
                    random<double, 16, 4, 3, 3>(-1, 1), random<double, 16>());
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 2>(x, w, b); }, random<double, 2, 4, 4, 3>(-1, 1),
                    random<double, 16, 4, 3, 3>(-1, 1), random<double, 16>());
  }
  SECTION("Winograd: 3x3 with padding 1 over odd and even sizes (ragged tiles at the edges)") {
    check_primitive([](auto x, auto w) { return tg::conv2d<1, 1>(x, w); }, random<double, 3, 4, 7, 4>(-1, 1),
                    random<double, 8, 4, 3, 3>(-1, 1));
    check_primitive([](auto x, auto w) { return tg::conv2d<1, 1>(tg::tanh(x), w); }, random<double, 2, 8, 2, 3>(-1, 1),
                    random<double, 4, 8, 3, 3>(-1, 1));
  }
  SECTION("Winograd F(4x4, 3x3): 4 x 5 tiles, an element-wise operand, a bias, 2 images") {
    // one check, 2 -> 3 channels: at -O0 each of its ~1,340 differences runs the step
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(tg::tanh(x), w, b); },
                    random<double, 2, 2, 16, 20>(-1, 1), random<double, 3, 2, 3, 3>(-1, 1), random<double, 3>());
  }
  SECTION("float, Winograd: values, dW and dx against the definition (ResNet-20's 3x3 layers)") {
    // F(4x4, 3x3): its transforms scale by up to 8 and 1/24, and round 4-10x more than F(2x2)'s (errors up to
    // 3.4e-4 seen on dW entries near 2.35, 1.3e-4 on dx entries near 0.4)
    check_float_conv_weight_grad<1, 1, 16, 28, 28, 16, 3>(1e-3);
    check_float_conv_input_grad<1, 1, 16, 28, 28, 16, 3>(1e-3);
    check_float_conv_weight_grad<1, 2, 8, 16, 16, 32, 3>(1e-3);
    check_float_conv_input_grad<1, 2, 8, 16, 16, 32, 3>(1e-3);
    check_conv_values<1, 1, 2, 16, 7, 7, 16, 3, 3, float>();
    check_conv_values<1, 1, 1, 16, 28, 28, 16, 3, 3, float>(1e-3);  // F(4x4): 1.56e-4 seen on a value of 0.16
    check_float_conv_weight_grad<1, 3, 16, 7, 7, 8, 3>();
    check_float_conv_weight_grad<1, 1, 8, 14, 14, 16, 3>();
    check_float_conv_input_grad<1, 3, 16, 7, 7, 8, 3>();
    check_float_conv_input_grad<1, 1, 8, 14, 14, 16, 3>();
    check_conv_values<1, 1, 2, 16, 7, 7, 32, 3, 3, float>();
    check_float_conv_weight_grad<1, 2, 8, 9, 9, 32, 3>();
    check_float_conv_input_grad<1, 2, 8, 9, 9, 32, 3>();
    check_conv_values<1, 1, 2, 64, 7, 7, 64, 3, 3, float>();  // the third stage's 64 channels
    check_float_conv_weight_grad<1, 2, 64, 7, 7, 64, 3>();
    check_float_conv_input_grad<1, 2, 64, 7, 7, 64, 3>();
    // 11 images: groups of 1 and 2, whose first image assigns the group's dU and the others add to it
    check_float_conv_weight_grad<1, 11, 8, 16, 16, 8, 3>(1e-3);  // F(4x4)
    check_float_conv_weight_grad<1, 11, 8, 7, 7, 8, 3>();        // F(2x2)
  }
  SECTION("float, shifted products (3x3, no padding): values, dW and dx against the definition") {
    check_conv_values<1, 0, 2, 16, 9, 9, 16, 3, 3, float>();  // channels-first
    check_float_conv_weight_grad<0, 3, 16, 9, 9, 16, 3>();
    check_float_conv_input_grad<0, 3, 16, 9, 9, 16, 3>();
    check_conv_values<1, 0, 2, 16, 9, 9, 32, 3, 3, float>();  // channels-last
    check_float_conv_weight_grad<0, 2, 8, 9, 9, 32, 3>();
    check_float_conv_input_grad<0, 2, 8, 9, 9, 32, 3>();
    // 11 images: groups of 1 and 2, whose first image assigns the group's dW and the others add to it
    check_float_conv_weight_grad<0, 11, 16, 9, 9, 16, 3>();  // channels-first
    check_float_conv_weight_grad<0, 11, 8, 9, 9, 32, 3>();   // channels-last
  }
  SECTION("values match a direct loop (strides 1-3, padding 0-2, square and non-square kernels)") {
    check_conv_values<1, 1, 1, 2, 4, 4, 3, 3, 3>();
    check_conv_values<2, 0, 2, 3, 7, 6, 4, 3, 3>();
    check_conv_values<2, 2, 1, 2, 5, 4, 2, 1, 1>();
    check_conv_values<3, 1, 1, 2, 7, 8, 2, 2, 2>();
    check_conv_values<1, 2, 2, 1, 5, 5, 2, 2, 4>();
    check_conv_values<1, 1, 11, 2, 4, 3, 3, 3, 3>();  // more images than the host's groups
  }
}

#ifndef TYPEGRAD_TEST_DEVICE
// The host rebuilds an image's im2col columns in the backward pass instead of keeping the batch's: a training
// step over a 3x3 convolution needs less working memory than those columns alone (9 times the input).
TEST_CASE("conv2d's training step does not keep the batch's im2col columns", "[memory]") {
  constexpr std::size_t N = 64, C = 16, H = 28, W = 28;
  tg::Conv2d<C, 16, 3, 1, 1> conv(1);  // weight and input gradients
  auto step = tg::compile<tg::Variable<float, N, C, H, W>>([&](auto x) { return tg::sum(conv(x)); });
  const std::size_t columns = N * C * 9 * H * W * sizeof(float);
  INFO("workspace " << step.total_workspace_bytes() << " bytes, the batch's columns " << columns);
  CHECK(step.total_workspace_bytes() < columns);
}
#endif

// Ties are where a numerical check cannot look: a window whose elements are equal sends its gradient to its
// first element (row-major) only, as PyTorch's max_pool2d does, for windows that tile and that overlap.
TEST_CASE("max_pool2d sends a tied window's gradient to its first maximum", "[value]") {
  tg::Tensor<double, 1, 1, 4, 4> x;
  for (std::size_t i = 0; i < 16; ++i) x[i] = 1.0;
  x[2 * 4 + 3] = 5.0;  // row 2, column 3: the one element above the ties
  auto expected = [](std::initializer_list<std::pair<std::size_t, double>> hits) {
    std::array<double, 16> e{};
    for (auto [at, v] : hits) e[at] = v;
    return e;
  };
  SECTION("2x2 windows, stride 2") {
    const auto r = tg::value_and_grad([](auto v) { return tg::sum(tg::max_pool2d<2>(v)); }, x);
    const auto e = expected({{0, 1.0}, {2, 1.0}, {8, 1.0}, {11, 1.0}});
    for (std::size_t i = 0; i < 16; ++i) CHECK(r.grad<0>()[i] == e[i]);
  }
  SECTION("3x3 windows, stride 1") {
    const auto r = tg::value_and_grad([](auto v) { return tg::sum(tg::max_pool2d<3, 1>(v)); }, x);
    const auto e = expected({{0, 1.0}, {4, 1.0}, {11, 2.0}});
    for (std::size_t i = 0; i < 16; ++i) CHECK(r.grad<0>()[i] == e[i]);
  }
}

TEST_CASE("pooling", "[gradcheck]") {
  // distinct inputs: no two candidates of a window tie
  SECTION("max_pool2d 2x2") {
    check_primitive([](auto x) { return tg::max_pool2d<2>(x); }, random_distinct<double, 2, 3, 4, 6>());
  }
  SECTION("max_pool2d 3, stride 2, over relu") {
    check_primitive([](auto x) { return tg::max_pool2d<3, 2>(tg::relu(x)); },
                    random_distinct<double, 1, 2, 7, 7>(-2, 2, {0.0}));
  }
  SECTION("avg_pool2d 2x2") {
    check_primitive([](auto x) { return tg::avg_pool2d<2>(x); }, random<double, 2, 2, 4, 4>());
  }
}

TEST_CASE("gather (embedding lookup)", "[gradcheck]") {
  tg::Tensor<std::int32_t, 2, 3> index{4, 0, 4, 1, 2, 4};  // repeated rows accumulate
  auto table = random<double, 5, 3>();
  auto f = [](auto t, auto i) { return tg::gather(t, i); };
  check_primitive(f, table, index);
  SECTION("an index out of range is an error naming it") {
    index[5] = 5;
    CHECK_THROWS_WITH(tg::value_and_grad([&](auto t, auto i) { return tg::sum(tg::gather(t, i)); }, table, index),
                      Catch::Contains("index 5 at position 5"));
  }
}

TEST_CASE("nll_loss on log_softmax equals cross_entropy", "[gradcheck]") {
  auto logits = random<double, 4, 6>(-3, 3);
  tg::ClassLabels<4, 6> y;
  std::uniform_int_distribution<int> cls(0, 5);
  for (auto& v : y) v = cls(rng());
  auto nll = [](auto x, auto labels) { return tg::nll_loss(tg::log_softmax<1>(x), labels); };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(nll, logits, y), 1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients_in<float>(nll, logits, y), 1e-3);
  auto ce = [](auto x, auto labels) { return tg::cross_entropy(x, labels); };
  CHECK(tg::value_and_grad(nll, logits, y).value == near(tg::value_and_grad(ce, logits, y).value, 1e-12));
}

TEST_CASE("layer_norm", "[gradcheck]") {
  check_primitive([](auto x, auto g, auto b) { return tg::layer_norm(x, g, b); }, random<double, 3, 2, 5>(),
                  random<double, 5>(0.5, 1.5), random<double, 5>());
  // rows of x*x with a variance well above eps: the curvature grows like (var + eps)^-3/2
  const auto x = draw_until([] { return random<double, 4, 3>(); },
                            [](const auto& t) {
                              for (std::size_t r = 0; r < 4; ++r) {
                                double m = 0, v = 0;
                                for (std::size_t k = 0; k < 3; ++k) m += t(r, k) * t(r, k) / 3;
                                for (std::size_t k = 0; k < 3; ++k)
                                  v += (t(r, k) * t(r, k) - m) * (t(r, k) * t(r, k) - m) / 3;
                                if (v < 0.05) return false;
                              }
                              return true;
                            });
  check_primitive([](auto a, auto g, auto b) { return tg::layer_norm(a * a, g, b, 1e-3); }, x,
                  random<double, 3>(0.5, 1.5), random<double, 3>());
}

TEST_CASE("layer_norm over rows longer than one block of partial sums", "[gradcheck]") {
  // rows of 37: two blocks of the 16 partial sums (core/row_sums.hpp) and a tail of 5; the input an element-wise
  // region, the backward pass reading the statistics the forward pass kept
  check_primitive([](auto a, auto b, auto g, auto beta) { return tg::layer_norm(a + b * 0.5, g, beta); },
                  random<double, 3, 37>(), random<double, 3, 37>(), random<double, 37>(0.5, 1.5), random<double, 37>());
}

TEST_CASE("layer_norm matches the definition", "[value]") {
  // float rows of 300 with a large common offset (the variance from the centred values, not E[x^2] - mean^2)
  constexpr std::size_t R = 4, N = 300;
  auto x = random<float, R, N>(-1, 1);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += 100.0f;
  const auto g = random<float, N>(0.5, 1.5), b = random<float, N>();
  auto program = tg::compile_inference<tg::Input<float, R, N>, tg::Input<float, N>, tg::Input<float, N>>(
      [](auto v, auto gamma, auto beta) { return tg::layer_norm(v, gamma, beta); });
  const auto y = program(x, g, b);
  for (std::size_t r = 0; r < R; ++r) {
    long double mean = 0, var = 0;
    for (std::size_t k = 0; k < N; ++k) mean += x(r, k);
    mean /= N;
    for (std::size_t k = 0; k < N; ++k) var += (x(r, k) - mean) * (x(r, k) - mean);
    var /= N;
    for (std::size_t k = 0; k < N; ++k) {
      const long double want = (x(r, k) - mean) / std::sqrt(var + 1e-5L) * g[k] + b[k];
      INFO("row " << r << " element " << k);
      CHECK(std::abs(y(r, k) - double(want)) < 2e-4);
    }
  }
}

TEST_CASE("lstm_cell", "[gradcheck]") {
  SECTION("gates and cell state") {
    check_primitive([](auto g, auto c) { return tg::lstm_cell(g, c); }, random<double, 3, 8>(-3, 3),
                    random<double, 3, 2>());
  }
  SECTION("gates from an element-wise region, cell state a slice of the carry") {
    check_primitive([](auto g, auto carry) { return tg::lstm_cell(g * 2.0 + 0.5, tg::slice<1, 3, 6>(carry)); },
                    random<double, 2, 12>(), random<double, 2, 6>());
  }
  SECTION("value matches the cell's formula") {
    const auto g = random<double, 2, 12>(-3, 3);
    const auto c = random<double, 2, 3>();
    auto p = tgtest::compile_inference<tg::Input<double, 2, 12>, tg::Input<double, 2, 3>>(
        [](auto a, auto b) { return tg::lstm_cell(a, b); });
    const auto y = p(g, c);
    auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t j = 0; j < 3; ++j) {
        const double i = sigmoid(g(b, j)), f = sigmoid(g(b, 3 + j)), gg = std::tanh(g(b, 6 + j)),
                     o = sigmoid(g(b, 9 + j));
        const double c_next = f * c(b, j) + i * gg;
        CHECK(y(b, j) == near(o * std::tanh(c_next), 1e-12));
        CHECK(y(b, 3 + j) == near(c_next, 1e-12));
      }
  }
}

TEST_CASE("gru_cell", "[gradcheck]") {
  SECTION("gates from the input and the state, and the state") {
    check_primitive([](auto gx, auto gh, auto h) { return tg::gru_cell(gx, gh, h); }, random<double, 3, 12>(-3, 3),
                    random<double, 3, 12>(-3, 3), random<double, 3, 4>());
  }
  SECTION("the state used by gh and by the cell (a GRU step), gates from element-wise regions") {
    check_primitive(
        [](auto gx, auto h) { return tg::gru_cell(gx * 2.0 + 0.5, tg::concat<1>(tg::concat<1>(h, h * 0.5 - 1.0), h * h), h); },
        random<double, 2, 9>(), random<double, 2, 3>());
  }
  SECTION("value matches the cell's formula") {
    const auto gx = random<double, 2, 9>(-3, 3);
    const auto gh = random<double, 2, 9>(-3, 3);
    const auto h = random<double, 2, 3>();
    auto p = tgtest::compile_inference<tg::Input<double, 2, 9>, tg::Input<double, 2, 9>, tg::Input<double, 2, 3>>(
        [](auto a, auto b, auto c) { return tg::gru_cell(a, b, c); });
    const auto y = p(gx, gh, h);
    auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t j = 0; j < 3; ++j) {
        const double r = sigmoid(gx(b, j) + gh(b, j)), z = sigmoid(gx(b, 3 + j) + gh(b, 3 + j)),
                     n = std::tanh(gx(b, 6 + j) + r * gh(b, 6 + j));
        CHECK(y(b, j) == near((1 - z) * n + z * h(b, j), 1e-12));
      }
  }
}
