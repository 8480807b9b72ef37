// Shape rules at compile time: broadcasting, reductions, matmul, shape ops. All checks are static_asserts;
// the test case only exists so that the binary is part of the suite.
#include "support.hpp"

using tg::shape;
using std::is_same_v;

// broadcasting follows NumPy
static_assert(is_same_v<tg::broadcast_shape_t<shape<3, 4>, shape<4>>, shape<3, 4>>);
static_assert(is_same_v<tg::broadcast_shape_t<shape<2, 1, 5>, shape<3, 1>>, shape<2, 3, 5>>);
static_assert(is_same_v<tg::broadcast_shape_t<shape<>, shape<2, 3>>, shape<2, 3>>);
static_assert(is_same_v<tg::broadcast_shape_t<shape<1>, shape<7>, shape<2, 1>>, shape<2, 7>>);
static_assert(!tg::broadcastable<shape<3, 4>, shape<3>>());
static_assert(tg::broadcastable<shape<8, 1, 6, 1>, shape<7, 1, 5>>());
static_assert(is_same_v<tg::broadcast_shape_t<shape<8, 1, 6, 1>, shape<7, 1, 5>>, shape<8, 7, 6, 5>>);
static_assert(shape<2, 3, 4>::size == 24 && shape<>::size == 1 && shape<2, 3, 4>::strides[0] == 12);

// broadcast index maps: [2,3] <- [3] and [2,3] <- [2,1]
static_assert(tg::broadcast_index<shape<3>, shape<2, 3>>(4) == 1);
static_assert(tg::broadcast_index<shape<2, 1>, shape<2, 3>>(4) == 1);
static_assert(tg::broadcast_index<shape<2, 1, 3>, shape<2, 4, 3>>(7) == 1);

// the row-split index (host region loops over rows of the last axis) maps to the same flat element
template <class From, class To>
constexpr bool row_index_agrees() {
  constexpr std::size_t L = To::dims[To::rank - 1];
  for (std::size_t i = 0; i < To::size; ++i)
    if (std::size_t(tg::broadcast_index<From, To>(tg::row_index<L>{i / L, i % L})) != tg::broadcast_index<From, To>(i))
      return false;
  return true;
}
static_assert(row_index_agrees<shape<16>, shape<3, 16>>());
static_assert(row_index_agrees<shape<3, 1>, shape<3, 16>>());
static_assert(row_index_agrees<shape<2, 1, 16>, shape<2, 3, 16>>());
static_assert(row_index_agrees<shape<3, 16>, shape<2, 3, 16>>());
static_assert(row_index_agrees<shape<3, 1>, shape<2, 3, 16>>());
static_assert(row_index_agrees<shape<2, 1, 1>, shape<2, 3, 16>>());
static_assert(row_index_agrees<shape<1>, shape<2, 3, 16>>());
static_assert(row_index_agrees<shape<2, 3, 16>, shape<2, 3, 16>>());
// and keeps the row split (a contiguous column) wherever the operand keeps the last axis
static_assert(std::is_same_v<decltype(tg::broadcast_index<shape<16>, shape<3, 16>>(tg::row_index<16>{})), tg::row_index<16>>);
static_assert(std::is_same_v<decltype(tg::broadcast_index<shape<3, 1>, shape<3, 16>>(tg::row_index<16>{})), std::size_t>);

namespace {
using X = tg::InputLeaf<0, float, shape<64, 784>, false>;
using W = tg::InputLeaf<1, float, shape<256, 784>, false>;
using V = tg::InputLeaf<2, float, shape<2, 3, 4>, false>;
template <class E>
using shape_of = typename E::shape_type;
}  // namespace

