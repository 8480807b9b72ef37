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

namespace tg {
using index_t = std::size_t;
inline constexpr std::size_t workspace_alignment = 64;  // one cache line / one AVX-512 vector
}  // namespace tg
