#pragma once
// Declared arguments of a compiled program: tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(f).
#include <cstdint>

#include "typegrad/core/expr.hpp"

namespace tg {

// Class-index labels: int32 [Batch] with values in [0, Classes).
template <std::size_t Index, std::size_t Batch, std::size_t Classes>
struct LabelsLeaf : InputLeaf<Index, std::int32_t, shape<Batch>, false> {
  static constexpr std::size_t classes = Classes;
};

template <class X>
inline constexpr bool is_labels_v = false;
template <std::size_t I, std::size_t B, std::size_t C>
inline constexpr bool is_labels_v<LabelsLeaf<I, B, C>> = true;

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

template <std::size_t Batch, std::size_t Classes>
struct Labels {
  using value_type = std::int32_t;
  using shape_type = shape<Batch>;
  static constexpr bool is_labels = true;
  static constexpr std::size_t classes = Classes;
  template <std::size_t I>
  using leaf = LabelsLeaf<I, Batch, Classes>;
};

// A tensor of class labels that remembers its class count (an argument of value_and_grad / check_gradients).
template <std::size_t Batch, std::size_t Classes>
struct ClassLabels : Tensor<std::int32_t, Batch> {
  using spec = Labels<Batch, Classes>;
};

}  // namespace tg
