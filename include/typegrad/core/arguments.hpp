#pragma once
// A step's arguments checked against its declared inputs: backend (host or device memory), shape and element
// type at compile time; element count of run-time sized containers and label ranges at run time.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "typegrad/core/errors.hpp"
#include "typegrad/core/tensor.hpp"

namespace tg::detail {

// "[2, 3]" (one function for every shape: it is on error paths only)
[[gnu::noinline]] inline std::string shape_string(const std::size_t* dims, std::size_t rank) {
  std::string s = "[";
  for (std::size_t k = 0; k < rank; ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
  return s + "]";
}
template <class S>
std::string shape_string() {
  return shape_string(S::dims.data(), S::rank);
}

template <class Arg>
auto data_pointer(const Arg& a) {
  if constexpr (requires { a.data(); })
    return a.data();
  else
    return a;
}
template <class Arg>
const void* data_of(const Arg& a) {
  return static_cast<const void*>(data_pointer(a));
}

// Labels of a Labels<Batch, Classes> input lie in [0, Classes).
template <class Spec, class Backend>
void check_labels(const typename Spec::value_type* y) {
  using Int = typename Spec::value_type;
  std::size_t i = 0;
  Int bad = 0;
  if constexpr (Backend::is_device) {
    i = Backend::first_outside(y, Spec::shape_type::size, Int(Spec::classes));
    if (i < Spec::shape_type::size) Backend::download(&bad, y + i, sizeof bad);
  } else {
    for (; i < Spec::shape_type::size; ++i)
      if (y[i] < 0 || static_cast<std::size_t>(y[i]) >= Spec::classes) {
        bad = y[i];
        break;
      }
  }
  if (i < Spec::shape_type::size)
    throw std::out_of_range("typegrad: label " + std::to_string(bad) + " at position " + std::to_string(i) +
                            " is outside [0, " + std::to_string(Spec::classes) + ")");
}

// The I-th argument's memory, after checking it against its declared input Spec.
template <std::size_t I, class Spec, class Backend, class Arg>
const void* checked_argument(const Arg& a) {
  using S = typename Spec::shape_type;
  using T = typename Spec::value_type;
  constexpr bool on_device = requires { Arg::on_device; };
  static_assert(on_device == Backend::is_device,
                "typegrad: a host program takes host tensors and a device program device tensors "
                "(copy explicitly with tg::device::to_device / to_host)");
  if constexpr (is_tensor_like_v<Arg> || on_device) {
    static_assert(require<error::argument_shape_mismatch<Spec, S, typename Arg::shape_type,
                                                         std::is_same_v<S, typename Arg::shape_type>>>);
  } else if constexpr (requires {
                         a.size();
                         a.data();
                       }) {  // contiguous run-time sized memory
    if (a.size() != S::size)
      throw std::invalid_argument("typegrad: argument " + std::to_string(I) + " has " + std::to_string(a.size()) +
                                  " elements; the step was compiled for shape " + shape_string<S>() + " (" +
                                  std::to_string(S::size) + " elements)");
  }
  if constexpr (requires { a.data(); } || std::is_pointer_v<Arg>) {
    using Given = std::remove_cvref_t<decltype(*data_pointer(a))>;
    static_assert(require<error::argument_element_type_differs<op::training_step, Spec, T, Given,
                                                              std::is_same_v<Given, T>>>);
  }
  const void* p = data_of(a);
  if constexpr (Spec::is_labels) check_labels<Spec, Backend>(static_cast<const T*>(p));
  return p;
}

}  // namespace tg::detail
