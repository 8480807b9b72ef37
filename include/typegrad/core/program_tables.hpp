#pragma once
// What a program (core/program.hpp) reads from its plan at compile time, as tables: which occurrence holds an
// input's gradient, which buffers are the output's, which gradient ranges and adjoints are cleared when. P is the
// plan (a plan_v<...>), read by reference; every table is a constant of the program's type.
#include <array>
#include <cstddef>
#include <iterator>

#include "typegrad/core/plan.hpp"

namespace tg::detail {

// the first occurrence of input I that receives a gradient (a tg::Variable), else no_node
template <const auto& P, std::size_t I>
inline constexpr std::size_t input_gradient_leaf = [] {
  for (std::size_t k = 0; k < std::size(P.kind); ++k)
    if (P.kind[k] == node_kind::external && P.input_index[k] == I && P.needs_adjoint[k]) return k;
  return no_node;
}();

// the occurrences whose value and adjoint are the output's: the root, the body whose buffers a let at the root is
// (core/plan_adjoints.hpp: let_aliases), and so on down
template <const auto& P, std::size_t Root>
inline constexpr auto output_buffers = [] {
  constexpr std::size_t count = [] {
    std::size_t n = 1;
    for (std::size_t k = Root; P.alias_of[k] != no_node; k = P.alias_of[k]) ++n;
    return n;
  }();
  std::array<std::size_t, count> ids{};
  std::size_t k = Root;
  for (std::size_t q = 0; q < count; ++q, k = P.alias_of[k]) ids[q] = k;
  return ids;
}();

// the gradient block's byte ranges [begin, end) cleared before each backward pass: the slots that are added to
template <const auto& P>
inline constexpr auto cleared_gradient_ranges = [] {
  constexpr auto ranges = added_gradient_slots(P);
  std::array<std::array<std::size_t, 2>, ranges.count> r{};
  for (std::size_t q = 0; q < ranges.count; ++q) r[q] = {ranges.begin[q], ranges.end[q]};
  return r;
}();

// The adjoints that start living at backward time T (their first writer runs then) and are cleared for it, other
// than the root's and those assigned by their one writer: ids in [0, count), count at the end
template <const auto& P, std::size_t Root, std::size_t T>
inline constexpr auto adjoints_cleared_at = [] {
  constexpr std::size_t nodes = std::size(P.kind);
  std::array<std::size_t, nodes + 1> ids{};
  std::size_t n = 0;
  for (std::size_t k = 0; k < nodes; ++k)
    if (P.kernel_pos[k] != no_node && P.needs_adjoint[k] && k != Root && !P.adj_assigned[k] && P.adj_zero_time[k] == T)
      ids[n++] = k;
  ids[nodes] = n;
  return ids;
}();

}  // namespace tg::detail
