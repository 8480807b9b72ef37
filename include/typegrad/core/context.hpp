#pragma once
// What node code sees of a program: the Context (pointer tables; materialisation and adjoint presence are
// compile-time facts of the plan), and walks over an expression's occurrences by post-order id.
#include <cstddef>
#include <utility>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/plan.hpp"

namespace tg {

// Pointer tables handed to node code. Materialisation and adjoint presence are compile-time facts.
template <class Root, bool Train, class Backend = host_backend>
struct Context {
  using backend = Backend;
  static constexpr const auto& plan = plan_v<Root, Train, Backend::is_device>;
  static constexpr std::size_t size = tree_size_v<Root>;
  static constexpr bool materialised(std::size_t id) { return plan.materialised[id]; }
  static constexpr bool needs_adjoint(std::size_t id) { return plan.needs_adjoint[id]; }
  // the node's adjoint buffer is assigned by its one writer, not cleared and added to (plan.hpp)
  static constexpr bool assigns_adjoint(std::size_t id) { return plan.adj_assigned[id]; }
  void* val[size] = {};
  void* adj[size] = {};
  void* scratch[size] = {};
};

namespace detail {

// The node with occurrence id Target inside the tree rooted at node n (occurrence id Id).
template <std::size_t Target, std::size_t Id, class N>
constexpr auto& node_at(N& n) {
  if constexpr (Target == Id) {
    return n;
  } else {
    using D = std::remove_const_t<N>;
    constexpr std::size_t k = [] {
      return [&]<std::size_t... K>(std::index_sequence<K...>) {
        std::size_t found = 0;
        ((Target <= child_id<Id, D, K>() && Target + tree_size_v<child_t<D, K>> > child_id<Id, D, K>() ? void(found = K)
                                                                                                       : void()),
         ...);
        return found;
      }
      (std::make_index_sequence<child_count_v<D>>{});
    }();
    return node_at<Target, child_id<Id, D, k>()>(child<k>(n.kids));
  }
}

// f.template operator()<id>(node) for every occurrence below and at n, in post-order (children first).
template <std::size_t Id, class N, class F>
void for_each_occurrence(N& n, F&& f) {
  using D = std::remove_const_t<N>;
  if constexpr (child_count_v < D >> 0)  // leaves: no empty fold to instantiate (a function each at -O0)
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (for_each_occurrence<child_id<Id, D, K>()>(child<K>(n.kids), f), ...);
    }
  (std::make_index_sequence<child_count_v<D>>{});
  f.template operator()<Id>(n);
}

// One fused element-wise region as a device loop body: out[i] = region(i); its backward pushes dy[i]
// through the region's partial derivatives into the region's leaves.
template <std::size_t Id, class N, class Ctx>
struct region_forward {
  N n;
  Ctx c;
  typename N::value_type* out;
  TG_HD TG_INLINE void operator()(std::size_t i) const { out[i] = n.template compute<Id>(c, i); }
};
template <std::size_t Id, class N, class Ctx>
struct region_backward {
  N n;
  Ctx c;
  TG_HD TG_INLINE void operator()(std::size_t i) const {
    const auto g = static_cast<const typename N::value_type*>(c.adj[Id])[i];
    n.template push_children<Id>(c, i, n.template eval_tree<Id>(c, i), g);
  }
};

}  // namespace detail
}  // namespace tg
