#pragma once
// Type-to-type rewrites of expressions: freezing parameters (no gradient code is generated for them).
#include "typegrad/core/expr.hpp"

namespace tg {

// Marks where freeze() stops: tg::frozen(layer)(x) freezes the layer's parameters, not x's.
template <class S>
struct fence_mapping {
  using shape_type = S;
  static constexpr bool one_to_one = true;
  static constexpr std::size_t run = S::size, run_start_step = 0;  // the identity
  static TG_HD TG_INLINE std::size_t source(std::size_t i) { return i; }
};
template <class C>
using Fence = IndexMap<fence_mapping<typename C::shape_type>, C>;

namespace detail {
template <class N>
inline constexpr bool is_fence_v = false;
template <class S, class C>
inline constexpr bool is_fence_v<IndexMap<fence_mapping<S>, C>> = true;

template <class N, class F>
auto rebuild(const N& n, F&& f) {
  if constexpr (requires { n.rebuild_with(f); })  // nodes that hold expressions besides their children
    return n.rebuild_with(f);
  else
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      using R = typename N::template rebind<decltype(f(child<K>(n.kids)))...>;
      R r{};
      n.copy_payload_to(r);
      r.kids = {f(child<K>(n.kids))...};
      return r;
  }
  (std::make_index_sequence<child_count_v<N>>{});
}

template <class N>
auto freeze_params(const N& n) {
  if constexpr (is_param_leaf_v<N>)
    return ParamLeaf<typename N::value_type, typename N::shape_type, false>{{}, n.data, {}};
  else if constexpr (is_stacked_param_leaf_v<N>)
    return n.frozen();
  else if constexpr (is_fence_v<N> || child_count_v<N> == 0)
    return n;
  else
    return rebuild(n, [](const auto& k) { return freeze_params(k); });
}

template <class N>
auto remove_fences(const N& n) {
  if constexpr (is_fence_v<N>)
    return remove_fences(child<0>(n.kids));
  else if constexpr (child_count_v<N> == 0)
    return n;
  else
    return rebuild(n, [](const auto& k) { return remove_fences(k); });
}
}  // namespace detail

// The expression with every parameter in it frozen: the program computes no gradient for them.
template <tensor_operand X>
auto freeze(X&& x) {
  return detail::remove_fences(detail::freeze_params(as_expr(std::forward<X>(x))));
}

// A layer whose parameters are frozen: tg::frozen(model.fc1)(x). Gradients still flow through to x.
template <class Layer>
struct Frozen {
  const Layer& layer;
  template <tensor_operand X>
  auto operator()(X&& x) const {
    auto fenced = Fence<expr_t<X>>{{}, {as_expr(std::forward<X>(x))}};
    return detail::remove_fences(detail::freeze_params(as_expr(layer(fenced))));
  }
};
template <class Layer>
Frozen<Layer> frozen(const Layer& layer) {
  return Frozen<Layer>{layer};
}

}  // namespace tg
