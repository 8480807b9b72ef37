#pragma once
// LayerNorm over the last axis of size D:
//   y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta,  var the biased variance (as PyTorch)
// Written over the engine's primitives, so its gradient is generated; x - mean(x) is one shared node.
#include "typegrad/core/init.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/primitives/add.hpp"
#include "typegrad/primitives/div.hpp"
#include "typegrad/primitives/mul.hpp"
#include "typegrad/primitives/reduce.hpp"
#include "typegrad/primitives/reshape.hpp"
#include "typegrad/primitives/sqrt.hpp"
#include "typegrad/primitives/sub.hpp"

namespace tg {

namespace detail {
// the same shape with its last dim set to 1, so a reduction over it broadcasts back
template <class S>
struct keep_last;
template <std::size_t... D>
struct keep_last<shape<D...>> {
  template <class R, std::size_t... I>
  static auto apply(R&& r, std::index_sequence<I...>) {
    constexpr std::array<std::size_t, sizeof...(D)> d{D...};
    return reshape<(I + 1 == sizeof...(D) ? 1 : d[I])...>(std::forward<R>(r));
  }
};
template <class X, class R>
auto keep_last_dim(R&& reduced) {
  using S = typename expr_t<X>::shape_type;
  return keep_last<S>::apply(std::forward<R>(reduced), std::make_index_sequence<S::rank>{});
}
}  // namespace detail

template <std::size_t D, class T = float>
struct LayerNorm {
  BOOST_HANA_DEFINE_STRUCT(LayerNorm, (Parameter<T, D>, weight), (Parameter<T, D>, bias));
  double eps = 1e-5;
  template <class S>
  static constexpr bool accepts = S::rank >= 1 && S::dims[S::rank - 1] == D;

  LayerNorm() {
    init::ones(weight);
    init::zeros(bias);
  }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    using E = expr_t<X>;
    constexpr std::size_t last = E::shape_type::rank - 1;
    auto e = as_expr(std::forward<X>(x));
    auto centred = e - detail::keep_last_dim<E>(mean<last>(e));
    auto variance = detail::keep_last_dim<E>(mean<last>(centred * centred));
    return centred / sqrt(variance + eps) * weight + bias;
  }
};

}  // namespace tg
