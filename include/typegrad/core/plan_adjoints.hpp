#pragma once
// The plan's adjoint passes (make_plan, core/plan.hpp), after fuse_and_schedule: which adjoints are assigned by their
// writer rather than cleared and added to, and which lets run in their body's buffers.
#include <cstddef>
#include <cstdint>

#include "typegrad/core/node.hpp"
#include "typegrad/core/plan_memory.hpp"

namespace tg::detail {

// Does occurrence k's reader (its nearest materialised ancestor) reach each of k's elements once? Every parent on
// the way up writes each element of the child once (element-wise maps of the same size, a let's body, one-to-one
// index maps, kernels that declare it: `assigns_child_adjoints`), and the reader is not a merged copy.
template <std::size_t N>
constexpr bool reader_writes_each_element_once(const Plan<N>& p, std::size_t k) {
  if (p.reader[k] == no_node) return false;
  for (std::size_t q = k; q != p.reader[k]; q = p.parent[q]) {
    const std::size_t par = p.parent[q], slot = p.index_in_parent[q];
    if (slot >= 32 || !((p.assigns_mask[par] >> slot) & 1u) || (p.binds[par] && slot == 0)) return false;
  }
  return !p.merge_candidate[p.reader[k]];
}

// A materialised let whose body is a kernel would copy the body's value forward and its adjoint backward (a ResNet
// block's relu(bn2(.) + h), one kernel: 4% of a ResNet-20 step). It takes the body's buffers instead, and runs no
// pass: the body's value and adjoint live as long as either's (live_intervals), its readers write the let's adjoint
// as before (cleared when they add to it: adj_zero_time), which is the body's. The body's own adjoint is never
// cleared: its one writer was the let (assigned_adjoints).
template <std::size_t N>
constexpr void let_aliases(Plan<N>& p) {
  for (std::size_t k = 0; k < N; ++k) {
    p.alias_of[k] = no_node;
    if (!p.binds[k] || p.kernel_pos[k] == no_node || p.merge_candidate[k]) continue;
    const std::size_t body = p.children[p.child_begin[k] + 1];
    if (p.kind[body] == node_kind::kernel && !p.merge_candidate[body] && p.needs_adjoint[body] == p.needs_adjoint[k] &&
        (!p.needs_adjoint[k] || p.adj_assigned[body]))
      p.alias_of[k] = body;
  }
}

// A let's bound value is written through its references, by one kernel each (the reference's nearest materialised
// ancestor). The first of them in the backward pass -- the latest in the forward schedule, alone at its time --
// assigns when each element reaches it once (reader_writes_each_element_once); the others add after it, and the buffer
// is never cleared (a ResNet block's input: relu(bn2(.) + h) assigns, conv1's dx adds). Not for parameters, whose
// gradients may accumulate across a nested body's steps, nor merged or repeated buffers.
template <std::size_t N>
constexpr void first_writer_assigns(Plan<N>& p) {
  std::size_t first[N]{};
  bool alone[N]{}, blocked[N]{};
  const std::size_t* writer = p.reader;
  for (std::size_t k = 0; k < N; ++k) first[k] = no_node;
  for (std::size_t r = 0; r < N; ++r) {
    if (p.ref_target[r] == no_node || !p.needs_adjoint[r]) continue;
    std::size_t x = p.ref_target[r];
    while (p.ref_target[x] != no_node) x = p.ref_target[x];  // let(h, ...) of a reference h
    if (writer[r] == no_node || p.kernel_pos[writer[r]] == no_node) {
      blocked[x] = true;  // no kernel to order it by
      continue;
    }
    const std::size_t f = first[x];
    if (f == no_node || p.kernel_pos[writer[r]] > p.kernel_pos[writer[f]]) {
      first[x] = r;
      alone[x] = true;
    } else if (p.kernel_pos[writer[r]] == p.kernel_pos[writer[f]]) {
      alone[x] = false;  // two references under one writer
    }
  }
  for (std::size_t x = 0; x < N; ++x) {
    const std::size_t r = first[x];
    if (r == no_node || blocked[x] || !alone[x] || !reader_writes_each_element_once(p, r) || p.merge_candidate[x] ||
        p.leaf_repeated[x] || p.is_param[x] || !p.needs_adjoint[x] ||
        (p.kernel_pos[x] == no_node && !has_gradient_slot(p, x)))
      continue;
    p.adj_assigned[r] = true;
    p.adj_assigned[x] = true;
  }
}

// Assigned adjoints. A buffer whose adjoint has one writer -- no let reference, no merged copy -- that reaches each
// element once (reader_writes_each_element_once) is assigned by that writer rather than cleared and then added to: one
// pass less over the buffer (the clears were 4-6% of a ResNet-20 step). A leaf's gradient slot likewise (a dense
// layer's dW by its GEMM with beta 0: clearing the gradient block was 8% of the MLP step). A leaf whose type occurs
// twice may be one parameter used twice (merged at construction: leaf_repeated), so it is never assigned; nor is a
// parameter of a nested body, whose gradient is redirected to the enclosing program's slot and accumulates over the
// steps. One walk up per buffer, through its fused region only.
template <std::size_t N>
constexpr void assigned_adjoints(Plan<N>& p) {
  for (std::size_t k = 0; k < N; ++k) {
    if ((p.kernel_pos[k] == no_node && !has_gradient_slot(p, k)) || !p.needs_adjoint[k] || p.merge_candidate[k] ||
        p.leaf_repeated[k] || (p.is_param[k] && p.parameters_accumulate))
      continue;
    p.adj_assigned[k] = reader_writes_each_element_once(p, k);
  }
  first_writer_assigns(p);
}

}  // namespace tg::detail
