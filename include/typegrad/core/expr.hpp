#pragma once
// Expression nodes. The type of an expression is its computation tree; the Program (program.hpp)
// turns that tree into a DAG, a schedule and a workspace at compile time.
//
// Every node type N has
//   value_type, shape_type, kind (external | inline_scalar | pointwise | kernel),
//   children<Children...> kids,
// pointwise nodes add   compute<Id>(ctx, i), eval_tree<Id>(ctx, i), push_children<Id>(ctx, i, tree, g)
// kernel nodes add      forward<Id>(ctx), backward<Id>(ctx)   (whole-buffer operations)
// Id is the node's occurrence index (post-order position in the tree), known at compile time.
#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "typegrad/core/accumulate.hpp"
#include "typegrad/core/errors.hpp"
#include "typegrad/core/leaves.hpp"
#include "typegrad/core/node.hpp"
#include "typegrad/core/shape.hpp"
#include "typegrad/core/tensor.hpp"

namespace tg {

// ---------------------------------------------------------------------------------------------
// Evaluation dispatch used inside fused regions.
// A node that the plan materialises is read from its buffer; otherwise it is computed in place.
namespace detail {

// The index i is a flat std::size_t, or a row_index or run_index (shape.hpp) inside host region loops.
template <std::size_t Id, class N, class Ctx, class I>
TG_HD TG_INLINE typename N::value_type value(const N& n, const Ctx& c, I i) {
  using T = typename N::value_type;
  if constexpr (N::kind == node_kind::inline_scalar) {
    return T(n.v);
  } else if constexpr (Ctx::materialised(Id)) {
    return static_cast<const T*>(c.val[Id])[std::size_t(i)];
  } else {
    return n.template compute<Id>(c, i);
  }
}

// Value tree: the node's value and, for computed nodes, its children's trees (kept in registers).
template <std::size_t Id, class N, class Ctx, class I>
TG_HD TG_INLINE auto eval(const N& n, const Ctx& c, I i) {
  using T = typename N::value_type;
  if constexpr (N::kind == node_kind::inline_scalar || Ctx::materialised(Id)) {
    return leaf_tree<T, typename N::shape_type>{value<Id>(n, c, i)};
  } else {
    return n.template eval_tree<Id>(c, i);
  }
}

// Adds g to the adjoint of element i of the node (through its region when it is not materialised).
template <std::size_t Id, class N, class Ctx, class I, class Tree>
TG_HD TG_INLINE void push(const N& n, const Ctx& c, I i, const Tree& t, typename N::value_type g) {
  using T = typename N::value_type;
  if constexpr (!Ctx::needs_adjoint(Id)) {
    return;
  } else if constexpr (Ctx::materialised(Id) || N::kind == node_kind::external) {
    send_adjoint<Id, Ctx>(static_cast<T*>(c.adj[Id]), i, g);
  } else {
    n.template push_children<Id>(c, i, t, g);
  }
}

// eval + push for kernels that send an adjoint into a child region element by element.
template <std::size_t Id, class N, class Ctx>
TG_HD TG_INLINE void accumulate(const N& n, const Ctx& c, std::size_t i, typename N::value_type g) {
  if constexpr (Ctx::needs_adjoint(Id)) {
    if constexpr (Ctx::materialised(Id) || N::kind == node_kind::external) {
      send_adjoint<Id, Ctx>(static_cast<typename N::value_type*>(c.adj[Id]), i, g);
    } else {
      push<Id>(n, c, i, eval<Id>(n, c, i), g);
    }
  }
}

template <class T, class Children>
struct node_tree {
  T y;
  Children c;  // children<trees of the node's children...>
};
template <class... Trees>
TG_HD TG_INLINE children<Trees...> make_children(const Trees&... t) {
  return {t...};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Map: an element-wise operation over broadcast children. Op is a functor with
//   arity, operator()(x...)            forward
//   d<K>(y, x...)                      partial derivative of y w.r.t. x_K (y is the forward value)
template <class Op, class... C>
struct Map : node_tag {
  using value_type = typename std::tuple_element_t<0, std::tuple<C...>>::value_type;
  using shape_type = broadcast_shape_t<typename C::shape_type...>;
  static constexpr node_kind kind = node_kind::pointwise;
  static constexpr std::uint32_t nondifferentiable_children = Op::nondifferentiable_args;
  // a child of the output's size is pushed once per element (one broadcast into the output, the identity)
  static constexpr std::uint32_t assigns_child_adjoints = [] {
    std::uint32_t m = 0, k = 0;
    ((m |= (C::shape_type::size == shape_type::size && k < 32 ? 1u << k : 0u), ++k), ...);
    return m;
  }();
  // ... and at the output's own index: its adjoint may be written over the output's (in_place_adjoints, plan_memory)
  static constexpr std::uint32_t in_place_child_adjoints = assigns_child_adjoints;
  using op_type = Op;
  Op op;
  children<C...> kids;
  template <class... C2>
  using rebind = Map<Op, C2...>;
  template <class R>
  void copy_payload_to(R& r) const {
    r.op = op;
  }

  void key_payload(std::vector<std::uint64_t>& k) const {
    if constexpr (!std::is_empty_v<Op>) {
      static_assert(std::is_trivially_copyable_v<Op>);
      std::uint64_t words[(sizeof(Op) + 7) / 8] = {};
      std::memcpy(words, &op, sizeof(Op));
      for (auto w : words) k.push_back(w);
    }
  }

  template <std::size_t Id, class Ctx, class I>
  TG_HD TG_INLINE value_type compute(const Ctx& c, I i) const {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      return op(detail::value<child_id<Id, Map, K>()>(child<K>(kids), c,
                                                      broadcast_index<typename C::shape_type, shape_type>(i))...);
    }
    (std::index_sequence_for<C...>{});
  }

  template <std::size_t Id, class Ctx, class I>
  TG_HD TG_INLINE auto eval_tree(const Ctx& c, I i) const {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      auto trees = detail::make_children(detail::eval<child_id<Id, Map, K>()>(
          child<K>(kids), c, broadcast_index<typename C::shape_type, shape_type>(i))...);
      value_type y = op(child<K>(trees).y...);
      return detail::node_tree<value_type, decltype(trees)>{y, trees};
    }
    (std::index_sequence_for<C...>{});
  }

