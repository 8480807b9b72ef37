#pragma once
// y = x W^T + b; W [Out, In], b [Out] (PyTorch's nn.Linear layout and default initialisation).
// Linear<In, Out, T, false> has no bias.
#include "typegrad/core/init.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/primitives/add.hpp"
#include "typegrad/primitives/matmul.hpp"
#include "typegrad/primitives/permute.hpp"

namespace tg {

template <std::size_t In, std::size_t Out, class T = float, bool Bias = true>
struct Linear {
  BOOST_HANA_DEFINE_STRUCT(Linear, (Parameter<T, Out, In>, weight), (Parameter<T, Out>, bias));
  static constexpr std::size_t in_features = In, out_features = Out;
  template <class S>
  static constexpr bool accepts = S::rank >= 1 && S::dims[S::rank - 1] == In;

  Linear() { init::from_default_stream(*this); }
  explicit Linear(std::uint64_t seed) { init::from_seed(*this, seed); }
  void reset_parameters(init::Generator& g) { init::torch_default(weight, &bias, g); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return matmul(std::forward<X>(x), transpose(weight)) + bias;
  }
};

template <std::size_t In, std::size_t Out, class T>
struct Linear<In, Out, T, false> {
  BOOST_HANA_DEFINE_STRUCT(Linear, (Parameter<T, Out, In>, weight));
  static constexpr std::size_t in_features = In, out_features = Out;
  template <class S>
  static constexpr bool accepts = S::rank >= 1 && S::dims[S::rank - 1] == In;

  Linear() { init::from_default_stream(*this); }
  explicit Linear(std::uint64_t seed) { init::from_seed(*this, seed); }
  void reset_parameters(init::Generator& g) { init::torch_default(weight, static_cast<Parameter<T, Out>*>(nullptr), g); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return matmul(std::forward<X>(x), transpose(weight));
  }
};

}  // namespace tg
