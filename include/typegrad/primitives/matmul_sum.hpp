#pragma once
// C = op(A1) op(B1) + op(A2) op(B2) into one buffer: the second GEMM accumulates (beta = 1) into the first's
// output, so the second product never has a buffer (or an adjoint buffer) of its own. LoRA's projection
// x W^T + (s x A^T) B^T is the case it is for: without it the adapter's [rows, Out] product and its adjoint
// are activations as large as the base projection's.
// Shapes: each product as tg::matmul's (primitives/matmul.hpp); both give the same shape.
// VJP: each product's, for the same adjoint dC (dA1 = dC op(B1)^T, dB1 = op(A1)^T dC, and so for A2, B2).
#include "typegrad/primitives/matmul.hpp"

namespace tg {
namespace op {
struct matmul_sum {};
}  // namespace op

template <class A1, class B1, class A2, class B2, bool TA1, bool TB1, bool TA2, bool TB2>
struct MatMulSum : kernel_node<typename A1::value_type, typename MatMul<A1, B1, TA1, TB1>::shape_type, A1, B1, A2, B2> {
  using op_type = op::matmul_sum;  // its name in tools (inspect.hpp)
  using T = typename A1::value_type;
  template <class... K2>
  using rebind = MatMulSum<K2..., TA1, TB1, TA2, TB2>;
  using First = MatMul<A1, B1, TA1, TB1>;
  using Second = MatMul<A2, B2, TA2, TB2>;
  static constexpr bool needs_child_buffers = true;
  static constexpr bool runs_on_device = true;
  static constexpr std::size_t scratch_elements = std::max(First::scratch_elements, Second::scratch_elements);
  static constexpr std::size_t scratch_bytes = scratch_elements * sizeof(T);

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    T* y = this->template out<Id>(c);
    T* s = this->template scratch<T, Id>(c);
    First::template multiply<Bk, 0>(this->template in_data<Id, 0>(c), this->template in_data<Id, 1>(c), y, s);
    Second::template multiply<Bk, 1>(this->template in_data<Id, 2>(c), this->template in_data<Id, 3>(c), y, s);
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* g = this->template out_grad<Id>(c);
    T* s = this->template scratch<T, Id>(c);
    vjp<Bk, Id, 0, First>(c, g, s);
    vjp<Bk, Id, 2, Second>(c, g, s);
  }

 private:
  // the VJP of one product, whose operands are children K and K + 1
  template <class Bk, std::size_t Id, std::size_t K, class Product, class Ctx>
  void vjp(Ctx& c, const T* g, T* s) const {
    constexpr bool to_a = MatMulSum::template wants_grad<Id, K, Ctx>();
    constexpr bool to_b = MatMulSum::template wants_grad<Id, K + 1, Ctx>();
    if constexpr (to_a || to_b) {
      T* da = nullptr;
      T* db = nullptr;
      if constexpr (to_a) da = this->template grad_data<Id, K>(c);
      if constexpr (to_b) db = this->template grad_data<Id, K + 1>(c);
      Product::template multiply_vjp<Bk, to_a, to_b>(this->template in_data<Id, K>(c),
                                                     this->template in_data<Id, K + 1>(c), g, da, db, s);
    }
  }
};

namespace detail {
template <class First, class Second>
auto matmul_sum_of(First&& first, Second&& second) {
  using F = std::remove_cvref_t<First>;
  using S = std::remove_cvref_t<Second>;
  return []<class A1, class B1, bool TA1, bool TB1, class A2, class B2, bool TA2, bool TB2>(
             MatMul<A1, B1, TA1, TB1>&& f, MatMul<A2, B2, TA2, TB2>&& s) {
    return MatMulSum<A1, B1, A2, B2, TA1, TB1, TA2, TB2>{{{},
                                                          {child<0>(std::move(f).kids), child<1>(std::move(f).kids),
                                                           child<0>(std::move(s).kids), child<1>(std::move(s).kids)}}};
  }(F(std::forward<First>(first)), S(std::forward<Second>(second)));
}
}  // namespace detail

// tg::matmul_sum(a1, b1, a2, b2) = matmul(a1, b1) + matmul(a2, b2), the second product accumulated into the
// first's buffer (tg::transpose operands fold into the GEMMs as in tg::matmul)
template <tensor_operand XA1, tensor_operand XB1, tensor_operand XA2, tensor_operand XB2>
auto matmul_sum(XA1&& a1, XB1&& b1, XA2&& a2, XB2&& b2) {
  auto first = matmul(std::forward<XA1>(a1), std::forward<XB1>(b1));
  auto second = matmul(std::forward<XA2>(a2), std::forward<XB2>(b2));
  if constexpr (any_invalid_v<decltype(first), decltype(second)>) {
    return invalid_expression{};
  } else {
    using SF = typename decltype(first)::shape_type;
    using SS = typename decltype(second)::shape_type;
    using TF = typename decltype(first)::value_type;
    using TS = typename decltype(second)::value_type;
    static_assert(detail::require<error::matmul_sum_products_differ<op::matmul_sum, SF, SS, std::is_same_v<SF, SS>>>);
    static_assert(detail::require<error::element_types_differ<op::matmul_sum, TF, TS, std::is_same_v<TF, TS>>>);
    if constexpr (std::is_same_v<SF, SS> && std::is_same_v<TF, TS>)
      return detail::matmul_sum_of(std::move(first), std::move(second));
    else
      return invalid_expression{};
  }
}
}  // namespace tg
