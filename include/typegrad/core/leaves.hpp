#pragma once
// Leaves of an expression: program inputs, parameters (one, or one per repeated block), constants, scalars.
#include <array>
#include <bit>
#include <cstdint>

#include "typegrad/core/node.hpp"
#include "typegrad/core/shape.hpp"
#include "typegrad/core/tensor.hpp"

namespace tg {
// ---------------------------------------------------------------------------------------------
// Leaves
template <class T, class S>
struct leaf_tree {
  T y;
};

// A program argument: the Index-th input of tg::compile<...>. Grad: gradient wanted (value_and_grad).
template <std::size_t Index, class T, class S, bool Grad>
struct InputLeaf : node_tag {
  using value_type = T;
  using shape_type = S;
  static constexpr node_kind kind = node_kind::external;
  static constexpr bool wants_grad = Grad;
  static constexpr std::size_t input_index = Index;
  children<> kids;
  void key_payload(std::vector<std::uint64_t>& k) const { k.push_back(Index); }
};

// A parameter referenced by address. Trainable=false: frozen, no gradient code is generated.
template <class T, class S, bool Trainable>
struct ParamLeaf : node_tag {
  using value_type = T;
  using shape_type = S;
  static constexpr node_kind kind = node_kind::external;
  static constexpr bool wants_grad = Trainable;
  static constexpr std::size_t input_index = std::size_t(-1);
  T* data;
  children<> kids;
  void key_payload(std::vector<std::uint64_t>& k) const { k.push_back(reinterpret_cast<std::uintptr_t>(data)); }
};

// A constant tensor referenced by address (no gradient).
template <class T, class S>
struct ConstLeaf : node_tag {
  using value_type = T;
  using shape_type = S;
  static constexpr node_kind kind = node_kind::external;
  static constexpr bool wants_grad = false;
  static constexpr std::size_t input_index = std::size_t(-1);
  const T* data;
  children<> kids;
  void key_payload(std::vector<std::uint64_t>& k) const { k.push_back(reinterpret_cast<std::uintptr_t>(data)); }
};

// A scalar constant stored in the expression itself.
template <class T>
struct Scalar : node_tag {
  using value_type = T;
  using shape_type = shape<>;
  static constexpr node_kind kind = node_kind::inline_scalar;
  constant<T> v;
  children<> kids;
  void key_payload(std::vector<std::uint64_t>& k) const {
    double d = static_cast<double>(T(v));
    k.push_back(std::bit_cast<std::uint64_t>(d));
  }
};

template <class N>
inline constexpr bool is_param_leaf_v = false;
template <class T, class S, bool Tr>
inline constexpr bool is_param_leaf_v<ParamLeaf<T, S, Tr>> = true;

// Stack parameters of one shape S, one per repeated block (tg::Repeat), as one leaf: its gradient slot is
// [Stack, S...] with block t's gradient at t, and each block's parameter stays where the user's model keeps it.
// One leaf for all blocks keeps the enclosing program's type and its walks independent of the block count.
template <std::size_t Stack, class T, class S, bool Trainable>
struct StackedParamLeaf : node_tag {
  using value_type = T;
  using shape_type = typename detail::stacked_shape<Stack, S>::type;  // the gradient's layout
  using block_shape = S;
  static constexpr node_kind kind = node_kind::external;
  static constexpr bool wants_grad = Trainable;
  static constexpr std::size_t input_index = std::size_t(-1);
  static constexpr std::size_t stack = Stack;
  std::array<T*, Stack> blocks{};  // block t's parameter
  children<> kids;
  void key_payload(std::vector<std::uint64_t>& k) const {
    for (T* b : blocks) k.push_back(reinterpret_cast<std::uintptr_t>(b));
  }
  StackedParamLeaf<Stack, T, S, false> frozen() const { return {{}, blocks, {}}; }
};

template <class N>
inline constexpr bool is_stacked_param_leaf_v = false;
template <std::size_t N, class T, class S, bool Tr>
inline constexpr bool is_stacked_param_leaf_v<StackedParamLeaf<N, T, S, Tr>> = true;

}  // namespace tg
