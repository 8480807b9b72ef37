// conv2d's direct path for few taps at stride 1 (conv2d_direct.hpp: a network's first layer): with a bias, which the
// flat kernel adds as it copies each image's outputs and whose gradient it sums with dW's copy of dy, against the
// definition. Built twice: as every test, and for the machine's vector unit (-march=native, "native: ": AVX-512's
// flat forward pass).
#include "primitives/conv_checks.hpp"
#include "support.hpp"

using namespace tgtest;

template <class T, std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K,
          std::size_t P>
using conv_node =
    tg::Conv2dNode<tg::InputLeaf<0, T, tg::shape<N, C, H, W>, false>, tg::ParamLeaf<T, tg::shape<O, C, K, K>, true>, 1,
                   P, tg::ParamLeaf<T, tg::shape<O>, true>>;
static_assert(conv_node<float, 3, 1, 28, 28, 10, 5, 0>::direct && conv_node<float, 2, 3, 9, 30, 5, 3, 1>::direct);
// flat with AVX-512 (both passes), and for dW where a row of outputs is ragged (5 of 4 doubles, 28 of 8 floats)
static_assert(conv_node<double, 2, 2, 5, 14, 5, 3, 1>::flat == tg::detail::has_vector_extensions);
static_assert(conv_node<float, 2, 3, 9, 30, 5, 3, 1>::flat == tg::detail::has_vector_extensions);
#if defined(__AVX512F__)
// dW's channel blocks (flat_conv::GB): 10 as 5 + 5, 7 as 4 + 3, 11 as 4 + 4 + 3
static_assert(tg::detail::flat_conv<float, 1, 28, 28, 10, 5, 5>::GB == 5 &&
              tg::detail::flat_conv<float, 1, 12, 20, 7, 5, 5>::GB == 4 &&
              tg::detail::flat_conv<float, 2, 10, 12, 11, 3, 3>::GB == 4);
#endif

TEST_CASE("conv2d's direct path with a bias: the loss, dW and db against the definition", "[gradcheck]") {
  SECTION("float: LeNet's first layer, 3 images and 11 (groups of 1 and 2 images, summed in order)") {
    check_float_conv_bias<0, 3, 1, 28, 28, 10, 5>();
    check_float_conv_bias<0, 11, 1, 28, 28, 10, 5>(2e-4);
  }
  SECTION("float: 3 channels, padding 1, rows of 30") { check_float_conv_bias<1, 2, 3, 9, 30, 5, 3>(); }
  SECTION("float: 7 and 11 output channels (dW's channel blocks of unequal size)") {
    check_float_conv_bias<0, 3, 1, 12, 20, 7, 5>();
    check_float_conv_bias<0, 2, 2, 10, 12, 11, 3>();
  }
  SECTION("double: numerical gradients of x, W and b") {
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d<1, 1>(x, w, b); }, random<double, 2, 2, 5, 14>(),
                    random<double, 5, 2, 3, 3>(), random<double, 5>());
    check_primitive([](auto x, auto w, auto b) { return tg::conv2d(tg::tanh(x), w, b); }, random<double, 3, 1, 6, 13>(),
                    random<double, 3, 1, 5, 5>(), random<double, 3>());
  }
}
