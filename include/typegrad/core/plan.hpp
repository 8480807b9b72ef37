#pragma once
// The compile-time plan of a program: one row per occurrence (node of the expression tree, in
// post-order), then the derived schedule, fused regions, liveness and workspace offsets.
// All of it is constexpr data computed by ordinary loops over arrays: graph algorithms on values
// compile far faster than the same algorithms on type lists (shared/notes/compile-cost.md).
// make_plan (at the end) runs the passes in order: read_rows, gradient_flow, merge_classes, fuse_and_schedule here,
// assigned_adjoints and let_aliases (core/plan_adjoints.hpp), then live_intervals, in_place_adjoints and
// lay_out_memory (core/plan_memory.hpp).
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "typegrad/core/expr.hpp"
#include "typegrad/core/let.hpp"
#include "typegrad/core/plan_adjoints.hpp"
#include "typegrad/core/plan_memory.hpp"

namespace tg {

namespace detail {
// A node type's identity as a constant: the address of a per-type object. g++ refuses to compare the
// addresses of two objects in a constant expression when -fsanitize=undefined is on (it then assumes nothing
// about null pointers; measured with g++ 12, also with -fno-sanitize=null), so a build with TYPEGRAD_SANITIZE
// (CMake option of that name) uses the type's name instead: comparing names costs constexpr steps
// proportional to their length, which the default build does not pay.
#ifdef TYPEGRAD_SANITIZE
using type_key_t = std::string_view;
template <class T>
constexpr type_key_t type_key_of() {
  return __PRETTY_FUNCTION__;
}
inline std::uintptr_t type_key_bits(type_key_t k) { return reinterpret_cast<std::uintptr_t>(k.data()); }
#else
using type_key_t = const void*;
template <class T>
inline constexpr char type_key_tag = 0;
template <class T>
constexpr type_key_t type_key_of() {
  return &type_key_tag<T>;
}
inline std::uintptr_t type_key_bits(type_key_t k) { return reinterpret_cast<std::uintptr_t>(k); }
#endif
}  // namespace detail

template <std::size_t N>
struct Plan {
  // ---- read off the types ----
  detail::type_key_t type_key[N]{};
  node_kind kind[N]{};
  bool needs_child_buffers[N]{};
  bool mergeable[N]{};
  bool wants_grad[N]{};  // external leaves
  bool is_param[N]{};
  std::size_t input_index[N]{};
  std::size_t elements[N]{};
  std::size_t elem_bytes[N]{};
  std::size_t parent[N]{};
  std::uint32_t nondiff_mask[N]{};
  std::size_t child_begin[N]{};  // children ids live in children[child_begin .. +child_count]
  std::size_t child_count[N]{};
  std::size_t children[N]{};
  std::size_t index_in_parent[N]{};
  bool binds[N]{};                   // a Let (let.hpp): child 0 is the bound value
  std::size_t ref_target[N]{};       // a Ref: the occurrence of the value it refers to (no_node otherwise)
  std::uint32_t assigns_mask[N]{};   // bit K: the backward writes every element of child K's adjoint once
  std::uint32_t in_place_mask[N]{};  // bit K: ... element i from the node's element i only (a same-size Map operand)

