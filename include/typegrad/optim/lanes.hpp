#pragma once
// tg::optim::lanes<T>: a vector register's worth of T (32 bytes with AVX, else 16) as one value, so that an update
// rule written for one element (rules.hpp) runs on that many elements per call. Why not leave it to the
// auto-vectoriser: std::sqrt keeps errno for negative inputs unless the whole program is built with
// -fno-math-errno, so g++ keeps a scalar call per element (AdamW's update was 4% of a GPT training step).
// The arithmetic is g++/clang's vector extensions; sqrt is the processor's vector square root (correctly rounded,
// as std::sqrt), or std::sqrt per lane elsewhere. A rule opts in with `static constexpr bool lane_wise = true`
// when its operator() uses + - * /, unqualified sqrt and its own members only.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <type_traits>

namespace tg::optim {

#if defined(__AVX__)
inline constexpr std::size_t lane_bytes = 32;
#else
inline constexpr std::size_t lane_bytes = 16;
#endif

namespace detail {
template <class T>
struct lane_vector;  // (a vector type's attribute cannot depend on a template parameter)
template <>
struct lane_vector<float> {
  typedef float type __attribute__((vector_size(lane_bytes)));
};
template <>
struct lane_vector<double> {
  typedef double type __attribute__((vector_size(lane_bytes)));
};
}  // namespace detail

template <class T>
struct lanes {
  static constexpr std::size_t size = lane_bytes / sizeof(T);
  using vector = typename detail::lane_vector<T>::type;
  vector v;

  lanes() = default;
  lanes(vector x) : v(x) {}
  template <class S>
    requires std::is_arithmetic_v<S>
  lanes(S s) : v(vector{} + T(s)) {}  // every lane s: a rule's T(constant)
  static lanes load(const T* p) {
    lanes r;
    std::memcpy(&r.v, p, sizeof(vector));
    return r;
  }
  void store(T* p) const { std::memcpy(p, &v, sizeof(vector)); }

  friend lanes operator+(lanes a, lanes b) { return a.v + b.v; }
  friend lanes operator-(lanes a, lanes b) { return a.v - b.v; }
  friend lanes operator*(lanes a, lanes b) { return a.v * b.v; }
  friend lanes operator/(lanes a, lanes b) { return a.v / b.v; }
  friend lanes operator-(lanes a) { return -a.v; }
  lanes& operator+=(lanes b) { return v += b.v, *this; }
  lanes& operator-=(lanes b) { return v -= b.v, *this; }
  lanes& operator*=(lanes b) { return v *= b.v, *this; }
  friend lanes sqrt(lanes a) {
#if defined(__AVX__)
    if constexpr (std::is_same_v<T, float>)
      return __builtin_ia32_sqrtps256(a.v);
    else
      return __builtin_ia32_sqrtpd256(a.v);
#elif defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>)
      return __builtin_ia32_sqrtps(a.v);
    else
      return __builtin_ia32_sqrtpd(a.v);
#else
    for (std::size_t l = 0; l < size; ++l) a.v[l] = std::sqrt(a.v[l]);
    return a;
#endif
  }
};

// Under nvcc the rules are __host__ __device__ functions, and device code has no vector types: element-wise there.
#if defined(__CUDACC__)
inline constexpr bool lanes_available = false;
#else
inline constexpr bool lanes_available = true;
#endif
template <class Rule, class T>
concept lane_wise_rule = lanes_available &&(std::is_same_v<T, float> || std::is_same_v<T, double>)&&requires {
  requires Rule::lane_wise;
};

}  // namespace tg::optim
