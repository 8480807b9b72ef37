#pragma once
// Scaled dot-product self-attention of Heads heads in one kernel, over packed projections:
//   qkv [B, L, 3E]: q, k and v side by side (PyTorch's in_proj order); head h (of size D = E / Heads) reads columns
//   [hD, hD + D) of each. Per sample b and head h:
//     S = Q K^T / sqrt(D) (-inf above the diagonal when Causal),   P = softmax(S) by rows,   O = P V
//   y [B, L, E]: head h's O in columns [hD, hD + D) (the heads merged, as attention's out_proj reads them).
// VJP, P recomputed from each row's saved maximum m and 1 / sum (FlashAttention's way: nothing L x L is kept):
//   dV = P^T dO,   dP = dO V^T,   dS = P (dP - rowsum(dO O)) / sqrt(D),   dQ = dS K,   dK = dS^T Q
// On the host each (b, h) runs its query rows in blocks of up to 32 through fixed-shape GEMMs (core/blas.hpp), a
// causal block only against the keys up to its last row; S, P and dP of one block stay in cache. The composed form
// (reshape, permute, matmul, softmax; layers/attention.hpp with run-time masks) materialises S and P for all heads
// and copies the heads in and out.
#include <cmath>
#include <limits>
#include <utility>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/blas.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/row_sums.hpp"
#include "typegrad/core/threads.hpp"

namespace tg {
namespace op {
struct scaled_dot_product_attention {};
}  // namespace op

namespace error {
template <class Operation, class Shape, std::size_t Heads, bool Ok>
struct packed_attention_shape {
  static_assert(Ok,
                "typegrad: scaled_dot_product_attention takes qkv [B, L, 3 E] (q, k and v packed along the last "
                "axis) with E divisible by the number of heads");
};
}  // namespace error

template <std::size_t Heads, bool Causal, class X>
struct ScaledDotProductAttention
    : kernel_node<typename X::value_type,
                  shape<X::shape_type::dims[0], X::shape_type::dims[1], X::shape_type::dims[2] / 3>, X> {
  using op_type = op::scaled_dot_product_attention;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  template <class... X2>
  using rebind = ScaledDotProductAttention<Heads, Causal, X2...>;
  static constexpr std::size_t B = X::shape_type::dims[0], L = X::shape_type::dims[1];
  static constexpr std::size_t E = X::shape_type::dims[2] / 3, E3 = 3 * E, D = E / Heads;
  static constexpr std::size_t pairs = B * Heads;  // (b, h), one attention each
  static constexpr bool needs_child_buffers = true;
  // dq by its query rows once; dk, dv by the first block run (the last: all keys), added to by the others
  static constexpr std::uint32_t assigns_child_adjoints = 1u;
  static constexpr bool runs_on_device = true;

  // Host: query rows in blocks of Rb; block R covers rows [R Rb, R Rb + rows) and keys [0, keys)
  static constexpr std::size_t Rb = L < 32 ? L : 32, blocks = (L + Rb - 1) / Rb;
  template <std::size_t R>
  struct block {
    static constexpr std::size_t first = R * Rb, rows = first + Rb <= L ? Rb : L - first;
    static constexpr std::size_t keys = Causal ? first + rows : L;
  };
  // Saved for the backward pass: each query row's m and 1 / sum (stats), then on the host one set of working tiles
  // per slot (K^T and V^T [D, L], a block's S or P and its dP [Rb, L]); pairs run in up to `slots` parts in parallel
  static constexpr std::size_t stats_elements = 2 * pairs * L;
  static constexpr std::size_t tile_elements = 2 * D * L + 2 * Rb * L;
  static constexpr std::size_t slots = pairs < 16 ? pairs : 16;
  static constexpr std::size_t scratch_bytes = (stats_elements + slots * tile_elements) * sizeof(T);
  // Devices: the stats, then rowsum(dO O) per row
  static constexpr std::size_t device_scratch_bytes = (stats_elements + pairs * L) * sizeof(T);
  static TG_HD T scale() { return T(1) / std::sqrt(T(D)); }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    if constexpr (Ctx::backend::is_device)
      forward_by_rows<Id>(c);
    else
      forward_by_blocks<Id, typename Ctx::backend>(c);
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (ScaledDotProductAttention::template wants_grad<Id, 0, Ctx>()) {
      if constexpr (Ctx::backend::is_device)
        backward_by_rows<Id>(c);
      else
        backward_by_blocks<Id, typename Ctx::backend>(c);
    }
  }

