#pragma once
// y = [a, b] joined along Axis;  VJP: da, db = the two parts of dy.
#include "typegrad/core/backend.hpp"
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
  using op_type = op::concat;  // its name in tools (inspect.hpp)
  using T = typename A::value_type;
  template <class... K2>
  using rebind = Concat<Axis, K2...>;
  using SA = typename A::shape_type;
  using SB = typename B::shape_type;
  static constexpr std::size_t inner = SA::strides[Axis];
  static constexpr std::size_t na = SA::dims[Axis], nb = SB::dims[Axis], n = na + nb;
  static constexpr std::size_t outer = SA::size / (na * inner);

  static constexpr bool runs_on_device = true;
  static constexpr std::size_t row = n * inner, row_a = na * inner, row_b = nb * inner;

  // one body per output element e = (p, j): j < row_a comes from a, the rest from b
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    const auto element = TG_BODY((std::size_t e) {
      const std::size_t p = e / row, j = e % row;
      y[e] =
          j < row_a ? this->template in<Id, 0>(c, p * row_a + j) : this->template in<Id, 1>(c, p * row_b + j - row_a);
    });
    Ctx::backend::for_each(launch::elementwise, outer * row, element);
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* g = this->template out_grad<Id>(c);
    const auto element_grad = TG_BODY((std::size_t e) {
      const std::size_t p = e / row, j = e % row;
      const auto& ctx = c;  // captured here: nvcc's lambdas cannot first capture inside if constexpr
      const T ge = g[e];
      if (j < row_a) {
        if constexpr (Concat::template wants_grad<Id, 0, Ctx>()) this->template add_grad<Id, 0>(ctx, p * row_a + j, ge);
      } else {
        if constexpr (Concat::template wants_grad<Id, 1, Ctx>())
          this->template add_grad<Id, 1>(ctx, p * row_b + j - row_a, ge);
      }
    });
    Ctx::backend::for_each(launch::elementwise, outer * row, element_grad);
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