  // ---- derived ----
  bool requires_grad[N]{};
  bool needs_adjoint[N]{};
  bool materialised[N]{};       // external leaves count as materialised (their memory is the user's)
  bool merge_candidate[N]{};    // another occurrence has the same type: may be the same node
  bool leaf_repeated[N]{};      // an external leaf whose type occurs again: may be the same leaf (used twice)
  std::size_t kernel_pos[N]{};  // position in the forward schedule (no_node if not a kernel)
  std::size_t kernels[N]{};
  std::size_t kernel_count = 0;
  std::size_t reader[N]{};           // nearest materialised ancestor: the kernel that reads this buffer
  std::size_t alias_of[N]{};         // a let that is its body's buffers (no pass of its own): the body, else no_node
  std::size_t adj_in_place_of[N]{};  // its adjoint is written over its region's (in_place_adjoints): that region
  bool adj_taken_over[N]{};          // a region whose adjoint buffer a leaf's adjoint is written over
  std::size_t val_offset[N]{};
  std::size_t adj_offset[N]{};
  std::size_t adj_zero_time[N]{};  // backward time at which the adjoint is cleared
  bool adj_assigned[N]{};          // its one writer assigns every element (=, not +=): never cleared
  std::size_t grad_offset[N]{};    // external leaves that want gradients: slot in the gradient block
  std::size_t scratch_bytes[N]{};
  std::size_t forward_scratch_bytes[N]{};  // what the forward pass alone needs
  std::size_t scratch_offset[N]{};
  // live intervals on the timeline (forward kernel i at time i, its backward at 2K-1-i), for tools (to_dot)
  std::size_t val_start[N]{}, val_end[N]{}, adj_start[N]{}, adj_end[N]{};
  std::size_t workspace_bytes = 0;
  std::size_t naive_bytes = 0;  // the sum of all buffers, without reuse
  std::size_t grad_bytes = 0;
  std::size_t adjoint_count = 0;  // materialised adjoint buffers + gradient slots
  std::size_t grad_leaf_count = 0;
  bool has_stacked_parameters = false;  // a StackedParamLeaf (tg::Repeat) occurs
  bool parameters_accumulate = false;  // a scan's body (traced on its ScanLeaf): gradients add up over the steps
  bool train = false;
};

namespace detail {

// Is child k cut from the gradient by the mask? Children past the 32nd (a scan's or a Repeat's parameters)
// are always differentiable.
constexpr bool nondifferentiable(std::uint32_t mask, std::size_t k) { return k < 32 && ((mask >> k) & 1u); }

template <class Node>
constexpr auto child_sizes() {
  return [&]<std::size_t... K>(std::index_sequence<K...>) {
    return std::array<std::size_t, sizeof...(K) + 1>{tree_size_v<child_t<Node, K>>..., 0};
  }
  (std::make_index_sequence<child_count_v<Node>>{});
}

// Working memory of a node: device backends may declare a different size (a whole batch's im2col).
template <class Node, bool Device>
constexpr std::size_t scratch_bytes_of() {
  if constexpr (Device && requires { Node::device_scratch_bytes; })
    return Node::device_scratch_bytes;
  else
    return Node::scratch_bytes;
}
// ... and when no backward pass follows the forward pass (a kernel may keep less, e.g. one image's im2col)
template <class Node, bool Device>
constexpr std::size_t forward_scratch_bytes_of() {
  if constexpr (!Device && requires { Node::forward_scratch_bytes; })
    return Node::forward_scratch_bytes;
  else
    return scratch_bytes_of<Node, Device>();
}

// env[L]: the bound value of the innermost enclosing Let of level L (let.hpp), no_node where none is.
template <class Node, bool Device, std::size_t N>
constexpr void describe(Plan<N>& p, std::size_t id, std::size_t parent, std::size_t index_in_parent,
                        std::size_t& child_cursor, std::size_t* env) {
  p.type_key[id] = type_key_of<Node>();
  p.kind[id] = Node::kind;
  p.needs_child_buffers[id] = Node::needs_child_buffers;
  p.mergeable[id] = Node::mergeable;
  if constexpr (Node::kind == node_kind::external) {
    p.wants_grad[id] = Node::wants_grad;
    p.input_index[id] = Node::input_index;
  } else {
    p.input_index[id] = no_node;
  }
  p.is_param[id] = is_param_leaf_v<Node> || is_stacked_param_leaf_v<Node>;
  if constexpr (is_stacked_param_leaf_v<Node>) p.has_stacked_parameters = true;
  if constexpr (requires { Node::body_input; })
    p.parameters_accumulate = p.parameters_accumulate || Node::shared_parameters;
  p.elements[id] = Node::shape_type::size;
  p.elem_bytes[id] = sizeof(typename Node::value_type);
  p.parent[id] = parent;
  p.index_in_parent[id] = index_in_parent;
  p.nondiff_mask[id] = Node::nondifferentiable_children;
  p.scratch_bytes[id] = scratch_bytes_of<Node, Device>();
  p.forward_scratch_bytes[id] = forward_scratch_bytes_of<Node, Device>();
  p.ref_target[id] = no_node;
  if constexpr (requires { Node::ref_level; }) {
    p.ref_target[id] = env[Node::ref_level];
    if (p.ref_target[id] == no_node) throw "typegrad: a tg::let reference is used outside its let";
  }
  constexpr bool binds = requires { Node::binds_level; };
  p.binds[id] = binds;
  if constexpr (requires { Node::assigns_child_adjoints; }) p.assigns_mask[id] = Node::assigns_child_adjoints;
  if constexpr (requires { Node::in_place_child_adjoints; }) p.in_place_mask[id] = Node::in_place_child_adjoints;
  constexpr std::size_t nk = child_count_v<Node>;
  p.child_count[id] = nk;
  p.child_begin[id] = child_cursor;
  child_cursor += nk;
  [&]<std::size_t... K>(std::index_sequence<K...>) {
    std::size_t next = id;  // children are laid out right before the node, last child first
    [[maybe_unused]] std::size_t ids[nk + 1] = {};
    for (std::size_t k = nk; k-- > 0;) {
      ids[k] = next - 1;
      next -= child_sizes<Node>()[k];
    }
    ((p.children[p.child_begin[id] + K] = ids[K]), ...);
    if constexpr (binds) {  // the body (child 1) sees the bound value (child 0) at the Let's level
      describe<child_t<Node, 0>, Device, N>(p, ids[0], id, 0, child_cursor, env);
      const std::size_t outer = env[Node::binds_level];
      env[Node::binds_level] = ids[0];
      describe<child_t<Node, 1>, Device, N>(p, ids[1], id, 1, child_cursor, env);
      env[Node::binds_level] = outer;
    } else {
      (describe<child_t<Node, K>, Device, N>(p, ids[K], id, K, child_cursor, env), ...);
    }
  }
  (std::make_index_sequence<nk>{});
}

// The rows, read off the types (describe); a reference to an input is bound with it, at every step.
template <class Root, bool Device, std::size_t N>
constexpr void read_rows(Plan<N>& p) {
  std::size_t cursor = 0;
  std::size_t env[max_let_levels];
  for (auto& e : env) e = no_node;
  describe<Root, Device, N>(p, N - 1, no_node, 0, cursor, env);
  for (std::size_t k = 0; k < N; ++k)
    if (p.ref_target[k] != no_node) p.input_index[k] = p.input_index[p.ref_target[k]];
}

// requires_grad bottom-up: a differentiable path reaches a leaf that wants a gradient. needs_adjoint top-down:
// the root's adjoint reaches the node through differentiable edges. A let's bound value is reached through its
// references, which come after it in post-order (so are visited first).
template <std::size_t N>
constexpr void gradient_flow(Plan<N>& p) {
  for (std::size_t k = 0; k < N; ++k) {
    if (p.ref_target[k] != no_node) {
      p.requires_grad[k] = p.requires_grad[p.ref_target[k]];
    } else if (p.kind[k] == node_kind::external) {
      p.requires_grad[k] = p.wants_grad[k];
    } else {
      bool rg = false;
      for (std::size_t c = 0; c < p.child_count[k]; ++c)
        if (!nondifferentiable(p.nondiff_mask[k], c)) rg = rg || p.requires_grad[p.children[p.child_begin[k] + c]];
      p.requires_grad[k] = rg;
    }
  }
  bool reached_by_ref[N]{};
  for (std::size_t k = N; k-- > 0;) {
    const std::size_t par = p.parent[k];
    if (par == no_node)
      p.needs_adjoint[k] = p.train && p.requires_grad[k];
    else
      p.needs_adjoint[k] = p.requires_grad[k] &&
                           ((p.needs_adjoint[par] && !nondifferentiable(p.nondiff_mask[par], p.index_in_parent[k])) ||
                            reached_by_ref[k]);
    if (p.ref_target[k] != no_node && p.needs_adjoint[k]) reached_by_ref[p.ref_target[k]] = true;
  }
  for (std::size_t k = 0; k < N; ++k)
    if (!p.needs_adjoint[k]) p.scratch_bytes[k] = p.forward_scratch_bytes[k];  // its backward never runs
}

// Merge candidates: the same node type occurs more than once (identity is confirmed at run time).
// type_class[k]: the first occurrence of k's type, found through a hash table keyed on what the plan reads
// off the type (kind, sizes, flags, the children's classes): equal types hash equally, and type_key equality
// settles collisions, so the pass is linear in rows rather than in rows x classes.
// A node that reads a let reference is never merged: its references are distinct occurrences.
template <std::size_t N>
constexpr void merge_classes(Plan<N>& p, std::size_t* type_class) {
  std::size_t class_size[N]{};
  bool reads_ref[N]{};
  constexpr std::size_t slots = std::bit_ceil(2 * N);
  std::size_t table[slots];
  for (auto& t : table) t = no_node;
  for (std::size_t k = 0; k < N; ++k) {
    std::uint64_t h = 1469598103934665603ull;
    const auto mix = [&](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    mix(std::uint64_t(p.kind[k]));
    mix(p.elements[k]);
    mix(p.elem_bytes[k]);
    mix(p.child_count[k]);
    mix(p.nondiff_mask[k]);
    mix(p.scratch_bytes[k]);
    mix(p.input_index[k]);
    reads_ref[k] = p.ref_target[k] != no_node;
    for (std::size_t c = 0; c < p.child_count[k]; ++c) {
      const std::size_t child = p.children[p.child_begin[k] + c];
      mix(type_class[child]);
      reads_ref[k] = reads_ref[k] || reads_ref[child];
    }
    std::size_t at = std::size_t(h ^ (h >> 29)) & (slots - 1);
    while (table[at] != no_node && p.type_key[table[at]] != p.type_key[k]) at = (at + 1) & (slots - 1);
    if (table[at] == no_node) table[at] = k;
    type_class[k] = table[at];
  }
  // external leaves are merged at construction by their data (binding.hpp), whatever their count: a leaf whose
  // type occurs again may be one leaf used twice
  std::size_t leaves_of_class[N]{};
  for (std::size_t k = 0; k < N; ++k) leaves_of_class[type_class[k]] += p.kind[k] == node_kind::external;
  for (std::size_t k = 0; k < N; ++k) p.leaf_repeated[k] = leaves_of_class[type_class[k]] > 1;
  for (std::size_t k = 0; k < N; ++k) {
    if (p.kind[k] == node_kind::external || p.kind[k] == node_kind::inline_scalar || !p.mergeable[k] || reads_ref[k])
      type_class[k] = k;  // not a candidate: its own class
    ++class_size[type_class[k]];
  }
  for (std::size_t k = 0; k < N; ++k) p.merge_candidate[k] = class_size[type_class[k]] > 1;
}

// Fused regions: what is materialised (the rest is computed in registers by the kernel that reads it); the
// schedule: kernels in post-order (a topological order of the DAG); each buffer's reader.
template <std::size_t N>
constexpr void fuse_and_schedule(Plan<N>& p) {
  for (std::size_t k = 0; k < N; ++k) {
    const std::size_t par = p.parent[k];
    switch (p.kind[k]) {
      case node_kind::external:
        p.materialised[k] = true;
        break;
      case node_kind::inline_scalar:
        p.materialised[k] = false;
        break;
      case node_kind::kernel:
        p.materialised[k] = true;
        break;
      case node_kind::pointwise:
        p.materialised[k] = par == no_node || p.needs_child_buffers[par] || p.merge_candidate[k] ||
                            (p.binds[par] && p.index_in_parent[k] == 0);  // a let's bound value
        break;
    }
  }
  for (std::size_t k = 0; k < N; ++k) {
    p.kernel_pos[k] = no_node;
    if (p.materialised[k] && p.kind[k] != node_kind::external) {
      p.kernel_pos[k] = p.kernel_count;
      p.kernels[p.kernel_count++] = k;
    }
  }
  for (std::size_t k = 0; k < N; ++k) {
    std::size_t r = p.parent[k];
    while (r != no_node && !p.materialised[r]) r = p.parent[r];
    p.reader[k] = r;
  }
}

}  // namespace detail

template <class Root, bool Train, bool Device = false>
constexpr Plan<tree_size_v<Root>> make_plan() {
  constexpr std::size_t N = tree_size_v<Root>;
  Plan<N> p{};
  p.train = Train;
  std::size_t type_class[N]{};
  detail::read_rows<Root, Device>(p);
  detail::gradient_flow(p);
  detail::merge_classes(p, type_class);
  detail::fuse_and_schedule(p);
  detail::assigned_adjoints(p);
  detail::let_aliases(p);
  detail::live_intervals(p, type_class);
  detail::in_place_adjoints(p);
  detail::lay_out_memory(p);
  return p;
}

template <class Root, bool Train, bool Device = false>
inline constexpr auto plan_v = make_plan<Root, Train, Device>();

}  // namespace tg