  // ---- host ----
  // f(q, tiles) for every pair q = b Heads + h: parts of the slots in parallel, a part using its first slot's tiles
  template <class F>
  static void for_each_pair(T* tiles, F&& f) {
    detail::parallel_for(slots, 1, [&](std::size_t s0, std::size_t s1) {
      for (std::size_t base = 0; base < pairs; base += slots)
        for (std::size_t s = s0; s < s1 && base + s < pairs; ++s) f(base + s, tiles + s0 * tile_elements);
    });
  }
  template <std::size_t... R, class F>
  static void for_blocks(std::index_sequence<R...>, F&& f) {
    (f(block<R>{}), ...);
  }
  template <class Bk, bool TA, std::size_t M, std::size_t N, std::size_t K, std::size_t LDA, std::size_t LDB,
            std::size_t LDC, int Beta>
  static void gemm(const T* a, const T* b, T* c) {
    Bk::template gemm<blas::gemm_kernel<T, TA, false, int(M), int(N), int(K), int(LDA), int(LDB), int(LDC), Beta>>(
        a, b, c, nullptr);
  }
  // row i of block K's S: the keys past i (within the block's diagonal square) set to -inf. Loops over fixed bounds,
  // the diagonal square's by a select: they vectorise whole (bounds that vary by row left a scalar tail of exps)
  template <class K>
  static void mask_row(T* s, std::size_t i) {
    if constexpr (Causal)
      for (std::size_t j = K::first; j < K::keys; ++j)
        s[j] = math::select_of(j <= i, s[j], -std::numeric_limits<T>::infinity());
  }
  // row i of block K's S -> P in place: masked, scaled, exponentiated and normalised; m and 1 / sum to st.
  // m = max_j S_ij / sqrt(D) exactly (rounding is monotonic), so that P_ij = e^(S_ij / sqrt(D) - m) / sum is one
  // expression here and in recompute_row: the backward pass's P is the forward pass's, bit for bit.
  template <class K>
  static void softmax_row(T* s, std::size_t i, T* st) {
    mask_row<K>(s, i);
    const T m = detail::row_max<T, K::keys>([&](std::size_t j) { return s[j]; }) * scale();
    const T inv = T(1) / detail::row_sum<T, K::keys>([&](std::size_t j) { return s[j] = probability(s[j], m); });
    for (std::size_t j = 0; j < K::keys; ++j) s[j] *= inv;
    st[0] = m, st[1] = inv;
  }
  // ... again from the saved m and 1 / sum
  template <class K>
  static void recompute_row(T* s, std::size_t i, const T* st) {
    mask_row<K>(s, i);
    const T m = st[0], inv = st[1];
    for (std::size_t j = 0; j < K::keys; ++j) s[j] = probability(s[j], m) * inv;
  }
  static TG_HD TG_INLINE T probability(T s, T m) {  // before 1 / sum; s / sqrt(D) - m <= 0
    return math::exp_nonpositive_of(s * scale() - m);
  }

  template <std::size_t Id, class Bk, class Ctx>
  void forward_by_blocks(Ctx& c) const {
    const T* x = this->template in_data<Id, 0>(c);
    T* y = this->template out<Id>(c);
    T* stats = this->template scratch<T, Id>(c);
    for_each_pair(stats + stats_elements, [&](std::size_t q, T* tiles) {
      const std::size_t b = q / Heads, h = q % Heads;
      const T* qh = x + b * L * E3 + h * D;  // Q [L, D], row stride 3E; K and V E and 2E to the right
      T* kt = tiles;                         // K^T [D, L]
      T* s = tiles + 2 * D * L;              // a block's S, then P [rows, keys], row stride L
      blas::detail::transpose<int(L), int(D)>(qh + E, int(E3), kt, int(L));
      for_blocks(std::make_index_sequence<blocks>{}, [&]<class K>(K) {
        gemm<Bk, false, K::rows, K::keys, D, E3, L, L, 0>(qh + K::first * E3, kt, s);
        for (std::size_t r = 0; r < K::rows; ++r)
          softmax_row<K>(s + r * L, K::first + r, stats + 2 * (q * L + K::first + r));
        gemm<Bk, false, K::rows, D, K::keys, L, E3, E, 0>(s, qh + 2 * E, y + (b * L + K::first) * E + h * D);
      });
    });
  }