  template <std::size_t Id, class Ctx, class I, class Tree>
  TG_HD TG_INLINE void push_children(const Ctx& c, I i, const Tree& t, value_type g) const {
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (
          [&]() {
            constexpr std::size_t cid = child_id<Id, Map, K>();
            if constexpr (!((Op::nondifferentiable_args >> K) & 1u) && Ctx::needs_adjoint(cid)) {
              const value_type dk = op.template d<K>(t.y, child<K>(t.c).y...);
              detail::push<cid>(child<K>(kids), c, broadcast_index<typename C::shape_type, shape_type>(i),
                                child<K>(t.c), g * dk);
            }
          }(),
          ...);
    }
    (std::index_sequence_for<C...>{});
  }
};

// IndexMap: out[i] = child[Mapping::source(i)] (reshape, transpose, slice, broadcast_to).
// Mapping provides shape_type and a static source(i); optionally `run` and `run_start_step`: for i a multiple of
// run and j < run, source(i + j) = source(i) + j, and every such source(i) is a multiple of run_start_step (0: any
// start). Host region loops then copy whole runs (fused_loops.hpp, contiguous_run).
template <class Mapping, class C>
struct IndexMap : node_tag {
  using value_type = typename C::value_type;
  using shape_type = typename Mapping::shape_type;
  using mapping = Mapping;
  static constexpr node_kind kind = node_kind::pointwise;
  // a one-to-one mapping (reshape, permute) pushes each element of the child once
  static constexpr std::uint32_t assigns_child_adjoints = [] {
    if constexpr (requires { Mapping::one_to_one; })
      return Mapping::one_to_one ? 1u : 0u;
    else
      return 0u;
  }();
  // the identity on flat indices (reshape): element i of the child is pushed from element i
  static constexpr std::uint32_t in_place_child_adjoints = [] {
    if constexpr (requires { Mapping::identity; })
      return Mapping::identity ? 1u : 0u;
    else
      return 0u;
  }();
  children<C> kids;
  template <class... C2>
  using rebind = IndexMap<Mapping, C2...>;

  // the child's index; inside a run (run_index) only the run's start is mapped
  template <class I>
  static TG_HD TG_INLINE auto source(I i) {
    if constexpr (std::is_same_v<I, run_index>)
      return run_index{Mapping::source(i.start), i.j};
    else
      return Mapping::source(std::size_t(i));
  }

  template <std::size_t Id, class Ctx, class I>
  TG_HD TG_INLINE value_type compute(const Ctx& c, I i) const {
    return detail::value<Id - 1>(child<0>(kids), c, source(i));
  }
  template <std::size_t Id, class Ctx, class I>
  TG_HD TG_INLINE auto eval_tree(const Ctx& c, I i) const {
    auto t = detail::eval<Id - 1>(child<0>(kids), c, source(i));
    return detail::node_tree<value_type, children<decltype(t)>>{t.y, {t}};
  }
  template <std::size_t Id, class Ctx, class I, class Tree>
  TG_HD TG_INLINE void push_children(const Ctx& c, I i, const Tree& t, value_type g) const {
    detail::push<Id - 1>(child<0>(kids), c, source(i), child<0>(t.c), g);
  }
};

// What a builder returns after a failed check: it takes part in later operations silently, so the
// compiler reports the first mistake only.
struct invalid_expression : node_tag {
  using value_type = float;
  using shape_type = shape<>;
  static constexpr node_kind kind = node_kind::inline_scalar;
  float v = 0;
  children<> kids;
  template <class... A>
  float operator()(A&&...) const {
    return 0;
  }
};
template <class... X>
inline constexpr bool any_invalid_v = (std::is_same_v<std::remove_cvref_t<X>, invalid_expression> || ...);

