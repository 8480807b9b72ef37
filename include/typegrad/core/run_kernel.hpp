#pragma once
// What one occurrence runs in the forward and the backward pass (BasicProgram calls these in the plan's order, after
// its own checks: merged copies, observers): nothing for a let that is its body's buffers; for a fused element-wise
// region its loop, per element through the backend on a device, on the host the fused loops (core/fused_loops.hpp),
// written over the region's adjoint where the plan hands that buffer to a leaf (core/plan_memory.hpp); for any other
// node its own kernel.
#include <cstddef>

#include "typegrad/core/context.hpp"
#include "typegrad/core/fused_loops.hpp"

namespace tg::detail {

template <std::size_t Id, class N, class Ctx>
TG_INLINE void run_forward_kernel(const N& n, Ctx& ctx) {
  using Backend = typename Ctx::backend;
  using T = typename N::value_type;
  if constexpr (Ctx::plan.alias_of[Id] != no_node) {
    // a let in its body's buffers: nothing to compute (core/plan_adjoints.hpp: let_aliases)
  } else if constexpr (N::kind == node_kind::pointwise && Backend::is_device) {
    Backend::for_each(launch::elementwise, N::shape_type::size,
                      region_forward<Id, N, Ctx>{n, ctx, static_cast<T*>(ctx.val[Id])});
  } else if constexpr (N::kind == node_kind::pointwise) {
    fused_forward<Id>(n, ctx, static_cast<T*>(ctx.val[Id]));
  } else {
    n.template forward<Id>(ctx);
  }
}

template <std::size_t Id, class N, class Ctx>
TG_INLINE void run_backward_kernel(const N& n, Ctx& ctx) {
  using Backend = typename Ctx::backend;
  using T = typename N::value_type;
  if constexpr (Ctx::plan.alias_of[Id] != no_node) {
    // its readers wrote the body's adjoint
  } else if constexpr (N::kind == node_kind::pointwise && Backend::is_device) {
    Backend::for_each(launch::elementwise, N::shape_type::size, region_backward<Id, N, Ctx>{n, ctx});
  } else if constexpr (N::kind == node_kind::pointwise && Ctx::plan.adj_taken_over[Id]) {
    fused_backward_in_place<Id>(n, ctx, static_cast<const T*>(ctx.adj[Id]));
  } else if constexpr (N::kind == node_kind::pointwise) {
    fused_backward<Id>(n, ctx, static_cast<const T*>(ctx.adj[Id]));
  } else {
    n.template backward<Id>(ctx);
  }
}

}  // namespace tg::detail
