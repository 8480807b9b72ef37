#pragma once
// y[i..., :] = W[index[i...], :]; W [V, D] initialised N(0, 1) as PyTorch's nn.Embedding.
#include "typegrad/core/init.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/primitives/gather.hpp"

namespace tg {

template <std::size_t V, std::size_t D, class T = float>
struct Embedding {
  BOOST_HANA_DEFINE_STRUCT(Embedding, (Parameter<T, V, D>, weight));
  template <class S>
  static constexpr bool accepts = true;
  Embedding() { init::from_default_stream(*this); }
  explicit Embedding(std::uint64_t seed) { init::from_seed(*this, seed); }
  void reset_parameters(init::Generator& g) { init::normal(weight, 0.0, 1.0, g); }
  template <tensor_operand X>
  auto operator()(X&& index) const {
    return gather(weight, std::forward<X>(index));
  }
};

}  // namespace tg
