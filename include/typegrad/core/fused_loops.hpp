#pragma once
// The host loops of a fused element-wise region: out[i] = region(i) forward; backward, dy[i] pushed through
// the region's partial derivatives into its leaves. Device backends run the same bodies through
// Backend::for_each (context.hpp: region_forward, region_backward).
#include <cstddef>
#include <numeric>
#include <utility>

#include "typegrad/core/expr.hpp"
#include "typegrad/core/threads.hpp"

namespace tg::detail {

// Host region loops run over rows of the last axis when an operand is broadcast along leading axes
// (a bias) and the rows are long enough to vectorise: the operand is then indexed by the column alone
// (row_index, shape.hpp), where a flat loop's i % L keeps the loop scalar.
template <class N>
constexpr bool broadcasts_over_rows() {
  if constexpr (N::kind != node_kind::pointwise || requires { typename N::mapping; }) {
    return false;  // leaves and kernels; an index map's child sees flat indices
  } else if constexpr (requires { N::binds_level; }) {
    return broadcasts_over_rows<child_t<N, 1>>();  // a let is its body (the bound value is a buffer)
  } else {
    return []<std::size_t... K>(std::index_sequence<K...>) {
      return ((child_t<N, K>::shape_type::size > 1 && child_t<N, K>::shape_type::size < N::shape_type::size) || ... ||
              false) ||
             (broadcasts_over_rows<child_t<N, K>>() || ... || false);
    }
    (std::make_index_sequence<child_count_v<N>>{});
  }
}
template <class N, class S = typename N::shape_type>
inline constexpr std::size_t row_length = S::rank >= 2 && S::dims[S::rank - 1] >= 16 && broadcasts_over_rows<N>()
                                              ? S::dims[S::rank - 1]
                                              : 0;

// The length R of the runs [i, i + R) of region elements (i a multiple of R) that every leaf reads at
// consecutive positions; 0: any length (a number, a buffer read at the region's own index). Through an index
// map: its run, or when the child has runs itself, the gcd of its run, its run starts' step and the child's
// (IndexMap's comment, expr.hpp). A region of index maps (attention's heads split from one projection and
// joined back) then runs by runs of R and copies each run with one mapped start (run_index, shape.hpp) instead
// of mapping every element.
template <class N>
constexpr std::size_t contiguous_run() {
  if constexpr (N::kind != node_kind::pointwise) {
    return 0;
  } else if constexpr (requires { typename N::mapping; }) {
    using M = typename N::mapping;
    if constexpr (requires { M::run; }) {
      constexpr std::size_t child = contiguous_run<child_t<N, 0>>();  // a run start must also start the child's
      return child == 0 ? M::run : std::gcd(M::run, std::gcd(M::run_start_step, child));
    } else {
      return 1;
    }
  } else if constexpr (requires { N::binds_level; }) {
    return 1;  // a let: not taken apart here
  } else {
    return []<std::size_t... K>(std::index_sequence<K...>) {
      constexpr bool same = ((child_t<N, K>::kind == node_kind::inline_scalar ||
                              child_t<N, K>::shape_type::size == N::shape_type::size) &&
                             ... && true);
      std::size_t r = same ? 0 : 1;  // a broadcast operand: 1 (row loops handle a bias)
      if constexpr (same) ((r = std::gcd(r, contiguous_run<child_t<N, K>>())), ...);
      return r;
    }
    (std::make_index_sequence<child_count_v<N>>{});
  }
}
// Run loops when the runs are long enough to vectorise and the region maps indices at all
template <class N, class S = typename N::shape_type>
inline constexpr std::size_t run_length = row_length<N> == 0 &&
                                                  contiguous_run<N>() >= 16 && contiguous_run<N>() < S::size
                                              ? contiguous_run<N>()
                                              : 0;

// Does the backward of element i send adjoints to element i of every leaf only (no broadcast operand, no
// index map)? Then ranges of i may run on different threads without two of them adding into one element.
template <class N>
constexpr bool pushes_elementwise() {
  if constexpr (N::kind != node_kind::pointwise) {
    return true;  // a buffer seen at the region's own index
  } else if constexpr (requires { typename N::mapping; }) {
    return false;
  } else {
    return []<std::size_t... K>(std::index_sequence<K...>) {
      return ((child_t<N, K>::kind == node_kind::inline_scalar ||
               (child_t<N, K>::shape_type::size == N::shape_type::size && pushes_elementwise<child_t<N, K>>())) &&
              ... && true);
    }
    (std::make_index_sequence<child_count_v<N>>{});
  }
}

// Rows [r0, r1) of the region, forward and backward: rows of L elements when L > 0 (row_index), runs of R
// elements when R > 0 (run_index), else single elements.
template <std::size_t Id, std::size_t L, std::size_t R, class N, class Ctx, class T>
TG_INLINE void forward_range(const N& n, const Ctx& c, T* TG_RESTRICT out, std::size_t r0, std::size_t r1) {
  if constexpr (L > 0) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < L; ++j) out[r * L + j] = n.template compute<Id>(c, row_index<L>{r, j});
  } else if constexpr (R > 0) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < R; ++j)  // probe: region forward by runs
        out[r * R + j] = n.template compute<Id>(c, run_index{r * R, j});
  } else {
    for (std::size_t i = r0; i < r1; ++i) out[i] = n.template compute<Id>(c, i);
  }
}
template <std::size_t Id, std::size_t L, std::size_t R, class N, class Ctx, class T>
TG_INLINE void backward_elements(const N& n, const Ctx& c, const T* g, std::size_t r0, std::size_t r1) {
  if constexpr (L > 0) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < L; ++j) {  // probe: region backward by rows
        const row_index<L> i{r, j};
        n.template push_children<Id>(c, i, n.template eval_tree<Id>(c, i), g[r * L + j]);
      }
  } else if constexpr (R > 0) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < R; ++j) {  // probe: region backward by runs
        const run_index i{r * R, j};
        n.template push_children<Id>(c, i, n.template eval_tree<Id>(c, i), g[r * R + j]);
      }
  } else {
    for (std::size_t i = r0; i < r1; ++i) n.template push_children<Id>(c, i, n.template eval_tree<Id>(c, i), g[i]);
  }
}

