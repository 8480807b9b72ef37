#pragma once
// Declared arguments of a compiled program: tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(f).
#include <cstdint>

#include "typegrad/core/expr.hpp"

namespace tg {

// Class-index labels: [Batch] integers (int32, or int64 as PyTorch keeps them) with values in [0, Classes).
template <class Int>
concept label_integer = std::is_same_v<Int, std::int32_t> || std::is_same_v<Int, std::int64_t>;

template <std::size_t Index, std::size_t Batch, std::size_t Classes, label_integer Int = std::int32_t>
struct LabelsLeaf : InputLeaf<Index, Int, shape<Batch>, false> {
  static constexpr std::size_t classes = Classes;
};

template <class X>
inline constexpr bool is_labels_v = false;
template <std::size_t I, std::size_t B, std::size_t C, class Int>
inline constexpr bool is_labels_v<LabelsLeaf<I, B, C, Int>> = true;

// A declared argument: element type, shape, and whether the program computes its gradient.
template <class T, class S, bool Grad>
struct InputSpec {
  using value_type = T;
  using shape_type = S;
  static constexpr bool is_labels = false;
  template <std::size_t I>
  using leaf = InputLeaf<I, T, S, Grad>;
};

// An input tensor (no gradient).
template <class T, std::size_t... D>
using Input = InputSpec<T, shape<D...>, false>;

// An input whose gradient the program computes (value_and_grad, check_gradients).
template <class T, std::size_t... D>
using Variable = InputSpec<T, shape<D...>, true>;

template <std::size_t Batch, std::size_t Classes, label_integer Int = std::int32_t>
struct Labels {
  using value_type = Int;
  using shape_type = shape<Batch>;
  static constexpr bool is_labels = true;
  static constexpr std::size_t classes = Classes;
  template <std::size_t I>
  using leaf = LabelsLeaf<I, Batch, Classes, Int>;
};

// A tensor of class labels that remembers its class count (an argument of value_and_grad / check_gradients).
template <std::size_t Batch, std::size_t Classes, label_integer Int = std::int32_t>
struct ClassLabels : Tensor<Int, Batch> {
  using spec = Labels<Batch, Classes, Int>;
};

}  // namespace tg
