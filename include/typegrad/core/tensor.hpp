#pragma once
// Fixed-shape host tensors (aligned as core/host_memory.hpp says, owning) and zero-copy views of user memory.
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "typegrad/core/host_memory.hpp"
#include "typegrad/core/shape.hpp"

namespace tg {

template <class T, class S>
class TensorView {
  static_assert(is_shape_v<S>, "tg::TensorView<T, S>: S must be a tg::shape<...>");

 public:
  using value_type = T;
  using shape_type = S;
  static constexpr std::size_t rank = S::rank;
  static constexpr std::size_t size() { return S::size; }

  constexpr TensorView() = default;
  explicit constexpr TensorView(T* p) : ptr_(p) {}
  // A view of const data from a view of mutable data.
  template <class U>
  requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>) constexpr TensorView(TensorView<U, S> other)
      : ptr_(other.data()) {}

  constexpr T* data() const { return ptr_; }
  constexpr T* begin() const { return ptr_; }
  constexpr T* end() const { return ptr_ + S::size; }
  constexpr T& operator[](std::size_t i) const { return ptr_[i]; }
  template <class... I>
  requires(sizeof...(I) == S::rank && (std::is_integral_v<I> && ...)) constexpr T& operator()(I... idx) const {
    std::size_t k = 0, flat = 0;
    ((flat += static_cast<std::size_t>(idx) * S::strides[k++]), ...);
    return ptr_[flat];
  }

 private:
  T* ptr_ = nullptr;
};

// Zero-copy view of user memory: tg::view<64, 784>(ptr).
template <std::size_t... D, class T>
constexpr TensorView<T, shape<D...>> view(T* p) {
  return TensorView<T, shape<D...>>(p);
}

template <class T, class S>
class TensorOf {
  static_assert(std::is_arithmetic_v<T>, "tg::Tensor: element type must be arithmetic");

 public:
  using value_type = T;
  using shape_type = S;
  static constexpr std::size_t rank = S::rank;
  static constexpr std::size_t size() { return S::size; }

  TensorOf() : mem_(detail::allocate_aligned(S::size * sizeof(T))) {}
  explicit TensorOf(T fill) : TensorOf() { std::fill(begin(), end(), fill); }
  TensorOf(std::initializer_list<T> values) : TensorOf() {
    if (values.size() != S::size)
      throw std::invalid_argument("tg::Tensor: initializer has " + std::to_string(values.size()) +
                                  " values, the shape holds " + std::to_string(S::size));
    std::copy(values.begin(), values.end(), begin());
  }
  TensorOf(const TensorOf& o) : TensorOf() { std::copy(o.begin(), o.end(), begin()); }
  TensorOf& operator=(const TensorOf& o) {
    if (this != &o) std::copy(o.begin(), o.end(), begin());
    return *this;
  }
  TensorOf(TensorOf&&) noexcept = default;
  TensorOf& operator=(TensorOf&&) noexcept = default;

  T* data() { return reinterpret_cast<T*>(mem_.get()); }
  const T* data() const { return reinterpret_cast<const T*>(mem_.get()); }
  T* begin() { return data(); }
  T* end() { return data() + S::size; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + S::size; }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  template <class... I>
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
  const T& operator()(I... idx) const {
    return view()(idx...);
  }
  TensorView<T, S> view() { return TensorView<T, S>(data()); }
  TensorView<const T, S> view() const { return TensorView<const T, S>(data()); }
  operator TensorView<T, S>() { return view(); }
  operator TensorView<const T, S>() const { return view(); }

 private:
  detail::aligned_bytes mem_;
};

template <class T, std::size_t... D>
using Tensor = TensorOf<T, shape<D...>>;

template <class X>
inline constexpr bool is_tensor_like_v = false;
template <class T, class S>
inline constexpr bool is_tensor_like_v<TensorOf<T, S>> = true;
template <class T, class S>
inline constexpr bool is_tensor_like_v<TensorView<T, S>> = true;

// A trainable tensor. Its gradient lives in the compiled step that uses it (see Program::grad).
template <class T, std::size_t... D>
struct Parameter {
  using value_type = T;
  using shape_type = shape<D...>;
  Tensor<T, D...> value;
  T* data() { return value.data(); }
  const T* data() const { return value.data(); }
  static constexpr std::size_t size() { return shape_type::size; }
};

template <class X>
inline constexpr bool is_parameter_v = false;
template <class T, std::size_t... D>
inline constexpr bool is_parameter_v<Parameter<T, D...>> = true;

}  // namespace tg
