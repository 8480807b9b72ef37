#pragma once
// C = op(A) op(B) through BLAS, op = identity or transpose (a tg::transpose operand, of a matrix or of each
// matrix of a batch, is folded into the GEMM call, not copied).  Shapes: [M,K] x [K,N]; [B,M,K] x [B,K,N]; [B,M,K] x
// [K,N]. VJP: dA = dC op(B)^T, dB = op(A)^T dC (accumulated with beta = 1, transposes as GEMM flags).
#include <algorithm>

#include "typegrad/core/backend.hpp"
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
// a batch of matrices transposed (attention's K^T): each batch's GEMM reads its matrix transposed
template <class From, class C>
requires(From::rank == 3) struct transposed_operand<IndexMap<permute_mapping<From, 0, 2, 1>, C>> {
  static constexpr bool value = true;
  using stored = C;
};
template <class X>
decltype(auto) strip_transpose(X&& x) {
  if constexpr (transposed_operand<std::remove_cvref_t<X>>::value)
    return child<0>(std::forward<X>(x).kids);
  else
    return std::forward<X>(x);
}
}  // namespace detail

template <class A, class B, bool TA, bool TB>
struct MatMul
    : kernel_node<typename A::value_type,
                  typename detail::matmul_shape<typename A::shape_type, typename B::shape_type, TA, TB>::type, A, B> {
  using op_type = op::matmul;  // its name in tools (inspect.hpp)
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
  static constexpr int BM = int(batches) * M;

  // one GEMM shape per call site (row-major, see core/blas.hpp); Beta 1 accumulates into the output
  template <int Beta>
  using ForwardWith = std::conditional_t<flatten, blas::gemm_kernel<T, false, TB, BM, N, K, LA::ld, LB::ld, N, Beta>,
                                         blas::gemm_kernel<T, TA, TB, M, N, K, LA::ld, LB::ld, N, Beta>>;
  using Forward = ForwardWith<0>;
  // dA[M,K] += G op(B)^T;  A stored [K,M]: dA += op(B) G^T  (Beta 0: dA = ...)
  template <int Beta>
  using GradAWith =
      std::conditional_t<flatten, blas::gemm_kernel<T, false, !TB, BM, K, N, N, LB::ld, K, Beta>,
                         std::conditional_t<!TA, blas::gemm_kernel<T, false, !TB, M, K, N, N, LB::ld, K, Beta>,
                                            blas::gemm_kernel<T, TB, true, K, M, N, LB::ld, N, M, Beta>>>;
  // dB[K,N] += op(A)^T G;  B stored [N,K]: dB += G^T op(A)
  template <int Beta>
  using GradBWith =
      std::conditional_t<flatten,
                         std::conditional_t<!TB, blas::gemm_kernel<T, true, false, K, N, BM, K, N, N, Beta>,
                                            blas::gemm_kernel<T, true, false, N, K, BM, N, K, K, Beta>>,
                         std::conditional_t<!TB, blas::gemm_kernel<T, !TA, false, K, N, M, LA::ld, N, N, Beta>,
                                            blas::gemm_kernel<T, true, TA, N, K, M, N, LA::ld, K, Beta>>>;
  using GradA = GradAWith<1>;
  using GradB = GradBWith<1>;
  // An operand's adjoint is written by one GEMM, or one per batch into its own matrix, unless the operand is
  // shared by the batches (their products add up): then it may be assigned (Beta 0) rather than added to.
  static constexpr std::uint32_t assigns_child_adjoints =
      (flatten || batches == 1 || A::shape_type::rank == 3 ? 1u : 0u) |
      (flatten || batches == 1 || B::shape_type::rank == 3 ? 2u : 0u);
  static constexpr std::size_t scratch_elements =
      std::max({Forward::scratch_elements, GradA::scratch_elements, GradB::scratch_elements});
  static constexpr std::size_t scratch_bytes = scratch_elements * sizeof(T);

  static constexpr bool runs_on_device = true;
  static constexpr std::size_t MN = std::size_t(M) * N;

  // y = op(a) op(b) (Beta 0) or y += op(a) op(b) (Beta 1), s the node's scratch
  template <class Bk, int Beta = 0>
  static void multiply(const T* a, const T* b, T* y, T* s) {
    if constexpr (flatten)
      Bk::template gemm<ForwardWith<Beta>>(a, b, y, s);
    else
      Bk::template gemm<ForwardWith<Beta>, batches, LA::matrix, stride_b, MN>(a, b, y, s);
  }
  // da += g op(b)^T (ToA), db += op(a)^T g (ToB) for the adjoint g of the product; = instead of += with
  // BetaA / BetaB 0 (an operand named in assigns_child_adjoints)
  template <class Bk, bool ToA, bool ToB, int BetaA = 1, int BetaB = 1>
  static void multiply_vjp(const T* a, const T* b, const T* g, T* da, T* db, T* s) {
    using GA = GradAWith<BetaA>;
    using GB = GradBWith<BetaB>;
    if constexpr (ToA) {
      if constexpr (flatten)
        Bk::template gemm<GA>(g, b, da, s);
      else if constexpr (!TA)
        Bk::template gemm<GA, batches, MN, stride_b, LA::matrix>(g, b, da, s);
      else
        Bk::template gemm<GA, batches, stride_b, MN, LA::matrix>(b, g, da, s);
    }
    if constexpr (ToB) {
      if constexpr (flatten && !TB)
        Bk::template gemm<GB>(a, g, db, s);
      else if constexpr (flatten)
        Bk::template gemm<GB>(g, a, db, s);
      else if constexpr (!TB)
        Bk::template gemm<GB, batches, LA::matrix, MN, stride_b>(a, g, db, s);
      else
        Bk::template gemm<GB, batches, MN, LA::matrix, stride_b>(g, a, db, s);
    }
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    multiply<typename Ctx::backend>(this->template in_data<Id, 0>(c), this->template in_data<Id, 1>(c),
                                    this->template out<Id>(c), this->template scratch<T, Id>(c));
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    constexpr bool to_a = MatMul::template wants_grad<Id, 0, Ctx>(), to_b = MatMul::template wants_grad<Id, 1, Ctx>();
    if constexpr (to_a || to_b) {
      T* da = nullptr;
      T* db = nullptr;
      if constexpr (to_a) da = this->template grad_data<Id, 0>(c);
      if constexpr (to_b) db = this->template grad_data<Id, 1>(c);
      multiply_vjp<typename Ctx::backend, to_a, to_b, MatMul::template assigns_grad<Id, 0, Ctx>() ? 0 : 1,
                   MatMul::template assigns_grad<Id, 1, Ctx>() ? 0 : 1>(
          this->template in_data<Id, 0>(c), this->template in_data<Id, 1>(c), this->template out_grad<Id>(c), da, db,
          this->template scratch<T, Id>(c));
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
