#pragma once
// Transposes for the GEMMs of core/blas.hpp (a row-major B^T operand, or A and C, turned into libxsmm's form) and for
// the kernels that lay a matrix out the other way (convolutions' dy^T, attention's heads):
//   out[j, i] = in[i, j], or out[j, i] += in[i, j] (Add)
// Float blocks of 8 x 8 (16 x 16 with AVX-512) in registers, the rest in cache-sized tiles.
#include <type_traits>

namespace tg::blas::detail {

// out[j, i] = in[i, j] (+= when Add) for rows [i0, i1) and columns [j0, j1) of `in`, in cache-sized tiles
template <bool Add = false, class T>
inline void transpose_tiles(const T* __restrict in, int ldi, T* __restrict out, int ldo, int i0, int i1, int j0,
                            int j1) {
  constexpr int tile = 16;
  for (int ib = i0; ib < i1; ib += tile)
    for (int jb = j0; jb < j1; jb += tile) {
      const int ie = ib + tile < i1 ? ib + tile : i1, je = jb + tile < j1 ? jb + tile : j1;
      for (int j = jb; j < je; ++j)
        for (int i = ib; i < ie; ++i) out[j * ldo + i] = (Add ? out[j * ldo + i] : T(0)) + in[i * ldi + j];
    }
}

#if defined(__GNUC__) && !defined(__CUDACC__)
#define TYPEGRAD_REGISTER_TRANSPOSE 1
// an 8 x 8 float block in registers: pairs of rows interleaved, then pairs of pairs, then the 128-bit halves
// (unpcklps/unpckhps, shufps, vperm2f128 on AVX). Written with GCC/Clang vector extensions rather than
// <immintrin.h>, whose declarations cost ~70 MB of compiler memory in every translation unit. The
// element-wise loop above runs at ~2 floats/ns (strided stores); LeNet's dy transposes took 6% of its step.
using float8 = float __attribute__((vector_size(32)));
// as immintrin's __m256_u, aligned as a float: rows start at any float address. Spelled per compiler: clang ignores
// `aligned` on a using-declaration's type (it kept 32: misaligned loads, UBSan reports and crashes at -O3 in a clang
// build), and g++ 12 lost the typedef's alignment inside this template (UBSan: "requires 16 byte alignment").
#ifdef __clang__
typedef float float8_unaligned __attribute__((vector_size(32), aligned(4), may_alias));
#else
using float8_unaligned = float __attribute__((vector_size(32), aligned(4), may_alias));
#endif
template <bool Add = false>
inline void transpose8x8(const float* in, int ldi, float* out, int ldo) {
  float8 r[8], t[8];
  for (int k = 0; k < 8; ++k) r[k] = *reinterpret_cast<const float8_unaligned*>(in + k * ldi);
  for (int k = 0; k < 8; k += 2) {
    t[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 8, 1, 9, 4, 12, 5, 13);  // a0 b0 a1 b1 | a4 b4 a5 b5
    t[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int k = 0; k < 8; k += 4)
    for (int h = 0; h < 2; ++h) {
      r[k + 2 * h] = __builtin_shufflevector(t[k + h], t[k + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);  // a0 b0 c0 d0 | a4..
      r[k + 2 * h + 1] = __builtin_shufflevector(t[k + h], t[k + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int k = 0; k < 4; ++k) {
    t[k] = __builtin_shufflevector(r[k], r[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    t[k + 4] = __builtin_shufflevector(r[k], r[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
  for (int k = 0; k < 8; ++k) {
    auto& o = *reinterpret_cast<float8_unaligned*>(out + k * ldo);
    o = Add ? o + t[k] : t[k];
  }
}
#ifdef __AVX512F__
// a 16 x 16 float block in 64-byte registers, the same stages and one more (the 256-bit halves): 64 shuffles for 256
// values where 8 x 8 blocks take 96, and half the loads and stores
using float16 = float __attribute__((vector_size(64)));
#ifdef __clang__
typedef float float16_unaligned __attribute__((vector_size(64), aligned(4), may_alias));
#else
using float16_unaligned = float __attribute__((vector_size(64), aligned(4), may_alias));
#endif
template <bool Add = false>
inline void transpose16x16(const float* in, int ldi, float* out, int ldo) {
  float16 r[16], t[16];
  for (int k = 0; k < 16; ++k) r[k] = *reinterpret_cast<const float16_unaligned*>(in + k * ldi);
  for (int k = 0; k < 16; k += 2) {  // rows k, k + 1 interleaved within each 128-bit lane
    t[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
    t[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
  }
  for (int k = 0; k < 16; k += 4)  // pairs of pairs: 4 rows' element per 128-bit lane
    for (int h = 0; h < 2; ++h) {
      r[k + 2 * h] =
          __builtin_shufflevector(t[k + h], t[k + h + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
      r[k + 2 * h + 1] =
          __builtin_shufflevector(t[k + h], t[k + h + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
  for (int k = 0; k < 16; k += 8)  // 128-bit lanes of rows k.. and k + 4..: 8 rows' element per 256-bit half
    for (int h = 0; h < 4; ++h) {
      t[k + h] =
          __builtin_shufflevector(r[k + h], r[k + h + 4], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
      t[k + h + 4] =
          __builtin_shufflevector(r[k + h], r[k + h + 4], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    }
  for (int h = 0; h < 8; ++h) {  // 256-bit halves of rows h and h + 8
    r[h] = __builtin_shufflevector(t[h], t[h + 8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    r[h + 8] = __builtin_shufflevector(t[h], t[h + 8], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int k = 0; k < 16; ++k) {
    auto& o = *reinterpret_cast<float16_unaligned*>(out + k * ldo);
    o = Add ? o + r[k] : r[k];
  }
}
#endif
#endif

// out[j, i] = in[i, j] (+= when Add) for rows [i0, i1) and the first C columns of `in`
template <int C, bool Add = false, class T>
inline void transpose_rows(const T* __restrict in, int ldi, T* __restrict out, int ldo, int i0, int i1) {
  int r8 = i0, c8 = 0;
#ifdef TYPEGRAD_REGISTER_TRANSPOSE
  if constexpr (std::is_same_v<T, float>) {
    r8 = i0 + (i1 - i0) / 8 * 8, c8 = C / 8 * 8;
    int r16 = i0, c16 = 0;  // 16 x 16 blocks first with AVX-512, then 8 x 8 ones right of them and below
#ifdef __AVX512F__
    r16 = i0 + (i1 - i0) / 16 * 16, c16 = C / 16 * 16;
    for (int i = i0; i < r16; i += 16)
      for (int j = 0; j < c16; j += 16) transpose16x16<Add>(in + i * ldi + j, ldi, out + j * ldo + i, ldo);
#endif
    for (int i = i0; i < r8; i += 8)
      for (int j = i < r16 ? c16 : 0; j < c8; j += 8) transpose8x8<Add>(in + i * ldi + j, ldi, out + j * ldo + i, ldo);
  }
#endif
  transpose_tiles<Add>(in, ldi, out, ldo, i0, r8, c8, C);  // the columns right of the blocks
  transpose_tiles<Add>(in, ldi, out, ldo, r8, i1, 0, C);   // the rows below them
}
// out[j, i] = in[i, j] (+= when Add) for an R x C block of `in`
template <int R, int C, bool Add = false, class T>
inline void transpose(const T* __restrict in, int ldi, T* __restrict out, int ldo) {
  transpose_rows<C, Add>(in, ldi, out, ldo, 0, R);
}
}  // namespace tg::blas::detail