static_assert(is_same_v<shape_of<decltype(tg::matmul(X{}, tg::transpose(W{})))>, shape<64, 256>>);
static_assert(is_same_v<shape_of<decltype(tg::relu(tg::matmul(X{}, tg::transpose(W{}))) + 1.0f)>, shape<64, 256>>);
static_assert(is_same_v<shape_of<decltype(tg::sum<1>(V{}))>, shape<2, 4>>);
static_assert(is_same_v<shape_of<decltype(tg::mean<0, 2>(V{}))>, shape<3>>);
static_assert(is_same_v<shape_of<decltype(tg::max(V{}))>, shape<>>);
static_assert(is_same_v<shape_of<decltype(tg::permute<2, 0, 1>(V{}))>, shape<4, 2, 3>>);
static_assert(is_same_v<shape_of<decltype(tg::transpose(V{}))>, shape<2, 4, 3>>);
static_assert(is_same_v<shape_of<decltype(tg::reshape<6, 4>(V{}))>, shape<6, 4>>);
static_assert(is_same_v<shape_of<decltype(tg::slice<2, 1, 3>(V{}))>, shape<2, 3, 2>>);
static_assert(is_same_v<shape_of<decltype(tg::concat<1>(V{}, V{}))>, shape<2, 6, 4>>);
static_assert(is_same_v<shape_of<decltype(tg::softmax<1>(V{}))>, shape<2, 3, 4>>);
static_assert(is_same_v<shape_of<decltype(tg::broadcast_to<5, 2, 3, 4>(V{}))>, shape<5, 2, 3, 4>>);
static_assert(is_same_v<shape_of<decltype(tg::matmul(V{}, tg::InputLeaf<3, float, shape<4, 7>, false>{}))>, shape<2, 3, 7>>);
static_assert(is_same_v<shape_of<decltype(tg::cross_entropy(tg::InputLeaf<0, float, shape<8, 10>, false>{},
                                                            tg::LabelsLeaf<1, 8, 10>{}))>,
                        shape<>>);
// network primitives: conv2d (H + 2P - K) / S + 1, pooling, gather, layer_norm, nll_loss, lstm_cell, gru_cell
namespace {
using Img = tg::InputLeaf<0, float, shape<8, 3, 28, 27>, false>;
using Kernel = tg::InputLeaf<1, float, shape<16, 3, 5, 5>, false>;
}  // namespace
static_assert(is_same_v<shape_of<decltype(tg::conv2d(Img{}, Kernel{}))>, shape<8, 16, 24, 23>>);
static_assert(is_same_v<shape_of<decltype(tg::conv2d<2, 1>(Img{}, Kernel{}))>, shape<8, 16, 13, 13>>);
static_assert(is_same_v<shape_of<decltype(tg::conv2d(Img{}, Kernel{}, tg::InputLeaf<2, float, shape<16>, false>{}))>,
                        shape<8, 16, 24, 23>>);
static_assert(is_same_v<shape_of<decltype(tg::max_pool2d<2>(Img{}))>, shape<8, 3, 14, 13>>);
static_assert(is_same_v<shape_of<decltype(tg::avg_pool2d<3, 2>(Img{}))>, shape<8, 3, 13, 13>>);
static_assert(is_same_v<shape_of<decltype(tg::gather(tg::InputLeaf<0, float, shape<100, 16>, false>{},
                                                     tg::InputLeaf<1, std::int32_t, shape<4, 7>, false>{}))>,
                        shape<4, 7, 16>>);
static_assert(is_same_v<shape_of<decltype(tg::layer_norm(V{}, tg::InputLeaf<1, float, shape<4>, false>{},
                                                         tg::InputLeaf<2, float, shape<4>, false>{}))>,
                        shape<2, 3, 4>>);
static_assert(is_same_v<shape_of<decltype(tg::nll_loss(tg::InputLeaf<0, float, shape<8, 10>, false>{},
                                                       tg::LabelsLeaf<1, 8, 10>{}))>,
                        shape<>>);
// lstm_cell: gates [B, 4H], c [B, H] -> [B, 2H]
static_assert(is_same_v<shape_of<decltype(tg::lstm_cell(tg::InputLeaf<0, float, shape<5, 28>, false>{},
                                                        tg::InputLeaf<1, float, shape<5, 7>, false>{}))>,
                        shape<5, 14>>);
// gru_cell: gx, gh [B, 3H], h [B, H] -> [B, H]
static_assert(is_same_v<shape_of<decltype(tg::gru_cell(tg::InputLeaf<0, float, shape<5, 21>, false>{},
                                                       tg::InputLeaf<1, float, shape<5, 21>, false>{},
                                                       tg::InputLeaf<2, float, shape<5, 7>, false>{}))>,
                        shape<5, 7>>);

// element types flow through
static_assert(is_same_v<decltype(tg::exp(V{}) * 2.0)::value_type, float>);

TEST_CASE("shape rules hold at compile time", "[static]") {
  // Run time agrees with the static shape: a reshape of a permute reads the permuted elements.
  tg::Tensor<double, 2, 3> a{0, 1, 2, 3, 4, 5};
  auto p = tg::compile_inference<tg::Input<double, 2, 3>>([](auto x) { return tg::reshape<6>(tg::transpose(x)); });
  auto out = p(a);
  const double expected[] = {0, 3, 1, 4, 2, 5};
  for (std::size_t i = 0; i < 6; ++i) CHECK(out[i] == expected[i]);
}
