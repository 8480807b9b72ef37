#pragma once
// sum / mean / max over chosen axes (or all): y[o] = reduce_r x[base(o) + off(r)].
// VJP: sum: dx = dy broadcast back; mean: dx = dy / n; max: dy goes to the first maximal element.
// The operand may be an element-wise region: it is computed inside the reduction (fused).
#include <limits>

#include "typegrad/core/backend.hpp"

#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct sum {};
struct mean {};
struct max {};
}  // namespace op

namespace detail {
template <class S, std::size_t... Axes>
struct reduction_layout {
  static constexpr std::size_t n_axes = sizeof...(Axes) == 0 ? S::rank : sizeof...(Axes);
  static constexpr std::array<bool, S::rank> reduced = [] {
    std::array<bool, S::rank> r{};
    if constexpr (sizeof...(Axes) == 0) {
      for (auto& b : r) b = true;
    } else {
      ((r[Axes] = true), ...);
    }
    return r;
  }();
  static constexpr dims_array<S::rank> kept_dims = [] {
    dims_array<S::rank> d{};
    for (std::size_t k = 0; k < S::rank; ++k)
      if (!reduced[k]) d.v[d.n++] = S::dims[k];
    return d;
  }();
  using out_shape = shape_from<kept_dims>;
  static constexpr std::size_t count = S::size / out_shape::size;  // elements per output
  // input offsets of output o and of reduced index r (row-major over kept / reduced axes)
  static TG_HD TG_INLINE std::size_t base(std::size_t o) {
    std::size_t j = 0;
    for_each_axis_down<S::rank>([&](auto axis) {
      constexpr std::size_t k = decltype(axis)::value;
      if constexpr (!reduced[k]) {
        j += (o % S::dims[k]) * S::strides[k];
        o /= S::dims[k];
      }
    });
    return j;
  }
  static TG_HD TG_INLINE std::size_t offset(std::size_t r) {
    std::size_t j = 0;
    for_each_axis_down<S::rank>([&](auto axis) {
      constexpr std::size_t k = decltype(axis)::value;
      if constexpr (reduced[k]) {
        j += (r % S::dims[k]) * S::strides[k];
        r /= S::dims[k];
      }
    });
    return j;
  }
  // reducing trailing axes only: input index = o * count + r
  static constexpr bool trailing = [] {
    bool seen = false;
    for (std::size_t k = 0; k < S::rank; ++k) {
      if (reduced[k])
        seen = true;
      else if (seen)
        return false;
    }
    return true;
  }();
  static TG_HD TG_INLINE std::size_t index(std::size_t o, std::size_t r) {
    if constexpr (trailing)
      return o * count + r;
    else
      return base(o) + offset(r);
  }
};
}  // namespace detail

template <class Kind, class X, std::size_t... Axes>
struct Reduce : kernel_node<typename X::value_type,
                            typename detail::reduction_layout<typename X::shape_type, Axes...>::out_shape, X> {
  using op_type = Kind;  // its name in tools (inspect.hpp)
  using L = detail::reduction_layout<typename X::shape_type, Axes...>;
  using T = typename X::value_type;
  template <class... X2>
  using rebind = Reduce<Kind, X2..., Axes...>;

  static constexpr bool runs_on_device = true;

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    T* y = this->template out<Id>(c);
    auto value = TG_BODY((std::size_t o, std::size_t r) { return this->template in<Id, 0>(c, L::index(o, r)); });
    if constexpr (std::is_same_v<Kind, op::max>)
      Bk::segmented_reduce(launch::reduction, L::out_shape::size, L::count, value, detail::max_op{},
                           -std::numeric_limits<T>::infinity(), y);
    else
      Bk::segmented_reduce(launch::reduction, L::out_shape::size, L::count, value, detail::plus_op{}, T(0), y,
                           std::is_same_v<Kind, op::mean> ? T(L::count) : T(1));
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (Reduce::template wants_grad<Id, 0, Ctx>()) {
      using Bk = typename Ctx::backend;
      const T* g = this->template out_grad<Id>(c);
      const T* y = this->template out<Id>(c);
      constexpr T divisor = std::is_same_v<Kind, op::mean> ? T(L::count) : T(1);
      if constexpr (std::is_same_v<Kind, op::max>) {  // one segment per body: the first maximum wins
        const auto first_max_grad = TG_BODY((std::size_t o) {
          for (std::size_t r = 0; r < L::count; ++r) {
            const std::size_t i = L::index(o, r);
            if (this->template in<Id, 0>(c, i) == y[o]) {
              this->template add_grad<Id, 0>(c, i, g[o]);
              break;
            }
          }
        });
        Bk::for_each(launch::elementwise, L::out_shape::size, first_max_grad);
      } else if constexpr (Bk::is_device) {  // one body per input element
        const auto spread_grad = TG_BODY((std::size_t s) {
          const std::size_t o = s / L::count;
          this->template add_grad<Id, 0>(c, L::index(o, s % L::count), g[o] / divisor);
        });
        Bk::for_each(launch::elementwise, L::out_shape::size * L::count, spread_grad);
      } else {
        for (std::size_t o = 0; o < L::out_shape::size; ++o) {
          const T go = g[o] / divisor;
          for (std::size_t r = 0; r < L::count; ++r) this->template add_grad<Id, 0>(c, L::index(o, r), go);
        }
      }
    }
  }
};

namespace detail {
template <class Kind, std::size_t... Axes, class X>
auto reduce(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using S = typename expr_t<X>::shape_type;
    constexpr bool ok = axes_in_range<S, Axes...>() && axes_unique<Axes...>();
    static_assert(require<error::axis_out_of_range<Kind, S, axes<Axes...>, ok>>);
    if constexpr (ok) {
      using E = expr_t<X>;
      return Reduce<Kind, E, Axes...>{{{}, {as_expr(std::forward<X>(x))}}};
    } else {
      return invalid_expression{};
    }
  }
}
}  // namespace detail

// tg::sum(x) sums everything; tg::sum<1>(x) sums axis 1; tg::sum<0, 2>(x) sums axes 0 and 2.
template <std::size_t... Axes, tensor_operand X>
auto sum(X&& x) {
  return detail::reduce<op::sum, Axes...>(std::forward<X>(x));
}
template <std::size_t... Axes, tensor_operand X>
auto mean(X&& x) {
  return detail::reduce<op::mean, Axes...>(std::forward<X>(x));
}
template <std::size_t... Axes, tensor_operand X>
auto max(X&& x) {
  return detail::reduce<op::max, Axes...>(std::forward<X>(x));
}
}  // namespace tg
