#pragma once
// What a program (core/program.hpp) does once, at construction: decide which occurrences are one node
// (hash-consing) and point every occurrence's value, adjoint and scratch at its memory. [[gnu::cold]]: GCC
// optimises it for size (construction code was ~9% of an example's compile time).
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "typegrad/core/context.hpp"

namespace tg::detail {

// canon[k]: the first occurrence that is the same node as occurrence k (k itself if none). Two occurrences are
// one node when they have the same type, the same run-time payload (parameter address, input index, constant
// value) and the same canonical children; only the plan's merge candidates may merge, since the plan's
// schedule and lifetimes are laid out for those merges alone.
template <class Ctx, std::size_t RootId, class Root, std::size_t N>
[[gnu::cold]] void merge_identical(const Root& root, std::array<std::size_t, N>& canon) {
  constexpr const auto& plan = Ctx::plan;
  std::map<std::vector<std::uint64_t>, std::size_t> seen;
  for_each_occurrence<RootId>(root, [&]<std::size_t K>(const auto& n) {
    using Node = std::remove_cvref_t<decltype(n)>;
    canon[K] = K;
    if constexpr (Node::mergeable) {
      std::vector<std::uint64_t> key;
      key.push_back(type_key_bits(plan.type_key[K]));
      n.key_payload(key);
      if constexpr (Node::kind == node_kind::external) key.push_back(plan.needs_adjoint[K]);
      for (std::size_t c = 0; c < plan.child_count[K]; ++c)
        key.push_back(canon[plan.children[plan.child_begin[K] + c]]);
      auto [it, inserted] = seen.emplace(std::move(key), K);
      if (!inserted) canon[K] = it->second;
    }
  });
  for (std::size_t k = 0; k < N; ++k)
    if (canon[k] != k && plan.kind[k] != node_kind::external && plan.kind[k] != node_kind::inline_scalar &&
        !plan.merge_candidate[k])
      throw std::logic_error("typegrad: internal error: unexpected merge");
}

// ctx's pointers: leaves at their data (user memory) and gradient slot (in gb, the gradient block), computed
// occurrences at their offsets in ws (the workspace), merged copies at their canonical occurrence's buffers,
// let references at their bound value's (which comes first in post-order).
template <class Ctx, std::size_t RootId, class Root, std::size_t N, class Byte>
[[gnu::cold]] void bind_buffers(const Root& root, const std::array<std::size_t, N>& canon, Ctx& ctx, Byte* ws,
                                Byte* gb) {
  constexpr const auto& plan = Ctx::plan;
  for_each_occurrence<RootId>(root, [&]<std::size_t K>(const auto& n) {
    using Node = std::remove_cvref_t<decltype(n)>;
    if constexpr (Node::kind == node_kind::external) {
      if constexpr (requires { n.data; }) ctx.val[K] = const_cast<void*>(static_cast<const void*>(n.data));
      if constexpr (plan.needs_adjoint[K] && plan.ref_target[K] == no_node)
        ctx.adj[K] = gb + plan.grad_offset[canon[K]];
    } else if constexpr (plan.kernel_pos[K] != no_node) {
      ctx.val[K] = ws + plan.val_offset[K];
      if constexpr (plan.needs_adjoint[K]) ctx.adj[K] = ws + plan.adj_offset[K];
      if constexpr (plan.scratch_bytes[K] > 0) ctx.scratch[K] = ws + plan.scratch_offset[K];
    }
  });
  for (std::size_t k = 0; k < N; ++k) {
    if (canon[k] == k || plan.kind[k] == node_kind::external) continue;
    ctx.val[k] = ctx.val[canon[k]];
    ctx.adj[k] = ctx.adj[canon[k]];
  }
  for (std::size_t k = 0; k < N; ++k) {
    if (plan.ref_target[k] == no_node) continue;
    ctx.val[k] = ctx.val[plan.ref_target[k]];
    ctx.adj[k] = ctx.adj[plan.ref_target[k]];
  }
}

}  // namespace tg::detail
