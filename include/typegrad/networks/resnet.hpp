#pragma once
// ResNet for small images (He et al. 2016, the CIFAR variant), over NCHW input of InC channels:
//   stem:    relu(bn(conv3x3(x)))                                                   -> 16 channels
//   stage k: one BasicBlock that may halve the resolution and change the width, then N - 1 identical blocks
//            (tg::Repeat), widths 16, 32, 64, strides 1, 2, 2
//   head:    mean over H and W, Linear<64, Classes>
// (widths W, 2W, 4W with W = 16 by default)
//   BasicBlock: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), conv3x3 with padding 1;
//               shortcut = x, or bn(conv1x1 stride s (x)) where the shape changes ("option B").
// ResNet<6n + 2> has n blocks per stage: ResNet20 = 3, ResNet32 = 5, ResNet56 = 9. Names follow PyTorch's CIFAR
// ResNets: stem.0.weight, stage1.first.conv1.weight, stage1.rest.0.bn2.running_mean, stage2.first.shortcut.0.weight.
#include "typegrad/layers/batch_norm.hpp"
#include "typegrad/layers/conv2d.hpp"
#include "typegrad/layers/linear.hpp"
#include "typegrad/layers/repeat.hpp"
#include "typegrad/layers/sequential.hpp"
#include "typegrad/primitives/reduce.hpp"
#include "typegrad/primitives/relu.hpp"

namespace tg {

// The identity shortcut: no parameters.
struct Identity {
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return as_expr(std::forward<X>(x));
  }
};

template <std::size_t InC, std::size_t OutC, std::size_t Stride = 1, class T = float>
struct BasicBlock {
  static constexpr bool projects = InC != OutC || Stride != 1;
  using Shortcut = std::conditional_t<projects, Sequential<Conv2d<InC, OutC, 1, Stride, 0, T>, BatchNorm2d<OutC, T>>,
                                      Identity>;
  BOOST_HANA_DEFINE_STRUCT(BasicBlock, (Conv2d<InC, OutC, 3, Stride, 1, T>, conv1), (BatchNorm2d<OutC, T>, bn1),
                           (Conv2d<OutC, OutC, 3, 1, 1, T>, conv2), (BatchNorm2d<OutC, T>, bn2), (Shortcut, shortcut));
  BasicBlock() = default;
  explicit BasicBlock(std::uint64_t seed) { init::initialize(*this, seed); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return let(std::forward<X>(x), [this](auto h) { return relu(bn2(conv2(relu(bn1(conv1(h))))) + shortcut(h)); });
  }
};

// One stage: a block that may change the shape, then Blocks - 1 identical blocks.
template <std::size_t InC, std::size_t OutC, std::size_t Stride, std::size_t Blocks, class T = float>
struct ResNetStage {
  BOOST_HANA_DEFINE_STRUCT(ResNetStage, (BasicBlock<InC, OutC, Stride, T>, first),
                           (Repeat<Blocks - 1, BasicBlock<OutC, OutC, 1, T>>, rest));
  ResNetStage() = default;
  explicit ResNetStage(std::uint64_t seed) { init::initialize(*this, seed); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return rest(first(std::forward<X>(x)));
  }
};

// W: the first stage's width (16 in the paper; smaller for tests).
template <std::size_t Depth, std::size_t InC, std::size_t Classes, class T = float, std::size_t W = 16>
struct ResNet {
  static_assert(Depth >= 8 && (Depth - 2) % 6 == 0, "tg::ResNet<Depth>: Depth = 6 n + 2 (20, 32, 44, 56, ...)");
  static constexpr std::size_t n = (Depth - 2) / 6;
  BOOST_HANA_DEFINE_STRUCT(ResNet, (Sequential<Conv2d<InC, W, 3, 1, 1, T>, BatchNorm2d<W, T>>, stem),
                           (ResNetStage<W, W, 1, n, T>, stage1), (ResNetStage<W, 2 * W, 2, n, T>, stage2),
                           (ResNetStage<2 * W, 4 * W, 2, n, T>, stage3), (Linear<4 * W, Classes, T>, fc));
  ResNet() = default;
  explicit ResNet(std::uint64_t seed) { init::initialize(*this, seed); }
  template <tensor_operand X>
  auto operator()(X&& x) const {  // [N, InC, H, W] -> [N, Classes]
    return fc(mean<2, 3>(stage3(stage2(stage1(relu(stem(std::forward<X>(x))))))));
  }
};

template <std::size_t InC, std::size_t Classes, class T = float>
using ResNet20 = ResNet<20, InC, Classes, T>;

}  // namespace tg