// ... with g restrict: the leaves' adjoints are other buffers (not so when a leaf's adjoint is written over g,
// in_place_adjoints in plan_memory.hpp: backward_elements then, each element written after it is read)
template <std::size_t Id, std::size_t L, std::size_t R, class N, class Ctx, class T>
TG_INLINE void backward_range(const N& n, const Ctx& c, const T* TG_RESTRICT g, std::size_t r0, std::size_t r1) {
  backward_elements<Id, L, R>(n, c, g, r0, r1);
}

// One pass over a fused element-wise region. `out` is restrict: the compiler may then keep the
// region's constants and input pointers in registers and vectorise the loop. With tg::set_num_threads(n > 1)
// a large region runs in ranges of rows on several threads (core/threads.hpp).
inline constexpr std::size_t parallel_region_elements = 32 * 1024;

template <std::size_t Id, class N, class Ctx, class T>
__attribute__((noinline)) void fused_forward(const N& n, const Ctx& c, T* TG_RESTRICT out) {
  using S = typename N::shape_type;
  constexpr std::size_t L = row_length<N>, R = run_length<N>, per_row = L > 0 ? L : R > 0 ? R : 1;
  constexpr std::size_t rows = S::size / per_row;
  if constexpr (S::size >= parallel_region_elements) {
    parallel_for(rows, parallel_region_elements / 2 / per_row + 1,
                 [&](std::size_t r0, std::size_t r1) { forward_range<Id, L, R>(n, c, out, r0, r1); });
  } else {
    forward_range<Id, L, R>(n, c, out, 0, rows);
  }
}
// Its backward: dy[i] pushed through the region's partial derivatives into the region's leaves; split over
// threads only when no two elements push into the same leaf element.
template <std::size_t Id, bool InPlace, class N, class Ctx, class T>
TG_INLINE void backward_rows(const N& n, const Ctx& c, const T* g) {
  using S = typename N::shape_type;
  constexpr std::size_t L = row_length<N>, R = run_length<N>, per_row = L > 0 ? L : R > 0 ? R : 1;
  constexpr std::size_t rows = S::size / per_row;
  const auto range = [&](std::size_t r0, std::size_t r1) {
    if constexpr (InPlace)
      backward_elements<Id, L, R>(n, c, g, r0, r1);
    else
      backward_range<Id, L, R>(n, c, g, r0, r1);
  };
  if constexpr (S::size >= parallel_region_elements && pushes_elementwise<N>())
    parallel_for(rows, parallel_region_elements / 2 / per_row + 1, range);
  else
    range(0, rows);
}
template <std::size_t Id, class N, class Ctx, class T>
__attribute__((noinline)) void fused_backward(const N& n, const Ctx& c, const T* TG_RESTRICT g) {
  backward_rows<Id, false>(n, c, g);
}
template <std::size_t Id, class N, class Ctx, class T>
__attribute__((noinline)) void fused_backward_in_place(const N& n, const Ctx& c, const T* g) {
  backward_rows<Id, true>(n, c, g);
}

}  // namespace tg::detail