  template <std::size_t Id, class Bk, class Ctx>
  void backward_by_blocks(Ctx& c) const {
    constexpr int first_beta = ScaledDotProductAttention::template assigns_grad<Id, 0, Ctx>() ? 0 : 1;
    const T* x = this->template in_data<Id, 0>(c);
    const T* y = this->template out<Id>(c);
    const T* dy = this->template out_grad<Id>(c);
    T* dx = this->template grad_data<Id, 0>(c);
    const T* stats = this->template scratch<T, Id>(c);
    for_each_pair(this->template scratch<T, Id>(c) + stats_elements, [&](std::size_t q, T* tiles) {
      const std::size_t b = q / Heads, h = q % Heads;
      const T* qh = x + b * L * E3 + h * D;
      const T* oh = y + b * L * E + h * D;  // O and dO [L, D], row stride E
      const T* doh = dy + b * L * E + h * D;
      T* dqh = dx + b * L * E3 + h * D;  // dQ, dK and dV as Q, K and V
      T *kt = tiles, *vt = tiles + D * L, *p = tiles + 2 * D * L, *ds = p + Rb * L;
      blas::detail::transpose<int(L), int(D)>(qh + E, int(E3), kt, int(L));
      blas::detail::transpose<int(L), int(D)>(qh + 2 * E, int(E3), vt, int(L));
      // the last block first: it reaches every key, so its dK and dV products may assign
      for_blocks(std::make_index_sequence<blocks>{}, [&]<class Forward>(Forward) {
        using K = block<blocks - 1 - Forward::first / Rb>;
        constexpr int kv_beta = K::first + K::rows == L ? first_beta : 1;
        gemm<Bk, false, K::rows, K::keys, D, E3, L, L, 0>(qh + K::first * E3, kt, p);
        for (std::size_t r = 0; r < K::rows; ++r)
          recompute_row<K>(p + r * L, K::first + r, stats + 2 * (q * L + K::first + r));
        gemm<Bk, false, K::rows, K::keys, D, E, L, L, 0>(doh + K::first * E, vt, ds);  // dP
        for (std::size_t r = 0; r < K::rows; ++r) {
          const std::size_t i = K::first + r;
          // rowsum(dO O) in partial sums: one chain of D dependent adds per row cost 1-2% of attention's time
          const T od = detail::row_sum<T, D>([&](std::size_t d) { return doh[i * E + d] * oh[i * E + d]; });
          for (std::size_t j = 0; j < K::keys; ++j) ds[r * L + j] = p[r * L + j] * (ds[r * L + j] - od) * scale();
        }
        gemm<Bk, false, K::rows, D, K::keys, L, E3, E3, first_beta>(ds, qh + E, dqh + K::first * E3);
        gemm<Bk, true, K::keys, D, K::rows, L, E3, E3, kv_beta>(ds, qh + K::first * E3, dqh + E);
        gemm<Bk, true, K::keys, D, K::rows, L, E, E3, kv_beta>(p, doh + K::first * E, dqh + 2 * E);
      });
    });
  }

