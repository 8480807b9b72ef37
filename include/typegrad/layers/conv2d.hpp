#pragma once
// y = conv2d(x, W) + b over NCHW input; W [OutC, InC, K, K], b [OutC] (PyTorch layout and initialisation).
#include "typegrad/core/init.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/primitives/conv2d.hpp"

namespace tg {

template <std::size_t InC, std::size_t OutC, std::size_t K, std::size_t Stride = 1, std::size_t Padding = 0,
          class T = float>
struct Conv2d {
  BOOST_HANA_DEFINE_STRUCT(Conv2d, (Parameter<T, OutC, InC, K, K>, weight), (Parameter<T, OutC>, bias));
  template <class S>
  static constexpr bool accepts = S::rank == 4 && S::dims[1] == InC;

  Conv2d() { init::from_default_stream(*this); }
  explicit Conv2d(std::uint64_t seed) { init::from_seed(*this, seed); }
  void reset_parameters(init::Generator& g) { init::torch_default(weight, &bias, g); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return conv2d<Stride, Padding>(std::forward<X>(x), weight, bias);
  }
};

}  // namespace tg
