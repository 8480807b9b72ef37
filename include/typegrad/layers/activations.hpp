#pragma once
// Activations as layers (for tg::Sequential).
#include "typegrad/primitives/gelu.hpp"
#include "typegrad/primitives/leaky_relu.hpp"
#include "typegrad/primitives/relu.hpp"
#include "typegrad/primitives/sigmoid.hpp"
#include "typegrad/primitives/softmax.hpp"
#include "typegrad/primitives/tanh.hpp"

namespace tg {

#define TG_ACTIVATION_LAYER(NAME, FN)     \
  struct NAME {                           \
    template <class S>                    \
    static constexpr bool accepts = true; \
    template <tensor_operand X>           \
    auto operator()(X&& x) const {        \
      return FN(std::forward<X>(x));      \
    }                                     \
  };
TG_ACTIVATION_LAYER(ReLU, relu)
TG_ACTIVATION_LAYER(Tanh, tg::tanh)
TG_ACTIVATION_LAYER(Sigmoid, sigmoid)
TG_ACTIVATION_LAYER(GELU, gelu)
TG_ACTIVATION_LAYER(GELUTanh, gelu_tanh)  // PyTorch's nn.GELU(approximate="tanh")
#undef TG_ACTIVATION_LAYER

struct LeakyReLU {
  double alpha = 0.01;
  template <class S>
  static constexpr bool accepts = true;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return leaky_relu(std::forward<X>(x), alpha);
  }
};

template <std::size_t Axis>
struct LogSoftmax {
  template <class S>
  static constexpr bool accepts = Axis < S::rank;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return log_softmax<Axis>(std::forward<X>(x));
  }
};

template <std::size_t Axis>
struct Softmax {
  template <class S>
  static constexpr bool accepts = Axis < S::rank;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return softmax<Axis>(std::forward<X>(x));
  }
};

}  // namespace tg
