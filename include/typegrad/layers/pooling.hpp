#pragma once
// MaxPool2d / AvgPool2d over K x K windows with stride S (default K), NCHW.
#include "typegrad/primitives/pool2d.hpp"

namespace tg {

template <std::size_t K, std::size_t S = K>
struct MaxPool2d {
  template <class Sh>
  static constexpr bool accepts = Sh::rank == 4 && Sh::dims[2] >= K&& Sh::dims[3] >= K;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return max_pool2d<K, S>(std::forward<X>(x));
  }
};

template <std::size_t K, std::size_t S = K>
struct AvgPool2d {
  template <class Sh>
  static constexpr bool accepts = Sh::rank == 4 && Sh::dims[2] >= K&& Sh::dims[3] >= K;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return avg_pool2d<K, S>(std::forward<X>(x));
  }
};

}  // namespace tg
