#pragma once
// What every expression node has: its kind, the node_tag defaults, and tree arithmetic over its children
// (sizes and post-order occurrence ids). Node types themselves: leaves.hpp, expr.hpp (Map, IndexMap),
// kernel.hpp (whole-buffer kernels), let.hpp (sharing).
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "typegrad/core/config.hpp"

namespace tg {

enum class node_kind : std::uint8_t { external, inline_scalar, pointwise, kernel };

template <class N>
using node_t = std::remove_cvref_t<N>;

template <class N>
concept expression = requires {
  typename node_t<N>::value_type;
  typename node_t<N>::shape_type;
  node_t<N>::kind;
  typename node_t<N>::is_typegrad_node;
};

struct node_tag {
  using is_typegrad_node = void;
  // Bit k set: child k gets no gradient from this node (labels, conditions).
  static constexpr std::uint32_t nondifferentiable_children = 0;
  // Kernels that read children as whole buffers (GEMM) set this: children are materialised.
  static constexpr bool needs_child_buffers = false;
  // Kernels whose forward is impure (reads state) opt out of common-subexpression merging.
  static constexpr bool mergeable = true;
  // Kernels that need working memory (im2col columns, a dropout mask) declare its size; the plan places it
  // in the workspace, live from the kernel's forward to its backward.
  static constexpr std::size_t scratch_bytes = 0;
  // Kernels with a device implementation (for_each / segmented_reduce / gemm of the backend) set this.
  static constexpr bool runs_on_device = false;
  void key_payload(std::vector<std::uint64_t>&) const {}
  // Copies run-time data other than children to a rebuilt node (see transform.hpp).
  template <class R>
  void copy_payload_to(R&) const {}
};

// ---------------------------------------------------------------------------------------------
// A node's children (its member `kids`): one flat base per child, whose copies and moves are the implicit ones.
// Not std::tuple: a tuple's copy and move constructors are never trivial, so every node type's were functions of
// their own at -O0 (~1 MB of a gradient test's code), and its recursive layout is more to instantiate per node.
namespace detail {
template <std::size_t K, class C>
struct child_slot {
  C value;
};
template <class Seq, class... C>
struct children_of;
template <std::size_t... K, class... C>
struct children_of<std::index_sequence<K...>, C...> : child_slot<K, C>... {
  static constexpr std::size_t count = sizeof...(C);
  children_of() = default;
  // children<A, B>{a, b}; copies and moves stay the implicit (trivial where the children are) ones. constexpr,
  // not TG_HD: nvcc (--expt-relaxed-constexpr) lets device code call it for value trees, and host-only children
  // (a scan's body program) are never constructed from a __host__ __device__ function.
  template <class... A>
  requires(sizeof...(A) == sizeof...(C) && sizeof...(C) > 0 &&
           (std::is_constructible_v<C, A&&> && ...)) constexpr children_of(A&&... a)
      : child_slot<K, C>{static_cast<A&&>(a)}... {}
};
}  // namespace detail
template <class... C>
using children = detail::children_of<std::index_sequence_for<C...>, C...>;

// child K of a node's children: child<K>(n.kids)
template <std::size_t K, class C>
TG_HD TG_INLINE constexpr C& child(detail::child_slot<K, C>& s) {
  return s.value;
}
template <std::size_t K, class C>
TG_HD TG_INLINE constexpr const C& child(const detail::child_slot<K, C>& s) {
  return s.value;
}
template <std::size_t K, class C>
TG_HD TG_INLINE constexpr C&& child(detail::child_slot<K, C>&& s) {
  return static_cast<C&&>(s.value);
}
// f(child 0, child 1, ...)
template <class F, std::size_t... K, class... C>
constexpr decltype(auto) apply_children(F&& f, const detail::children_of<std::index_sequence<K...>, C...>& kids) {
  return f(child<K>(kids)...);
}

// ---------------------------------------------------------------------------------------------
// tree arithmetic: sizes and occurrence ids (post-order; the root has the largest id)
template <class N>
struct tree_size;
template <class N>
inline constexpr std::size_t tree_size_v = tree_size<node_t<N>>::value;
template <class N>
struct tree_size {
  template <class Seq, class... C>
  static constexpr std::size_t sum(detail::children_of<Seq, C...>*) {
    return (std::size_t{1} + ... + tree_size_v<C>);
  }
  static constexpr std::size_t value = sum(static_cast<decltype(N::kids)*>(nullptr));
};

template <class N>
inline constexpr std::size_t child_count_v = decltype(N::kids)::count;

template <class N, std::size_t K>
using child_t = std::remove_cvref_t<decltype(child<K>(std::declval<decltype(N::kids)&>()))>;

// id of child K of the node with id Id
template <std::size_t Id, class N, std::size_t K>
constexpr std::size_t child_id() {
  return [&]<std::size_t... M>(std::index_sequence<M...>) {
    return Id - 1 - (std::size_t{0} + ... + (M > K ? tree_size_v<child_t<N, M>> : 0));
  }
  (std::make_index_sequence<child_count_v<N>>{});
}

}  // namespace tg
