#pragma once
// Portability macros shared by the host and the Thrust/CUDA backend.
#include <cstddef>

#if defined(__CUDACC__)
#define TG_HD __host__ __device__
#else
#define TG_HD
#endif

#if defined(__GNUC__)
#define TG_INLINE inline __attribute__((always_inline))
#define TG_RESTRICT __restrict__
#else
#define TG_INLINE inline
#define TG_RESTRICT
#endif

// A loop over the lanes of partial sums (one vector) stays a loop for GCC's loop vectoriser: fully unrolled first
// where its body is small, GCC 12's SLP pass made shuffle-heavy code of it (BatchNorm's backward pass without
// relu, 7 x 7 x 64: 245 -> 68 us; with relu 76)
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define TG_LANES_LOOP _Pragma("GCC unroll 1")
#else
#define TG_LANES_LOOP
#endif

// A loop whose iterations write no memory another iteration reads (a kernel's adjoint buffers are distinct
// from its inputs and from each other): GCC otherwise keeps a loop scalar that writes a parameter's adjoint and
// reads the node's (LayerNorm's backward pass, dgamma[k] += g[k] xhat[k])
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define TG_IVDEP _Pragma("GCC ivdep")
#else
#define TG_IVDEP
#endif

#include <bit>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace tg {
// A constant kept inside an expression node (a scalar operand, an activation's slope). It is stored as
// integer bits: a float store into a tensor then provably does not modify it (type-based alias
// analysis), so loops keep it in a register and vectorise.
template <class T>
struct constant {
  using bits_type = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  bits_type bits = 0;
  constexpr constant() = default;
  constexpr constant(T v) : bits(__builtin_bit_cast(bits_type, v)) {}
  TG_HD constexpr operator T() const { return __builtin_bit_cast(T, bits); }
};

using index_t = std::size_t;
inline constexpr std::size_t workspace_alignment = 64;  // one cache line / one AVX-512 vector
// The widest vector the build targets (-march): host kernels written in GCC vector types size their blocks by it.
// A vector type wider than the target is split by the compiler, and its lane shuffles then go through memory.
#if defined(__AVX512F__)
inline constexpr std::size_t host_vector_bytes = 64;
#elif defined(__AVX__)
inline constexpr std::size_t host_vector_bytes = 32;
#else
inline constexpr std::size_t host_vector_bytes = 16;
#endif

namespace detail {
// f(integral_constant i) for i < N, unrolled at compile time (kernels' short fixed loops: Winograd's transforms,
// col2im's kernel columns)
template <std::size_t N, class F>
TG_INLINE void unrolled(F&& f) {
  [&]<std::size_t... i>(std::index_sequence<i...>) { (f(std::integral_constant<std::size_t, i>{}), ...); }
  (std::make_index_sequence<N>{});
}
}  // namespace detail
}  // namespace tg