// ---------------------------------------------------------------------------------------------
// Turning user values into nodes.
template <class X>
inline constexpr bool is_scalar_operand_v = std::is_arithmetic_v<std::remove_cvref_t<X>>;

template <class X>
concept operand = expression<X> || is_parameter_v<std::remove_cvref_t<X>> || is_tensor_like_v<std::remove_cvref_t<X>> ||
    is_scalar_operand_v<X>;

// Expression-like: an operand that fixes an element type (everything but a bare number).
template <class X>
concept tensor_operand = operand<X> && !is_scalar_operand_v<X>;

template <class X>
auto as_expr(X&& x) {
  using D = std::remove_cvref_t<X>;
  if constexpr (expression<D>) {
    return D(std::forward<X>(x));
  } else if constexpr (is_parameter_v<D>) {
    static_assert(!std::is_const_v<std::remove_reference_t<X>> || true);
    return ParamLeaf<typename D::value_type, typename D::shape_type, true>{
        {}, const_cast<typename D::value_type*>(x.data()), {}};
  } else if constexpr (is_tensor_like_v<D>) {
    using T = std::remove_const_t<typename D::value_type>;
    return ConstLeaf<T, typename D::shape_type>{{}, x.data(), {}};
  } else {
    static_assert(is_scalar_operand_v<D>,
                  "typegrad: not an operand (expression, tg::Parameter, tg::Tensor or a number)");
    return Scalar<D>{{}, x, {}};
  }
}

// Numbers take the element type of the tensor operands they meet.
template <class T, class X>
auto as_expr_of(X&& x) {
  if constexpr (is_scalar_operand_v<X>)
    return Scalar<T>{{}, static_cast<T>(x), {}};
  else
    return as_expr(std::forward<X>(x));
}

template <class X>
using expr_t = decltype(as_expr(std::declval<X>()));

namespace detail {
template <class... X>
struct first_tensor_value_type {
  using type = double;
};
template <class X, class... R>
struct first_tensor_value_type<X, R...> {
  using type = std::conditional_t<tensor_operand<X>, typename expr_t<X>::value_type,
                                  typename first_tensor_value_type<R...>::type>;
};

template <class Op, class A, class B>
constexpr bool check_pair() {
  using SA = typename A::shape_type;
  using SB = typename B::shape_type;
  using TA = typename A::value_type;
  using TB = typename B::value_type;
  constexpr bool bc = broadcastable<SA, SB>();
  constexpr bool tt = std::is_same_v<TA, TB>;
  static_assert(require<error::shapes_not_broadcastable<Op, SA, SB, bc>>);
  static_assert(require<error::element_types_differ<Op, TA, TB, tt>>);
  return bc && tt;
}
}  // namespace detail

namespace detail {
template <class Op, class... X>
auto map_checked(Op op, X&&... xs) {
  using T = typename first_tensor_value_type<X...>::type;
  using First = std::tuple_element_t<0, std::tuple<expr_t<decltype(as_expr_of<T>(std::declval<X>()))>...>>;
  constexpr bool ok = (check_pair<Op, First, decltype(as_expr_of<T>(std::declval<X>()))>() && ...);
  if constexpr (ok)
    return Map<Op, decltype(as_expr_of<T>(std::declval<X>()))...>{{}, op, {as_expr_of<T>(std::forward<X>(xs))...}};
  else
    return invalid_expression{};
}
}  // namespace detail

// Builds an element-wise node after checking the op's declarations, then that the operands' shapes broadcast and
// their types agree.
template <class Op, class... X>
auto map(Op op, X&&... xs) {
  constexpr bool declared = requires {
    { Op::arity } -> std::convertible_to<std::size_t>;
    { Op::nondifferentiable_args } -> std::convertible_to<std::uint32_t>;
  };
  static_assert(detail::require<error::elementwise_op_undeclared<Op, declared>>);
  constexpr std::size_t arity = [] {
    if constexpr (declared)
      return std::size_t(Op::arity);
    else
      return sizeof...(X);
  }();
  static_assert(detail::require<error::elementwise_op_arity_differs<Op, arity, sizeof...(X), arity == sizeof...(X)>>);
  if constexpr (!declared || arity != sizeof...(X) || any_invalid_v<X...>)
    return invalid_expression{};
  else
    return detail::map_checked(op, std::forward<X>(xs)...);
}

// Builds an index-mapping node.
template <class Mapping, class X>
auto index_map(X&& x) {
  using E = expr_t<X>;
  if constexpr (any_invalid_v<X>)
    return invalid_expression{};
  else
    return IndexMap<Mapping, E>{{}, {as_expr(std::forward<X>(x))}};
}

}  // namespace tg
