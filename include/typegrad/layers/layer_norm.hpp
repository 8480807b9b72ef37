#pragma once
// LayerNorm over the last axis of size D: y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias
// (biased variance, as PyTorch); the primitive tg::layer_norm carries its VJP.
#include "typegrad/core/init.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/primitives/layer_norm.hpp"

namespace tg {

template <std::size_t D, class T = float>
struct LayerNorm {
  BOOST_HANA_DEFINE_STRUCT(LayerNorm, (Parameter<T, D>, weight), (Parameter<T, D>, bias));
  double eps = 1e-5;
  template <class S>
  static constexpr bool accepts = S::rank >= 1 && S::dims[S::rank - 1] == D;

  LayerNorm() {
    init::ones(weight);
    init::zeros(bias);
  }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return layer_norm(std::forward<X>(x), weight, bias, eps);
  }
};

}  // namespace tg
