#pragma once
// y = x W^T + b, W [Out, In] and b [Out] laid out as PyTorch's nn.Linear.
// Initialised like PyTorch: W, b ~ U(-1/sqrt(In), 1/sqrt(In)) from a seed.
#include <cmath>
#include <cstdint>
#include <random>

#include "typegrad/core/tensor.hpp"
#include "typegrad/primitives/add.hpp"
#include "typegrad/primitives/matmul.hpp"
#include "typegrad/primitives/permute.hpp"

namespace tg {

template <std::size_t In, std::size_t Out, class T = float>
struct Linear {
  Parameter<T, Out, In> weight;
  Parameter<T, Out> bias;

  explicit Linear(std::uint64_t seed = 0) {
    std::mt19937_64 rng(seed);
    const T bound = T(1) / std::sqrt(T(In));
    std::uniform_real_distribution<T> u(-bound, bound);
    for (auto& w : weight.value) w = u(rng);
    for (auto& b : bias.value) b = u(rng);
  }

  template <tensor_operand X>
  auto operator()(X&& x) const {
    return matmul(std::forward<X>(x), transpose(weight)) + bias;
  }
};

}  // namespace tg
