#pragma once
// y = [a, b] joined along Axis;  VJP: da, db = the two parts of dy.
#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct concat {};
}  // namespace op

namespace detail {
template <std::size_t Axis, class SA, class SB>
struct concat_shape {
  static constexpr bool ok = [] {
    if constexpr (SA::rank != SB::rank || Axis >= SA::rank) {
      return false;
    } else {
      for (std::size_t k = 0; k < SA::rank; ++k)
        if (k != Axis && SA::dims[k] != SB::dims[k]) return false;
      return true;
    }
  }();
  static constexpr dims_array<SA::rank> dims = [] {
    dims_array<SA::rank> d{};
    d.n = SA::rank;
    for (std::size_t k = 0; k < SA::rank; ++k) d.v[k] = SA::dims[k] + (k == Axis && ok ? SB::dims[k] : 0);
    return d;
  }();
  using type = shape_from<dims>;
};
}  // namespace detail

template <std::size_t Axis, class A, class B>
struct Concat
    : kernel_node<typename A::value_type,
                  typename detail::concat_shape<Axis, typename A::shape_type, typename B::shape_type>::type, A, B> {
  using T = typename A::value_type;
  template <class... K2>
  using rebind = Concat<Axis, K2...>;
  using SA = typename A::shape_type;
  using SB = typename B::shape_type;
  static constexpr std::size_t inner = SA::strides[Axis];
  static constexpr std::size_t na = SA::dims[Axis], nb = SB::dims[Axis], n = na + nb;
  static constexpr std::size_t outer = SA::size / (na * inner);

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    for (std::size_t p = 0; p < outer; ++p) {
      for (std::size_t j = 0; j < na * inner; ++j)
        y[p * n * inner + j] = this->template in<Id, 0>(c, p * na * inner + j);
      for (std::size_t j = 0; j < nb * inner; ++j)
        y[p * n * inner + na * inner + j] = this->template in<Id, 1>(c, p * nb * inner + j);
    }
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* g = this->template out_grad<Id>(c);
    for (std::size_t p = 0; p < outer; ++p) {
      if constexpr (Concat::template wants_grad<Id, 0, Ctx>())
        for (std::size_t j = 0; j < na * inner; ++j)
          this->template add_grad<Id, 0>(c, p * na * inner + j, g[p * n * inner + j]);
      if constexpr (Concat::template wants_grad<Id, 1, Ctx>())
        for (std::size_t j = 0; j < nb * inner; ++j)
          this->template add_grad<Id, 1>(c, p * nb * inner + j, g[p * n * inner + na * inner + j]);
    }
  }
};

template <std::size_t Axis, tensor_operand XA, tensor_operand XB>
auto concat(XA&& a, XB&& b) {
  if constexpr (any_invalid_v<XA, XB>) {
    return invalid_expression{};
  } else {
    using SA = typename expr_t<XA>::shape_type;
    using SB = typename expr_t<XB>::shape_type;
    using C = detail::concat_shape<Axis, SA, SB>;
    static_assert(detail::require<error::concat_shapes_differ<op::concat, SA, SB, C::ok>>);
    if constexpr (C::ok)
      return Concat<Axis, expr_t<XA>, expr_t<XB>>{{{}, {as_expr(std::forward<XA>(a)), as_expr(std::forward<XB>(b))}}};
    else
      return invalid_expression{};
  }
}
}  // namespace tg