  // ---- devices: one thread per query row (forward, dQ) or key row (dK, dV), loops over the other rows ----
  static TG_HD T dot(const T* a, const T* b) {
    T s = 0;
    for (std::size_t d = 0; d < D; ++d) s += a[d] * b[d];
    return s;
  }
  // P_ij of pair q from query row i's saved statistics
  static TG_HD T probability_at(const T* x, const T* stats, std::size_t q, std::size_t i, std::size_t j) {
    const std::size_t b = q / Heads, h = q % Heads;
    const T s = dot(x + (b * L + i) * E3 + h * D, x + (b * L + j) * E3 + E + h * D);
    return probability(s, stats[2 * (q * L + i)]) * stats[2 * (q * L + i) + 1];
  }
  template <bool Assign>
  static TG_HD void store(T& to, T v) {
    to = Assign ? v : to + v;
  }
  template <std::size_t Id, class Ctx>
  void forward_by_rows(Ctx& c) const {
    const T* x = this->template in_data<Id, 0>(c);
    T* y = this->template out<Id>(c);
    T* stats = this->template scratch<T, Id>(c);
    const auto row = TG_BODY_OF_VALUES((std::size_t lane) {  // lane = q L + i
      const std::size_t q = lane / L, i = lane % L, b = q / Heads, h = q % Heads;
      const T* qi = x + (b * L + i) * E3 + h * D;
      const T* k0 = x + b * L * E3 + E + h * D;
      const std::size_t keys = Causal ? i + 1 : L;
      T m = -std::numeric_limits<T>::infinity();
      for (std::size_t j = 0; j < keys; ++j) {
        const T s = dot(qi, k0 + j * E3);
        m = s > m ? s : m;
      }
      m *= scale();
      T sum = 0, o[D];
      for (std::size_t d = 0; d < D; ++d) o[d] = 0;
      for (std::size_t j = 0; j < keys; ++j) {
        const T e = probability(dot(qi, k0 + j * E3), m);
        sum += e;
        for (std::size_t d = 0; d < D; ++d) o[d] += e * k0[j * E3 + E + d];
      }
      const T inv = T(1) / sum;
      for (std::size_t d = 0; d < D; ++d) y[(b * L + i) * E + h * D + d] = o[d] * inv;
      stats[2 * lane] = m, stats[2 * lane + 1] = inv;
    });
    Ctx::backend::for_each(launch::elementwise, pairs * L, row);
  }
  template <std::size_t Id, class Ctx>
  void backward_by_rows(Ctx& c) const {
    const T* x = this->template in_data<Id, 0>(c);
    const T* y = this->template out<Id>(c);
    const T* dy = this->template out_grad<Id>(c);
    T* dx = this->template grad_data<Id, 0>(c);
    const T* stats = this->template scratch<T, Id>(c);
    T* od = this->template scratch<T, Id>(c) + stats_elements;  // rowsum(dO O) per query row
    const auto query_row = TG_BODY_OF_VALUES((std::size_t lane) {
      // declared in the body: nvcc's extended lambdas may not capture it
      constexpr bool assign = ScaledDotProductAttention::template assigns_grad<Id, 0, Ctx>();
      const std::size_t q = lane / L, i = lane % L, b = q / Heads, h = q % Heads;
      const T* doi = dy + (b * L + i) * E + h * D;
      const T odi = dot(doi, y + (b * L + i) * E + h * D);
      od[lane] = odi;
      T dq[D];
      for (std::size_t d = 0; d < D; ++d) dq[d] = 0;
      for (std::size_t j = 0; j < (Causal ? i + 1 : L); ++j) {
        const T* kj = x + (b * L + j) * E3 + E + h * D;
        const T ds = probability_at(x, stats, q, i, j) * (dot(doi, kj + E) - odi) * scale();
        for (std::size_t d = 0; d < D; ++d) dq[d] += ds * kj[d];
      }
      for (std::size_t d = 0; d < D; ++d) store<assign>(dx[(b * L + i) * E3 + h * D + d], dq[d]);
    });
    Ctx::backend::for_each(launch::elementwise, pairs * L, query_row);
    const auto key_row = TG_BODY_OF_VALUES((std::size_t lane) {
      constexpr bool assign = ScaledDotProductAttention::template assigns_grad<Id, 0, Ctx>();
      const std::size_t q = lane / L, j = lane % L, b = q / Heads, h = q % Heads;
      const T* vj = x + (b * L + j) * E3 + 2 * E + h * D;
      T dk[D], dv[D];
      for (std::size_t d = 0; d < D; ++d) dk[d] = dv[d] = 0;
      for (std::size_t i = Causal ? j : 0; i < L; ++i) {
        const T* doi = dy + (b * L + i) * E + h * D;
        const T* qi = x + (b * L + i) * E3 + h * D;
        const T p = probability_at(x, stats, q, i, j), ds = p * (dot(doi, vj) - od[q * L + i]) * scale();
        for (std::size_t d = 0; d < D; ++d) dk[d] += ds * qi[d], dv[d] += p * doi[d];
      }
      for (std::size_t d = 0; d < D; ++d) {
        store<assign>(dx[(b * L + j) * E3 + E + h * D + d], dk[d]);
        store<assign>(dx[(b * L + j) * E3 + 2 * E + h * D + d], dv[d]);
      }
    });
    Ctx::backend::for_each(launch::elementwise, pairs * L, key_row);
  }
};

// y = attention of Heads heads over qkv [B, L, 3E] (above); Causal: query i attends to keys 0..i only
template <std::size_t Heads, bool Causal = false, tensor_operand X>
auto scaled_dot_product_attention(X&& qkv) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using S = typename expr_t<X>::shape_type;
    constexpr bool ok = Heads > 0 && S::rank == 3 && S::dims[S::rank - 1] % (3 * Heads) == 0;
    static_assert(detail::require<error::packed_attention_shape<op::scaled_dot_product_attention, S, Heads, ok>>);
    if constexpr (ok)
      return ScaledDotProductAttention<Heads, Causal, expr_t<X>>{{{}, {as_expr(std::forward<X>(qkv))}}};
    else
      return invalid_expression{};
  }
}

}  // namespace tg
