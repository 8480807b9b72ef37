#pragma once
// Sharing in the type: tg::let(x, f) = f(h) with h a reference to x's value.
//
//   auto y = tg::let(x, [&](auto h) { return h + f(h); });      // x's subtree appears once in y's type
//   auto y = tg::residual(f)(x);                  // the same (layers/residual.hpp)
//
// Without let, `x + f(x)` holds x's whole subtree twice in its type; a stack of N residual blocks then has
// 2^N copies of the first block, and the planner one row per copy. With let, the node Let<L, X, Body> holds X
// once (child 0) and the body refers to it through Ref<L> leaves: rows grow with the distinct nodes.
//
// The plan (plan.hpp) materialises X, points every Ref at X's value and adjoint buffers (a Ref's adjoint
// accumulates into X's), keeps X's value alive until the last reader of any Ref has run its backward, and
// gives X an adjoint when any Ref needs one. The Let node itself is an element-wise identity on the body
// (fused into whatever reads it); no gradient flows along the edge to X except through the Refs.
//
// Levels: a Ref<L> refers to the innermost enclosing Let<L>. let() picks L one above every level already
// used inside the body (found by tracing the body once on a probe reference, in an unevaluated context),
// so a Let never hides a binding that its body refers to; unrelated lets reuse level 0 and share types.
#include <algorithm>

#include "typegrad/core/expr.hpp"

namespace tg {

namespace detail {
inline constexpr std::size_t probe_level = std::size_t(-1);
inline constexpr std::size_t max_let_levels = 64;
}  // namespace detail

// The value bound by the innermost enclosing Let<L> (an alias: it has no memory of its own).
template <std::size_t L, class T, class S>
struct Ref : node_tag {
  using value_type = T;
  using shape_type = S;
  static constexpr node_kind kind = node_kind::external;
  static constexpr bool wants_grad = false;  // the plan derives it from the bound value
  static constexpr std::size_t input_index = std::size_t(-1);
  static constexpr std::size_t ref_level = L;
  static constexpr bool mergeable = false;  // two references are the same node only through their Let
  children<> kids;
};

template <std::size_t L, class X, class Body>
struct Let;
namespace detail {
template <std::size_t L, class... C>
struct let_of {
  using type = Let<L, C...>;  // a rebuilt Let (transform.hpp): the children's types change, the level stays
};
}  // namespace detail

// Let<L, X, Body>: the value of Body, in which Ref<L> leaves stand for X's value.
template <std::size_t L, class X, class Body>
struct Let : node_tag {
  using value_type = typename Body::value_type;
  using shape_type = typename Body::shape_type;
  static constexpr node_kind kind = node_kind::pointwise;
  static constexpr std::size_t binds_level = L;
  static constexpr std::uint32_t nondifferentiable_children = 1u;  // X gets its adjoint through the Refs
  static constexpr std::uint32_t assigns_child_adjoints = 2u;      // the body, element by element
  static constexpr std::uint32_t in_place_child_adjoints = 2u;     // ... at the let's own index
  children<X, Body> kids;
  template <class... C2>
  using rebind = typename detail::let_of<L, C2...>::type;

  // y[i] = body[i]; the body is child 1, right before this node in post-order
  template <std::size_t Id, class Ctx, class I>
  TG_HD TG_INLINE value_type compute(const Ctx& c, I i) const {
    return detail::value<Id - 1>(child<1>(kids), c, i);
  }
  template <std::size_t Id, class Ctx, class I>
  TG_HD TG_INLINE auto eval_tree(const Ctx& c, I i) const {
    return detail::eval<Id - 1>(child<1>(kids), c, i);
  }
  // dL/dbody = dL/dy
  template <std::size_t Id, class Ctx, class I, class Tree>
  TG_HD TG_INLINE void push_children(const Ctx& c, I i, const Tree& t, value_type g) const {
    detail::push<Id - 1>(child<1>(kids), c, i, t, g);
  }
};

// let_depth<N>: one above the highest let level bound or referenced in N (probe references excluded).
template <class N>
struct let_depth;
template <class N>
inline constexpr std::size_t let_depth_v = let_depth<node_t<N>>::value;
template <class N>
struct let_depth {
  template <class Seq, class... C>
  static constexpr std::size_t of(detail::children_of<Seq, C...>*) {
    return std::max({std::size_t{0}, let_depth_v<C>...});
  }
  static constexpr std::size_t value = of(static_cast<decltype(N::kids)*>(nullptr));
};
template <std::size_t L, class T, class S>
struct let_depth<Ref<L, T, S>> {
  static constexpr std::size_t value = L == detail::probe_level ? 0 : L + 1;
};
template <std::size_t L, class X, class B>
struct let_depth<Let<L, X, B>> {
  static constexpr std::size_t value = std::max({L + 1, let_depth_v<X>, let_depth_v<B>});
};

// tg::let(x, f): f is called once with a reference to x's value and may use it any number of times.
template <tensor_operand X, class F>
auto let(X&& x, F&& f) {
  using EX = expr_t<X>;
  if constexpr (any_invalid_v<EX>) {
    return invalid_expression{};
  } else {
    using T = typename EX::value_type;
    using S = typename EX::shape_type;
    using Probe = decltype(as_expr(f(Ref<detail::probe_level, T, S>{})));
    if constexpr (any_invalid_v<Probe>) {
      return invalid_expression{};  // the body's mistake was reported where it was made
    } else {
      constexpr std::size_t level = let_depth_v<Probe>;
      static_assert(level < detail::max_let_levels, "typegrad: let: more than 64 nested let bindings");
      auto body = as_expr(f(Ref<level, T, S>{}));
      return Let<level, EX, decltype(body)>{{}, {as_expr(std::forward<X>(x)), std::move(body)}};
    }
  }
}

}  // namespace tg
