// Winograd convolutions (primitives/conv2d_winograd.hpp) against the definition: values, dW and dx, in float on
// ResNet-20's 3x3 shapes and in double. The other test programs build at -O0 for the generic target, where the
// transforms take a pixel's channels one at a time; this one also builds at -O3 -march=native
// (test_conv2d_winograd_native), where with AVX-512 they run on 64-byte vectors of channels.
#include "primitives/conv_checks.hpp"
#include "support.hpp"

using namespace tgtest;

// the transforms' chunks of channels: whole 64-byte vectors with AVX-512, else one channel at a time
#if defined(__AVX512F__) && defined(__GNUC__)
constexpr std::size_t float_lanes = 16, double_lanes = 8;
#else
constexpr std::size_t float_lanes = 1, double_lanes = 1;
#endif
static_assert(tg::detail::channel_vectors<float, 16>::lanes == float_lanes);
static_assert(tg::detail::channel_vectors<float, 64>::lanes == float_lanes);
static_assert(tg::detail::channel_vectors<float, 24>::lanes == 1);  // not whole vectors: one at a time
static_assert(tg::detail::channel_vectors<double, 8>::lanes == double_lanes);
static_assert(tg::detail::channel_vectors<double, 4>::lanes == 1);
// the vectors are loaded at any element's address: their load type is aligned as one element (as blas.hpp's)
static_assert(alignof(tg::detail::lane_vector<float, 16>::unaligned) == alignof(float));
static_assert(alignof(tg::detail::lane_vector<double, 8>::unaligned) == alignof(double));

// the shapes below take the Winograd path
template <class T, std::size_t C, std::size_t H, std::size_t O, std::size_t M>
constexpr bool winograd =
    std::is_same_v<tg::detail::many_tap_conv<T, C, H, H, 1, O, 3, 3>,
                   tg::detail::winograd_conv<T, tg::detail::shifted_grid<C, H, H, 1, O, 3, 3>, M>>;
static_assert(winograd<float, 16, 28, 16, 4> && winograd<float, 32, 14, 32, 2> && winograd<float, 64, 7, 64, 2>);
static_assert(winograd<float, 16, 8, 48, 2> && winograd<float, 48, 8, 16, 2>);
static_assert(winograd<double, 8, 16, 16, 4> && winograd<double, 8, 6, 16, 2>);
// Bands of tile rows (conv2d_winograd.hpp): the 28 x 28 and 14 x 14 shapes below take whole bands and a shorter last
// one (double 8 -> 8 on 28 x 28 too), 7 x 7 x 64 none (its planes of U are too large to read once per band)
template <class T, std::size_t C, std::size_t H, std::size_t O, std::size_t M>
using conv = tg::detail::winograd_conv<T, tg::detail::shifted_grid<C, H, H, 1, O, 3, 3>, M>;
static_assert(conv<float, 16, 28, 16, 4>::band_rows == 2 && conv<float, 16, 28, 16, 4>::last_rows == 1);
static_assert(conv<float, 32, 14, 32, 2>::band_rows == 2 && conv<float, 32, 14, 32, 2>::last_rows == 1);
static_assert(conv<float, 64, 7, 64, 2>::band_rows == conv<float, 64, 7, 64, 2>::th);
static_assert(conv<double, 8, 28, 8, 4>::band_rows == 2 && winograd<double, 8, 28, 8, 4>);

TEST_CASE("Winograd F(4x4) and F(2x2) against the definition, float and double", "[gradcheck]") {
  SECTION("float: ResNet-20's three 3x3 shapes (F(4x4) on 28 x 28, F(2x2) on 14 x 14 and 7 x 7)") {
    // F(4x4)'s transforms scale by up to 8 and 1/24 (tolerances as in test_nn_primitives_grad.cpp)
    check_conv_values<1, 1, 2, 16, 28, 28, 16, 3, 3, float>(1e-3);
    check_float_conv_weight_grad<1, 2, 16, 28, 28, 16, 3>(1e-3);
    check_float_conv_input_grad<1, 2, 16, 28, 28, 16, 3>(1e-3);
    check_conv_values<1, 1, 2, 32, 14, 14, 32, 3, 3, float>();
    check_float_conv_weight_grad<1, 2, 32, 14, 14, 32, 3>(1e-3);
    check_float_conv_input_grad<1, 2, 32, 14, 14, 32, 3>(1e-3);
    check_conv_values<1, 1, 2, 64, 7, 7, 64, 3, 3, float>();
    check_float_conv_weight_grad<1, 2, 64, 7, 7, 64, 3>(1e-3);
    check_float_conv_input_grad<1, 2, 64, 7, 7, 64, 3>(1e-3);
  }
  SECTION("dW of 9 images in 8 groups: the groups' dU summed, then transformed once") {
    check_float_conv_weight_grad<1, 9, 64, 7, 7, 64, 3>(1e-3);
  }
  SECTION("input and output channels in vectors of different counts (16 -> 48, 48 -> 16)") {
    check_conv_values<1, 1, 2, 16, 8, 8, 48, 3, 3, float>();
    check_float_conv_weight_grad<1, 2, 16, 8, 8, 48, 3>(1e-3);
    check_float_conv_input_grad<1, 2, 48, 8, 8, 16, 3>(1e-3);
  }
  SECTION("double, 8 channels (one 64-byte vector) -> 16, F(4x4) and F(2x2)") {
    check_conv_values<1, 1, 2, 8, 16, 16, 16, 3, 3>();
    check_conv_values<1, 1, 2, 8, 6, 6, 16, 3, 3>();
    check_conv_values<1, 1, 1, 8, 28, 28, 8, 3, 3>();  // bands of two tile rows and a last of one
  }
}
