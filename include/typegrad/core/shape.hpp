#pragma once
// Compile-time shapes: rank and dims live in the type; NumPy broadcasting is computed here.
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "typegrad/core/config.hpp"

namespace tg {

template <std::size_t... D>
struct shape {
  static constexpr std::size_t rank = sizeof...(D);
  static constexpr std::size_t size = (std::size_t{1} * ... * D);
  static constexpr std::array<std::size_t, rank> dims{D...};
  // Row-major strides.
  static constexpr std::array<std::size_t, rank> strides = [] {
    std::array<std::size_t, rank> s{};
    std::size_t acc = 1;
    for (std::size_t k = rank; k-- > 0;) {
      s[k] = acc;
      acc *= dims[k];
    }
    return s;
  }();
  static constexpr std::size_t dim(std::size_t k) { return dims[k]; }
};

template <class S>
inline constexpr bool is_shape_v = false;
template <std::size_t... D>
inline constexpr bool is_shape_v<shape<D...>> = true;

using scalar_shape = shape<>;

namespace detail {

template <std::size_t N>
struct dims_array {
  std::array<std::size_t, N> v{};
  std::size_t n = 0;
};

template <class Arr, std::size_t... I>
constexpr auto to_shape_impl(std::index_sequence<I...>) -> shape<Arr::value.v[I]...>;

template <auto A>
struct dims_holder {
  static constexpr auto value = A;
};

}  // namespace detail

// shape type from a constexpr dims_array value
template <auto DimsArray>
using shape_from =
    decltype(detail::to_shape_impl<detail::dims_holder<DimsArray>>(std::make_index_sequence<DimsArray.n>{}));

// ---- broadcasting (NumPy rules: align trailing dims; each pair equal or one of them 1) ----
template <class A, class B>
constexpr bool broadcastable() {
  constexpr std::size_t ra = A::rank, rb = B::rank;
  constexpr std::size_t r = ra > rb ? ra : rb;
  for (std::size_t k = 0; k < r; ++k) {
    std::size_t da = k < ra ? A::dims[ra - 1 - k] : 1;
    std::size_t db = k < rb ? B::dims[rb - 1 - k] : 1;
    if (da != db && da != 1 && db != 1) return false;
  }
  return true;
}

namespace detail {
template <class A, class B>
constexpr auto broadcast_dims() {
  constexpr std::size_t ra = A::rank, rb = B::rank;
  constexpr std::size_t r = ra > rb ? ra : rb;
  dims_array<r> out{};
  out.n = r;
  for (std::size_t k = 0; k < r; ++k) {
    std::size_t da = k < ra ? A::dims[ra - 1 - k] : 1;
    std::size_t db = k < rb ? B::dims[rb - 1 - k] : 1;
    out.v[r - 1 - k] = da == 1 ? db : da;
  }
  return out;
}
template <class A, class B>
struct broadcast2 {
  using type = shape_from<broadcast_dims<A, B>()>;
};
}  // namespace detail

template <class... S>
struct broadcast_shape;
template <class A>
struct broadcast_shape<A> {
  using type = A;
};
template <class A, class B, class... R>
struct broadcast_shape<A, B, R...> {
  using type = typename broadcast_shape<typename detail::broadcast2<A, B>::type, R...>::type;
};
template <class... S>
using broadcast_shape_t = typename broadcast_shape<S...>::type;

namespace detail {
// f(integral_constant<k>) for k = N-1, ..., 0: index arithmetic over dims with constant indices (device code
// cannot read a static constexpr array at a run-time index).
// (no inner lambda: GCC does not always inline one into the index arithmetic of large programs)
template <std::size_t N, class F, std::size_t... K>
TG_HD TG_INLINE constexpr void for_each_axis_down_impl(F& f, std::index_sequence<K...>) {
  (f(std::integral_constant<std::size_t, N - 1 - K>{}), ...);
}
template <std::size_t N, class F>
TG_HD TG_INLINE constexpr void for_each_axis_down(F&& f) {
  for_each_axis_down_impl<N>(f, std::make_index_sequence<N>{});
}
}  // namespace detail

// Flat index in `From` (broadcast operand) for flat index i of `To` (the broadcast result).
template <class From, class To>
TG_HD TG_INLINE constexpr std::size_t broadcast_index(std::size_t i) {
  if constexpr (std::is_same_v<From, To>) {
    return i;
  } else if constexpr (From::size == 1) {
    return 0;
  } else if constexpr (From::size == To::size) {
    return i;  // same element count and broadcastable: only leading/interior 1s differ
  } else {
    constexpr std::size_t rt = To::rank, rf = From::rank;
    // Suffix case: From equals the trailing dims of To (a bias over a batch).
    constexpr bool suffix = [] {
      for (std::size_t k = 0; k < rf; ++k)
        if (From::dims[rf - 1 - k] != To::dims[rt - 1 - k]) return false;
      return true;
    }();
    if constexpr (suffix) {
      return i % From::size;
    } else {
      std::size_t j = 0;
      detail::for_each_axis_down<rt>([&](auto axis) {
        constexpr std::size_t k = decltype(axis)::value;
        constexpr std::size_t d = To::dims[k];
        const std::size_t c = i % d;
        i /= d;
        if constexpr (k + rf >= rt) {
          constexpr std::size_t kf = k + rf - rt;
          if constexpr (From::dims[kf] != 1) j += c * From::strides[kf];
        }
      });
      return j;
    }
  }
}

// A flat index as row r and column j of rows of length L (the last axis): host loops over a fused region
// run rows x columns, so an operand broadcast along leading axes (a bias) is read and written at column j,
// contiguously, where i % L would keep the loop scalar.
template <std::size_t L>
struct row_index {
  std::size_t r, j;
  TG_HD TG_INLINE constexpr operator std::size_t() const { return r * L + j; }
};

namespace detail {
template <class S>
constexpr auto leading_dims() {
  dims_array<S::rank - 1> out{};
  out.n = S::rank - 1;
  for (std::size_t k = 0; k + 1 < S::rank; ++k) out.v[k] = S::dims[k];
  return out;
}
template <class S>
using leading_shape = shape_from<leading_dims<S>()>;  // S without its last axis
}  // namespace detail

// The same for a row index of To: a row index of From when From keeps the last axis, a flat one when From
// broadcasts along it.
template <class From, class To, std::size_t L>
TG_HD TG_INLINE constexpr auto broadcast_index(row_index<L> i) {
  static_assert(To::rank >= 1 && To::dims[To::rank - 1] == L);
  if constexpr (From::size == To::size) {
    return i;
  } else if constexpr (From::size == 1) {
    return std::size_t(0);
  } else if constexpr (From::dims[From::rank - 1] == 1) {
    return broadcast_index<detail::leading_shape<From>, detail::leading_shape<To>>(i.r);
  } else {
    return row_index<L>{broadcast_index<detail::leading_shape<From>, detail::leading_shape<To>>(i.r), i.j};
  }
}

// An index inside a run of consecutive region elements that every leaf of the region reads at consecutive
// positions (host region loops, fused_loops.hpp): `start` is the index of the run's first element as the node at
// hand sees it, j the offset along the run. Index maps move `start` only (IndexMap), so their arithmetic does
// not depend on j and compilers hoist it out of the loop over the run, which then vectorises.
struct run_index {
  std::size_t start, j;
  TG_HD TG_INLINE constexpr operator std::size_t() const { return start + j; }
};
template <class From, class To>
TG_HD TG_INLINE constexpr auto broadcast_index(run_index i) {
  static_assert(From::size == To::size || From::size == 1, "typegrad: a run loop has no broadcast operand");
  if constexpr (From::size == To::size)
    return i;
  else
    return std::size_t(0);
}

// A list of axes, as it appears in error messages.
template <std::size_t... A>
struct axes {};

// ---- small constexpr helpers on shapes ----
template <class S, class T>
inline constexpr bool same_shape_v = std::is_same_v<S, T>;

template <class S, std::size_t... Axes>
constexpr bool axes_in_range() {
  return ((Axes < S::rank) && ... && true);
}

template <std::size_t... Axes>
constexpr bool axes_unique() {
  constexpr std::array<std::size_t, sizeof...(Axes)> a{Axes...};
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = i + 1; j < a.size(); ++j)
      if (a[i] == a[j]) return false;
  return true;
}

namespace detail {
// [Steps, D...]: Steps copies of shape<D...> stacked along a new leading axis
template <std::size_t Steps, class S>
struct stacked_shape;
template <std::size_t Steps, std::size_t... D>
struct stacked_shape<Steps, shape<D...>> {
  using type = shape<Steps, D...>;
};
}  // namespace detail

}  // namespace tg
