#pragma once
// xtensor interop, zero-copy both ways (kept out of typegrad.hpp: xtensor's headers are costly to compile).
//   tg::as_xtensor(t)   an xtensor adaptor over a tg::Tensor / TensorView's memory, with its shape
//   tg::view_of(x)      a tg::TensorView over an xt::xtensor_fixed (usable as a step argument)
#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>

#include "typegrad/core/tensor.hpp"

namespace tg {

namespace detail {
template <class S>
auto xt_shape() {
  return [&]<std::size_t... K>(std::index_sequence<K...>) {
    return std::array<std::size_t, S::rank>{S::dims[K]...};
  }(std::make_index_sequence<S::rank>{});
}
}  // namespace detail

template <class T, class S>
auto as_xtensor(TensorView<T, S> v) {
  return xt::adapt(v.data(), S::size, xt::no_ownership(), detail::xt_shape<S>());
}
template <class T, class S>
auto as_xtensor(TensorOf<T, S>& t) {
  return as_xtensor(t.view());
}
template <class T, class S>
auto as_xtensor(const TensorOf<T, S>& t) {
  return as_xtensor(t.view());
}

template <class T, std::size_t... D>
TensorView<T, shape<D...>> view_of(xt::xtensor_fixed<T, xt::xshape<D...>>& x) {
  return TensorView<T, shape<D...>>(x.data());
}
template <class T, std::size_t... D>
TensorView<const T, shape<D...>> view_of(const xt::xtensor_fixed<T, xt::xshape<D...>>& x) {
  return TensorView<const T, shape<D...>>(x.data());
}

}  // namespace tg
