#pragma once
// Sequential<Layers...>: a flat list of layers applied in order. A layer that does not accept the previous
// layer's output shape is a compile error naming the position, both layers and the shape in between.
#include <tuple>

#include "typegrad/core/expr.hpp"

namespace tg {
namespace op {
struct sequential {};
}  // namespace op

template <std::size_t Position>
struct layer_position {};

namespace error {
template <class Position, class PreviousLayer, class ItsOutputShape, class NextLayer, bool Ok>
struct sequential_layers_do_not_fit {
  static_assert(Ok, "typegrad: Sequential: the next layer does not accept the previous layer's output shape");
};
}  // namespace error

template <class... Layers>
struct Sequential {
  std::tuple<Layers...> layers;

  Sequential() = default;
  explicit Sequential(Layers... ls) : layers(std::move(ls)...) {}

  template <std::size_t I>
  auto& get() {
    return std::get<I>(layers);
  }
  template <std::size_t I>
  const auto& get() const {
    return std::get<I>(layers);
  }

  template <tensor_operand X>
  auto operator()(X&& x) const {
    return apply<0, void>(as_expr(std::forward<X>(x)));
  }

 private:
  template <std::size_t I, class Previous, class E>
  auto apply(E&& e) const {
    if constexpr (I == sizeof...(Layers) || any_invalid_v<E>) {
      return std::forward<E>(e);
    } else {
      using L = std::tuple_element_t<I, std::tuple<Layers...>>;
      using S = typename std::remove_cvref_t<E>::shape_type;
      constexpr bool fits = [] {
        if constexpr (requires { L::template accepts<S>; })
          return L::template accepts<S>;
        else
          return true;
      }();
      static_assert(detail::require<error::sequential_layers_do_not_fit<layer_position<I>, Previous, S, L, fits>>);
      if constexpr (fits)
        return apply<I + 1, L>(std::get<I>(layers)(std::forward<E>(e)));
      else
        return invalid_expression{};
    }
  }
};

}  // namespace tg
