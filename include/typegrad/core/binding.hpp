#pragma once
// What a program (core/program.hpp) does once, at construction: decide which occurrences are one node
// (hash-consing) and point every occurrence's value, adjoint and scratch at its memory. [[gnu::cold]]: GCC
// optimises it for size (construction code was ~9% of an example's compile time). Only what a node's type
// knows (its payload, a leaf's data pointer) is read per occurrence; the rest reads the plan in plain loops,
// compiled once per program instead of once per occurrence (design.md, section 7).
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <type_traits>
#include <vector>

#include "typegrad/core/context.hpp"
#include "typegrad/core/errors.hpp"

namespace tg::detail {

// Hash-consing of occurrences, in post-order: canon[k] is the first occurrence that is the same node as k (k
// itself if none). Two occurrences are one node when they have the same type, the same run-time payload
// (parameter address, input index, constant value) and the same canonical children. The part that does not
// depend on the node's type, compiled once.
class NodeMerger {
 public:
  // the key of the next occurrence starts with its type; the node appends its payload
  std::vector<std::uint64_t>& start(std::uintptr_t type) {
    key_.assign(1, type);
    return key_;
  }
  // ... then its adjoint flag (a leaf: a frozen and a trainable use of one parameter stay apart; -1: none)
  // and its children's canonical occurrences.
  [[gnu::noinline]] void finish(std::size_t* canon, std::size_t k, int adjoint_flag, const std::size_t* children,
                                std::size_t child_count) {
    if (adjoint_flag >= 0) key_.push_back(std::uint64_t(adjoint_flag));
    for (std::size_t c = 0; c < child_count; ++c) key_.push_back(canon[children[c]]);
    const auto [it, inserted] = seen_.emplace(key_, k);
    canon[k] = inserted ? k : it->second;
  }

 private:
  std::map<std::vector<std::uint64_t>, std::size_t> seen_;
  std::vector<std::uint64_t> key_;
};

// Occurrence K of a walk in post-order (children first): its key for hash-consing. Computed nodes that are not
// merge candidates (no other occurrence has their type) keep canon[K] = K; the plan's schedule and lifetimes are
// laid out for the candidates' merges alone.
template <class Ctx, std::size_t K, class Node>
void merge_occurrence(const Node& n, NodeMerger& merger, std::size_t* canon) {
  constexpr const auto& plan = Ctx::plan;
  constexpr bool leaf_or_number = Node::kind == node_kind::external || Node::kind == node_kind::inline_scalar;
  if constexpr (Node::mergeable && (leaf_or_number || plan.merge_candidate[K])) {
    n.key_payload(merger.start(type_key_bits(plan.type_key[K])));
    merger.finish(canon, K, Node::kind == node_kind::external ? int(plan.needs_adjoint[K]) : -1,
                  plan.children + plan.child_begin[K], plan.child_count[K]);
  }
}

// What bind_buffers reads (the plan's arrays, the merges) and writes (the context's pointer tables), as pointers:
// one function for every program.
struct BufferTables {
  std::size_t count;
  const node_kind* kind;
  const bool* needs_adjoint;
  const std::size_t *ref_target, *kernel_pos, *val_offset, *adj_offset, *grad_offset, *scratch_bytes, *scratch_offset,
      *canon;
  void** val;
  void** adj;
  void** scratch;
};
template <class Ctx, std::size_t N>
BufferTables buffer_tables(const std::array<std::size_t, N>& canon, Ctx& ctx) {
  constexpr const auto& p = Ctx::plan;
  return {N,
          p.kind,
          p.needs_adjoint,
          p.ref_target,
          p.kernel_pos,
          p.val_offset,
          p.adj_offset,
          p.grad_offset,
          p.scratch_bytes,
          p.scratch_offset,
          canon.data(),
          ctx.val,
          ctx.adj,
          ctx.scratch};
}

// The context's pointers into the program's memory: computed occurrences at their offsets in ws (the workspace),
// trainable leaves' adjoints at their slot in gb (the gradient block), merged copies at their canonical
// occurrence's buffers, let references at their bound value's (which comes first in post-order). Leaves' values
// (user memory) are set by the construction walk. Called again when the program moves to a shared workspace.
[[gnu::cold]] inline void bind_buffers(const BufferTables& t, std::byte* ws, std::byte* gb) {
  for (std::size_t k = 0; k < t.count; ++k) {
    if (t.kind[k] == node_kind::external) {
      if (t.needs_adjoint[k] && t.ref_target[k] == no_node) t.adj[k] = gb + t.grad_offset[t.canon[k]];
    } else if (t.kernel_pos[k] != no_node) {
      t.val[k] = ws + t.val_offset[k];
      if (t.needs_adjoint[k]) t.adj[k] = ws + t.adj_offset[k];
      if (t.scratch_bytes[k] > 0) t.scratch[k] = ws + t.scratch_offset[k];
    }
  }
  for (std::size_t k = 0; k < t.count; ++k) {
    if (t.canon[k] == k || t.kind[k] == node_kind::external) continue;
    t.val[k] = t.val[t.canon[k]];
    t.adj[k] = t.adj[t.canon[k]];
  }
  for (std::size_t k = 0; k < t.count; ++k) {
    if (t.ref_target[k] == no_node) continue;
    t.val[k] = t.val[t.ref_target[k]];
    t.adj[k] = t.adj[t.ref_target[k]];
  }
}

// Every kernel of a device program has a device implementation; otherwise one error naming the first that has not.
template <std::size_t RootId, class Root>
void check_device_support(const Root& root) {
  for_each_occurrence<RootId>(root, [&]<std::size_t K>(const auto& n) {
    using N = std::remove_cvref_t<decltype(n)>;
    if constexpr (N::kind == node_kind::kernel)
      static_assert(require<error::no_device_implementation<N, N::runs_on_device>>);
  });
}

}  // namespace tg::detail
