// conv2d's GEMM path (conv2d_columns.hpp) against the definition: dW from cols^T (im2row), and dx by col2im, whose
// input rows sum their terms in registers at stride 1 where a row fits a 64-byte vector and an output row half of
// one (with AVX-512; row by row elsewhere). Built twice: as every test, and for the machine's vector unit (-march=native, "native: ").
#include "primitives/conv_checks.hpp"
#include "support.hpp"

using namespace tgtest;

// the shapes below take the GEMM path (neither the direct one of few taps nor the shifted products)
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K, std::size_t P>
using conv_node = tg::Conv2dNode<tg::InputLeaf<0, T, tg::shape<2, C, H, W>, false>,
                                 tg::ParamLeaf<T, tg::shape<O, C, K, K>, true>, 1, P>;
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K, std::size_t P>
constexpr bool columns_path = !conv_node<T, C, H, W, O, K, P>::direct && !conv_node<T, C, H, W, O, K, P>::shifted;
static_assert(columns_path<float, 10, 12, 12, 20, 5, 0> && columns_path<float, 10, 6, 6, 20, 5, 1>);
static_assert(columns_path<float, 3, 5, 7, 4, 5, 2> && columns_path<float, 10, 12, 12, 20, 5, 1>);

TEST_CASE("conv2d's GEMM path: dW from cols^T (im2row) against the definition", "[gradcheck]") {
  // windows' rows copied whole (masked stores of KW values with AVX-512), and element by element where a window
  // runs off the image (padding 2)
  check_float_conv_weight_grad<0, 3, 10, 12, 12, 20, 5>();
  check_float_conv_weight_grad<2, 2, 10, 9, 9, 20, 5>();
}

TEST_CASE("conv2d's GEMM path at stride 1: dx against the definition", "[gradcheck]") {
  SECTION("float: LeNet's second layer (input rows of 12, output rows of 8), padding, rows shorter than a vector") {
    check_float_conv_input_grad<0, 3, 10, 12, 12, 20, 5>();
    check_float_conv_input_grad<1, 2, 10, 6, 6, 20, 5>();
    check_float_conv_input_grad<2, 2, 3, 5, 7, 4, 5>();  // output rows of 7
  }
  SECTION("float: output rows of 10, over half a vector (row by row)") {
    check_float_conv_input_grad<1, 2, 10, 12, 12, 20, 5>();
  }
  SECTION("double, output rows of 4 (half a 64-byte vector): numerical gradients, padding, a non-square kernel") {
    check_primitive([](auto x, auto w) { return tg::conv2d(x, w); }, random<double, 2, 3, 7, 6>(),
                    random<double, 2, 3, 4, 3>());
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(tg::tanh(x), w, b); },
                    random<double, 2, 3, 5, 5>(), random<double, 2, 3, 3, 4>(), random<double, 2>());
  }
}
