#pragma once
// Device tensors: the same compile-time shapes as tg::Tensor, in device memory. Host <-> device copies are
// explicit (to_device, to_host, copy_from, copy_to) and check sizes; programs never copy behind your back.
#include <span>
#include <stdexcept>
#include <string>

#include "typegrad/core/shape.hpp"
#include "typegrad/core/tensor.hpp"
#include "typegrad/device/backend.hpp"

namespace tg::device {

// A view of device memory with a static shape (what a device program returns, or your own buffer).
template <class T, class S>
class View {
 public:
  using value_type = T;
  using shape_type = S;
  static constexpr bool on_device = true;
  explicit View(T* p) : p_(p) {}
  template <class U>
  View(const View<U, S>& o) requires std::is_convertible_v<U*, T*> : p_(o.data()) {}
  T* data() const { return p_; }
  static constexpr std::size_t size() { return S::size; }

 private:
  T* p_;
};

template <class T, class S>
class TensorOf {
 public:
  using value_type = T;
  using shape_type = S;
  static constexpr bool on_device = true;
  TensorOf() : mem_(S::size * sizeof(T)) {}
  T* data() { return reinterpret_cast<T*>(mem_.get()); }
  const T* data() const { return reinterpret_cast<const T*>(mem_.get()); }
  static constexpr std::size_t size() { return S::size; }
  View<T, S> view() { return View<T, S>(data()); }
  View<const T, S> view() const { return View<const T, S>(data()); }
  operator View<const T, S>() const { return view(); }

  // host -> device: a tg::TensorOf / TensorView of this shape, or any contiguous range of S::size elements
  template <class Host>
  void copy_from(const Host& h) {
    if (std::size(h) != S::size) size_error(std::size(h), "copy_from");
    thrust_backend::upload(data(), std::data(h), sizeof(T) * S::size);
  }
  template <class Host>
  void copy_to(Host& h) const {
    if (std::size(h) != S::size) size_error(std::size(h), "copy_to");
    thrust_backend::download(std::data(h), data(), sizeof(T) * S::size);
  }

 private:
  [[noreturn]] static void size_error(std::size_t n, const char* what) {
    throw std::invalid_argument(std::string("typegrad: device tensor ") + what + ": the host side has " +
                                  std::to_string(n) + " elements, the device tensor " + std::to_string(S::size));
  }
  buffer mem_;
};

template <class T, std::size_t... D>
using Tensor = TensorOf<T, shape<D...>>;

// Copies of host tensors on the device, and back.
template <class T, class S>
TensorOf<std::remove_const_t<T>, S> to_device(const tg::TensorOf<T, S>& h) {
  TensorOf<std::remove_const_t<T>, S> d;
  thrust_backend::upload(d.data(), h.data(), sizeof(T) * S::size);
  return d;
}
template <class T, class S>
TensorOf<std::remove_const_t<T>, S> to_device(const tg::TensorView<T, S>& h) {
  TensorOf<std::remove_const_t<T>, S> d;
  thrust_backend::upload(d.data(), h.data(), sizeof(T) * S::size);
  return d;
}
template <class T, class S>
tg::TensorOf<std::remove_const_t<T>, S> to_host(const View<T, S>& d) {
  tg::TensorOf<std::remove_const_t<T>, S> h;
  thrust_backend::download(h.data(), d.data(), sizeof(T) * S::size);
  return h;
}
template <class T, class S>
tg::TensorOf<T, S> to_host(const TensorOf<T, S>& d) {
  return to_host(d.view());
}

}  // namespace tg::device
