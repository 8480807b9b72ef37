#pragma once
// C = op(A) op(B) through BLAS, op = identity or transpose (a tg::transpose operand is folded into the
// GEMM call, not copied).  Shapes: [M,K] x [K,N]; [B,M,K] x [B,K,N]; [B,M,K] x [K,N].
// VJP: dA = dC op(B)^T, dB = op(A)^T dC (accumulated with beta = 1, transposes as GEMM flags).
#include "typegrad/core/blas.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/primitives/permute.hpp"

namespace tg {
namespace op {
struct matmul {};
}  // namespace op

namespace detail {
// logical (after op) dims of a stored operand
template <class S, bool Trans>
struct matmul_operand {
  static constexpr std::size_t rank = S::rank;
  static constexpr std::size_t batch = rank == 3 ? S::dims[0] : 1;
  static constexpr std::size_t rows = Trans ? S::dims[rank - 1] : S::dims[rank - 2];
  static constexpr std::size_t cols = Trans ? S::dims[rank - 2] : S::dims[rank - 1];
  static constexpr std::size_t ld = S::dims[rank - 1];
  static constexpr std::size_t matrix = S::dims[rank - 2] * S::dims[rank - 1];
};

template <class SA, class SB, bool TA, bool TB>
struct matmul_shape {
  using A = matmul_operand<SA, TA>;
  using B = matmul_operand<SB, TB>;
  static constexpr bool ranks_ok = (SA::rank == 2 && SB::rank == 2) ||
                                   (SA::rank == 3 && SB::rank == 3 && SA::dims[0] == SB::dims[0]) ||
                                   (SA::rank == 3 && SB::rank == 2);
  static constexpr bool inner_ok = A::cols == B::rows;
  using type = std::conditional_t<SA::rank == 3, shape<A::batch, A::rows, B::cols>, shape<A::rows, B::cols>>;
};

template <class X>
struct transposed_operand {
  static constexpr bool value = false;
  using stored = X;
};
template <class From, class C>
requires(From::rank == 2) struct transposed_operand<IndexMap<permute_mapping<From, 1, 0>, C>> {
  static constexpr bool value = true;
  using stored = C;
};
template <class X>
decltype(auto) strip_transpose(X&& x) {
  if constexpr (transposed_operand<std::remove_cvref_t<X>>::value)
    return std::get<0>(std::forward<X>(x).kids);
  else
    return std::forward<X>(x);
}
}  // namespace detail

template <class A, class B, bool TA, bool TB>
struct MatMul
    : kernel_node<typename A::value_type,
                  typename detail::matmul_shape<typename A::shape_type, typename B::shape_type, TA, TB>::type, A, B> {
  using T = typename A::value_type;
  template <class... K2>
  using rebind = MatMul<K2..., TA, TB>;
  using LA = detail::matmul_operand<typename A::shape_type, TA>;
  using LB = detail::matmul_operand<typename B::shape_type, TB>;
  static constexpr bool needs_child_buffers = true;
  static constexpr int M = LA::rows, K = LA::cols, N = LB::cols;
  static constexpr std::size_t batches = LA::batch;
  // [B,M,K] x [K,N] without a transposed A is one GEMM with B*M rows
  static constexpr bool flatten = A::shape_type::rank == 3 && B::shape_type::rank == 2 && !TA;
  static constexpr std::size_t stride_b = B::shape_type::rank == 3 ? LB::matrix : 0;

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    const T* a = this->template in_data<Id, 0>(c);
    const T* b = this->template in_data<Id, 1>(c);
    T* y = this->template out<Id>(c);
    if constexpr (flatten) {
      blas::gemm<T>(false, TB, int(batches) * M, N, K, T(1), a, LA::ld, b, LB::ld, T(0), y, N);
    } else {
      for (std::size_t q = 0; q < batches; ++q)
        blas::gemm<T>(TA, TB, M, N, K, T(1), a + q * LA::matrix, LA::ld, b + q * stride_b, LB::ld, T(0), y + q * M * N,
                      N);
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* a = this->template in_data<Id, 0>(c);
    const T* b = this->template in_data<Id, 1>(c);
    const T* g = this->template out_grad<Id>(c);
    if constexpr (MatMul::template wants_grad<Id, 0, Ctx>()) {
      T* da = this->template grad_data<Id, 0>(c);
      if constexpr (flatten) {
        blas::gemm<T>(false, !TB, int(batches) * M, K, N, T(1), g, N, b, LB::ld, T(1), da, K);
      } else {
        for (std::size_t q = 0; q < batches; ++q) {
          if constexpr (!TA)  // dA[M,K] += G op(B)^T
            blas::gemm<T>(false, !TB, M, K, N, T(1), g + q * M * N, N, b + q * stride_b, LB::ld, T(1),
                          da + q * LA::matrix, K);
          else  // A stored [K,M]: dA += op(B) G^T
            blas::gemm<T>(TB, true, K, M, N, T(1), b + q * stride_b, LB::ld, g + q * M * N, N, T(1),
                          da + q * LA::matrix, M);
        }
      }
    }
    if constexpr (MatMul::template wants_grad<Id, 1, Ctx>()) {
      T* db = this->template grad_data<Id, 1>(c);
      if constexpr (flatten) {
        if constexpr (!TB)  // dB[K,N] += A^T G over all rows
          blas::gemm<T>(true, false, K, N, int(batches) * M, T(1), a, K, g, N, T(1), db, N);
        else  // B stored [N,K]: dB += G^T A
          blas::gemm<T>(true, false, N, K, int(batches) * M, T(1), g, N, a, K, T(1), db, K);
      } else {
        for (std::size_t q = 0; q < batches; ++q) {
          if constexpr (!TB)
            blas::gemm<T>(!TA, false, K, N, M, T(1), a + q * LA::matrix, LA::ld, g + q * M * N, N, T(1),
                          db + q * stride_b, N);
          else
            blas::gemm<T>(true, TA, N, K, M, T(1), g + q * M * N, N, a + q * LA::matrix, LA::ld, T(1),
                          db + q * stride_b, K);
        }
      }
    }
  }
};

template <tensor_operand XA, tensor_operand XB>
auto matmul(XA&& xa, XB&& xb) {
  if constexpr (any_invalid_v<XA, XB>) {
    return invalid_expression{};
  } else {
    using EA = expr_t<XA>;
    using EB = expr_t<XB>;
    constexpr bool TA = detail::transposed_operand<EA>::value;
    constexpr bool TB = detail::transposed_operand<EB>::value;
    using SA = typename EA::shape_type;
    using SB = typename EB::shape_type;
    constexpr bool rank_ok = (SA::rank == 2 || SA::rank == 3) && (SB::rank == 2 || SB::rank == 3);
    static_assert(detail::require<error::matmul_rank_unsupported<op::matmul, SA, SB, rank_ok>>);
    if constexpr (rank_ok) {
      using stored_a = typename detail::transposed_operand<EA>::stored;
      using stored_b = typename detail::transposed_operand<EB>::stored;
      using Sh = detail::matmul_shape<typename stored_a::shape_type, typename stored_b::shape_type, TA, TB>;
      static_assert(detail::require<error::matmul_rank_unsupported<op::matmul, SA, SB, Sh::ranks_ok>>);
      static_assert(detail::require<error::matmul_inner_dims_differ<op::matmul, SA, SB, Sh::inner_ok>>);
      using TyA = typename EA::value_type;
      using TyB = typename EB::value_type;
      static_assert(detail::require<error::element_types_differ<op::matmul, TyA, TyB, std::is_same_v<TyA, TyB>>>);
      if constexpr (Sh::ranks_ok && Sh::inner_ok && std::is_same_v<TyA, TyB>) {
        return MatMul<stored_a, stored_b, TA, TB>{{{},
                                                   {detail::strip_transpose(as_expr(std::forward<XA>(xa))),
                                                    detail::strip_transpose(as_expr(std::forward<XB>(xb)))}}};
      } else {
        return invalid_expression{};
      }
    } else {
      return invalid_expression{};
    }
  }
}
}  // namespace tg
