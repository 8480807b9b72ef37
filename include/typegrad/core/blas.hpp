#pragma once
// Row-major GEMM with the shape in the type: C = op(A) op(B) + Beta C, op = identity or transpose.
//
// With libxsmm (TYPEGRAD_HAVE_LIBXSMM, set by the build when libxsmm-dev is found) each call site gets a
// kernel JIT-compiled for its exact m, n, k, leading dimensions and transposes, dispatched once. libxsmm
// 1.17 JIT-compiles column-major N x N and N x T only, i.e. row-major op(A) B; a row-major B^T operand is
// turned into that form in scratch: either B is transposed, or (C^T = B op(A)^T) A and the result are,
// whichever moves fewer elements. Shapes libxsmm declines, very large shapes, and builds without it use
// CBLAS (OpenBLAS).
// libxsmm's kernels run over k in chunks and over C in blocks of rows (core/xsmm_kernels.hpp).
// Past 64M multiply-adds libxsmm runs only where it emits AVX-512, and then over C in blocks of 128 rows (C's
// block stays in L2 across the k chunks). bench/gemm_large, one thread, Zen 5, GFLOP/s libxsmm vs OpenBLAS 0.3.21
// (its Haswell kernel): the GPT's 1024 x 768 x 256 223 vs 119, 1024 x 1024 x 256 169 vs 108, 2048^3 157 vs 114
// (74 over all rows at once). With libxsmm held to AVX2 (LIBXSMM_TARGET=hsw) OpenBLAS was faster there (1.29x at
// 1024 x 1024 x 256, 1.4-1.8x on the cubes), so AVX2 machines keep OpenBLAS past 64M.
#include <cblas.h>

#include <cstddef>
#include <type_traits>

#include "typegrad/core/config.hpp"
#include "typegrad/core/threads.hpp"
#include "typegrad/core/transpose.hpp"

#ifdef TYPEGRAD_HAVE_LIBXSMM
#include "typegrad/core/xsmm_kernels.hpp"
#endif

namespace tg::blas {

template <class T>
inline void cblas_gemm(bool trans_a, bool trans_b, int m, int n, int k, const T* a, int lda, const T* b, int ldb,
                       T beta, T* c, int ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

template <class T, bool TA, bool TB, int M, int N, int K, int LDA, int LDB, int LDC, int Beta>
struct gemm_kernel {
  static_assert(Beta == 0 || Beta == 1, "typegrad: gemm beta is 0 or 1");
  using value_type = T;
  static constexpr bool trans_a = TA, trans_b = TB;
  static constexpr int m = M, n = N, k = K, lda = LDA, ldb = LDB, ldc = LDC, beta = Beta;

  // With tg::set_num_threads(n > 1), a GEMM of at least parallel_macs multiply-adds is split by rows of C
  // (core/threads.hpp). C's rows go through the kernels in fixed blocks, whatever the thread count, and the
  // threads take whole blocks: libxsmm's AVX-512 kernels round a row of C differently with the height of the
  // block it is in (a 64 x 400 x 96 product split in two: 393 of its elements differed in the last bit), and
  // training must give the same weights on 1, 2 or 3 threads. Blocks of 32 rows cost one thread at most 2.6%
  // against one call for all of C on the MLP's shapes (16: 6%); large shapes run in blocks of 128 anyway.
  static constexpr double parallel_macs = 256.0 * 1024;
  static constexpr std::size_t rows_grain = 8;
  static constexpr bool splittable = double(M) * N * K >= parallel_macs && M >= 2 * rows_grain;
  static constexpr bool large = double(M) * N * K > 64.0 * 1024 * 1024;
  static constexpr int block_rows = 128;  // C's rows per kernel call for large shapes
  static constexpr int split_rows = 32;   // ... for shapes that may be split over threads
  static constexpr int rows_per_call(int m) { return large ? block_rows : splittable ? split_rows : m; }

#ifdef TYPEGRAD_HAVE_LIBXSMM
  // libxsmm's JIT kernels beat OpenBLAS on small and medium shapes everywhere, on large ones with AVX-512 (above)
  static constexpr bool use_xsmm = true;
  static bool xsmm_chosen() {
    if constexpr (large)
      return detail::xsmm_large_shapes();
    else
      return true;
  }
  static constexpr std::size_t a_t = TA ? 0 : std::size_t(M) * K;  // A^T, needed for C^T = B A^T
  static constexpr bool transpose_b = use_xsmm && TB && std::size_t(N) * K <= a_t + std::size_t(M) * N;
  static constexpr bool transpose_ac = use_xsmm && TB && !transpose_b;
  // Split over threads, each part transposes B itself where B^T fits 64 KB, rather than reading the calling
  // thread's B^T from the other core's cache. LeNet's first linear layer (64 x 50 x 320, B^T 62.5 KB; Intel 0xCF,
  // repeated calls with the same B, as in inference, where both cores hold B): 2 threads 34.9 -> 13.9 us a call, 1
  // thread 20.7 us. In a training step, where B was just updated, level within noise.
  // AVX2 builds: libxsmm's kernels run a row of C that is not a whole number of vectors at a fraction of their speed
  // (64 x N x 128, Intel 0xCF held to AVX2, us: N = 8 3.1, 10 9.3, 16 4.1, 1 3.5, 7 12.2; 64 x 50 x 320 39.5 against
  // 27.9 for 64 x 56 x 320), where AVX-512's mask the last vector (N = 1 to 16 all 1.5-1.8 us). Narrow products with B
  // transposed (a dense layer's y = x W^T, whose B^T is built in scratch anyway) run on B^T and C padded with zero
  // columns to whole vectors (np), C's rows copied in (Beta 1) and out.
  static constexpr int vector_lanes = host_vector_bytes == 32 ? int(32 / sizeof(T)) : 1;
  static constexpr int np = (N + vector_lanes - 1) / vector_lanes * vector_lanes;
  static constexpr bool pads_c = transpose_b && np != N && N < 64 && !large;
  static constexpr bool part_transposes_b = transpose_b && !pads_c && std::size_t(N) * K * sizeof(T) <= 64 * 1024;

  // the kernels depend on T only (shapes are run-time arguments): one instantiation for all of a program's GEMMs
  using xsmm = detail::xsmm_kernels<T>;
  using chunked = typename xsmm::chunked;
  using blocked = typename xsmm::blocked;

  // C^T = B A^T with A^T built one k chunk at a time ([kc, M] on the stack, in L1) by each part for its own rows
  // of C^T (ct_rows_by_chunks), where a chunk fits 32 KB and C^T, swept once per chunk, 256 KB (L2): nothing
  // transposed on the calling thread before a split and then read by the other threads. MLP's 64 x 256 x 784
  // (Intel 0xA7): 84 -> 66 us on 2 threads, 130 -> 123 us on one.
  static constexpr int a_chunk = xsmm::k_chunk(large ? block_rows : splittable ? split_rows : N, M, K, false);
  static constexpr bool a_by_chunks = transpose_ac && !TA && std::size_t(a_chunk) * M * sizeof(T) <= 32 * 1024 &&
                                      std::size_t(N) * M * sizeof(T) <= 256 * 1024;
  static constexpr std::size_t ct_offset = a_by_chunks ? 0 : a_t;  // C^T's place in scratch, after A^T if whole
  static constexpr std::size_t scratch_elements = pads_c         ? std::size_t(K + M) * np
                                                  : transpose_b  ? std::size_t(N) * K
                                                  : transpose_ac ? ct_offset + std::size_t(M) * N
                                                                 : 0;
#else
  static constexpr std::size_t scratch_elements = 0;
#endif

  static void run(const T* a, const T* b, T* c, T* scratch) {
    if constexpr (splittable) {
      if (tg::detail::parts_for(M, rows_grain) > 1) return run_split(a, b, c, scratch);
    }
    run_serial(a, b, c, scratch);
  }
  // f(r0, r1) for the pool's parts of [0, rows), each a run of whole blocks of rows_per_call(rows)
  template <class F>
  static void parallel_blocks(int rows, F&& f) {
    const int block = rows_per_call(rows);
    tg::detail::parallel_for(std::size_t(rows + block - 1) / block, 1, [&](std::size_t b0, std::size_t b1) {
      f(int(b0) * block, int(b1) * block < rows ? int(b1) * block : rows);
    });
  }

#ifdef TYPEGRAD_HAVE_LIBXSMM
  static const blocked& ct_kernel() {
    static const blocked kernel(N, rows_per_call(N), M, K, false, LDB, M, M, 0);
    return kernel;
  }
  // C^T's rows [n0, n1) (whole blocks of rows_per_call(N)), then C's columns [n0, n1) from them. Per element of
  // C^T, the same kernels add the same k chunks in the same order as over a whole A^T: the same bits.
  static void ct_rows_by_chunks(const T* a, const T* b, T* c, T* ct, int n0, int n1) {
    alignas(64) T at[std::size_t(a_chunk) * M];
    for (int k0 = 0; k0 < K; k0 += a_chunk) {
      if (k0 + a_chunk <= K)
        detail::transpose_rows<a_chunk>(a + k0, LDA, at, M, 0, M);
      else if constexpr (K % a_chunk != 0)
        detail::transpose_rows<K % a_chunk>(a + k0, LDA, at, M, 0, M);
      ct_kernel().chunk(k0, b, at, ct, n0, n1);
    }
    detail::transpose_rows<M, Beta == 1>(ct, M, c, LDC, n0, n1);  // C[:, n0:n1] (+)= C^T[n0:n1, :]^T
  }
  // B^T [K, np] at scratch, its columns past N zero; padded C [M, np] after it
  static void pad_b(const T* b, T* scratch) {
    detail::transpose<N, K>(b, LDB, scratch, np);
    for (std::size_t r = 0; r < std::size_t(K); ++r)
      for (int j = N; j < np; ++j) scratch[r * np + j] = T(0);
  }
  // rows [r0, r1) of C (r0 a block's start) by `kernel` (blocked over those rows, np columns) through the padded C,
  // B^T padded at scratch (pad_b)
  static void padded_rows(const blocked& kernel, const T* a, T* c, T* scratch, int r0, int r1) {
    T* cp = scratch + std::size_t(K) * np;
    if constexpr (Beta == 1)
      for (std::size_t r = std::size_t(r0); r < std::size_t(r1); ++r)
        for (int j = 0; j < np; ++j) cp[r * np + j] = j < N ? c[r * LDC + j] : T(0);
    kernel(TA ? a + r0 : a + std::size_t(r0) * LDA, scratch, cp + std::size_t(r0) * np);
    for (std::size_t r = std::size_t(r0); r < std::size_t(r1); ++r)
      for (int j = 0; j < N; ++j) c[r * LDC + j] = cp[r * np + j];
  }
#endif

  static void run_serial(const T* a, const T* b, T* c, [[maybe_unused]] T* scratch) {
#ifdef TYPEGRAD_HAVE_LIBXSMM
    if (!xsmm_chosen()) {
    } else if constexpr (!TB) {
      static const blocked kernel(M, rows_per_call(M), N, K, TA, LDA, LDB, LDC, Beta);
      if (kernel) return kernel(a, b, c);
    } else if constexpr (pads_c) {
      static const blocked kernel(M, rows_per_call(M), np, K, TA, LDA, np, np, Beta);
      if (kernel) {
        pad_b(b, scratch);
        return padded_rows(kernel, a, c, scratch, 0, M);
      }
    } else if constexpr (transpose_b) {
      static const blocked kernel(M, rows_per_call(M), N, K, TA, LDA, N, LDC, Beta);
      if (kernel) {
        detail::transpose<N, K>(b, LDB, scratch, N);  // B^T [K,N]
        return kernel(a, scratch, c);
      }
    } else if constexpr (transpose_ac) {
      // C^T[N,M] = B[N,K] op(A)^T, op(A)^T = A stored [K,M] when TA, else a transposed copy
      if constexpr (a_by_chunks) {
        if (ct_kernel()) return ct_rows_by_chunks(a, b, c, scratch, 0, N);
      }
      constexpr int lda_t = TA ? LDA : M;
      static const blocked kernel(N, rows_per_call(N), M, K, false, LDB, lda_t, M, 0);
      if (kernel) {
        T* ct = scratch + a_t;
        const T* at = a;
        if constexpr (!TA) {
          detail::transpose<M, K>(a, LDA, scratch, M);
          at = scratch;
        }
        kernel(b, at, ct);
        detail::transpose<N, M, Beta == 1>(ct, M, c, LDC);  // C (+)= C^T^T
        return;
      }
    }
#endif
    cblas_rows(a, b, c, 0, M);
  }
  // rows [r0, r1) of C (r0 a block's start) by CBLAS, one call per block of rows_per_call(M): OpenBLAS's kernels
  // round a row by the height of the call too (1024 x 768 x 256 in blocks of 128: 36,966 elements differed)
  static void cblas_rows(const T* a, const T* b, T* c, int r0, int r1) {
    for (int s = r0, step = rows_per_call(M); s < r1; s += step) {
      const int e = s + step < r1 ? s + step : r1;
      cblas_gemm<T>(TA, TB, e - s, N, K, TA ? a + s : a + std::size_t(s) * LDA, LDA, b, LDB, T(Beta),
                    c + std::size_t(s) * LDC, LDC);
    }
  }

  // rows [r0, r1) of C = op(A) op(B) + Beta C, with B^T already in bt ([K,N]) when given
  static void rows(const T* a, const T* b, const T* bt, T* c, int r0, int r1) {
    const T* ar = TA ? a + r0 : a + std::size_t(r0) * LDA;
    T* cr = c + std::size_t(r0) * LDC;
#ifdef TYPEGRAD_HAVE_LIBXSMM
    if (xsmm_chosen() && (!TB || bt)) {
      const blocked kernel(r1 - r0, rows_per_call(M), N, K, TA, LDA, bt ? N : LDB, LDC, Beta);  // r0: a block's start
      if (kernel) return kernel(ar, bt ? bt : b, cr);
    }
#endif
    (void)bt, (void)ar, (void)cr;
    cblas_rows(a, b, c, r0, r1);
  }

#ifdef TYPEGRAD_HAVE_LIBXSMM
  // rows [r0, r1) of C with B^T built in a stack buffer (a frame of its own: the calling thread's part never has it)
  [[gnu::noinline]] static void rows_transposing_b(const T* a, const T* b, T* c, int r0, int r1) {
    alignas(64) T bt[std::size_t(N) * K];
    detail::transpose<N, K>(b, LDB, bt, N);
    rows(a, b, bt, c, r0, r1);
  }
#endif

  static void run_split(const T* a, const T* b, T* c, [[maybe_unused]] T* scratch) {
#ifdef TYPEGRAD_HAVE_LIBXSMM
    if (!xsmm_chosen()) {
    } else if constexpr (part_transposes_b) {
      // B^T [K,N] in each part, then its rows: the first part (the calling thread's) into scratch, the others (the
      // pool's workers) on their own stacks
      return parallel_blocks(M, [&](int r0, int r1) {
        if (r0 > 0) return rows_transposing_b(a, b, c, r0, r1);
        detail::transpose<N, K>(b, LDB, scratch, N);
        rows(a, b, scratch, c, r0, r1);
      });
    } else if constexpr (pads_c) {
      pad_b(b, scratch);
      return parallel_blocks(M, [&](int r0, int r1) {
        const blocked kernel(r1 - r0, rows_per_call(M), np, K, TA, LDA, np, np, Beta);  // r0: a block's start
        if (!kernel) return cblas_rows(a, b, c, r0, r1);
        padded_rows(kernel, a, c, scratch, r0, r1);
      });
    } else if constexpr (transpose_b) {
      detail::transpose<N, K>(b, LDB, scratch, N);  // B^T [K,N], then rows as for an untransposed B
      return parallel_blocks(M, [&](int r0, int r1) { rows(a, b, scratch, c, r0, r1); });
    } else if constexpr (transpose_ac) {
      // C^T[N,M] = B[N,K] op(A)^T by blocks of rows of C^T; the part that computed rows [n0, n1) of C^T writes
      // columns [n0, n1) of C from them while they are in its cache (one parallel section, not two)
      constexpr int lda_t = TA ? LDA : M;
      // libxsmm declines by shape, and every part's kernels have the shapes of the whole's: all run or none
      static const bool accepted = bool(blocked(N, rows_per_call(N), M, K, false, LDB, lda_t, M, 0));
      if (!accepted) return run_serial(a, b, c, scratch);
      if constexpr (a_by_chunks)
        return parallel_blocks(N, [&](int n0, int n1) { ct_rows_by_chunks(a, b, c, scratch, n0, n1); });
      T* ct = scratch + a_t;
      const T* at = a;
      if constexpr (!TA) {
        // A^T on the calling thread (by chunks in the parts where the shape allows, above): split over the pool,
        // the 2-thread MLP step was slower (Intel: 406-429 -> 422-438 us, alternated)
        detail::transpose<M, K>(a, LDA, scratch, M);
        at = scratch;
      }
      return parallel_blocks(N, [&](int n0, int n1) {
        blocked(n1 - n0, rows_per_call(N), M, K, false, LDB, lda_t, M, 0)(b + n0 * LDB, at, ct + n0 * M);
        detail::transpose_rows<M, Beta == 1>(ct, M, c, LDC, n0, n1);  // C[:, n0:n1] (+)= C^T[n0:n1, :]^T
      });
    }
#endif
    parallel_blocks(M, [&](int r0, int r1) { rows(a, b, nullptr, c, r0, r1); });
  }
};

// C = op(A) op(B) + Beta C with the call's scratch (gemm_scratch<...> elements, may be 0)
template <class T, bool TA, bool TB, int M, int N, int K, int LDA, int LDB, int LDC, int Beta>
inline void gemm(const T* a, const T* b, T* c, T* scratch) {
  gemm_kernel<T, TA, TB, M, N, K, LDA, LDB, LDC, Beta>::run(a, b, c, scratch);
}

template <class T, bool TA, bool TB, int M, int N, int K, int LDA, int LDB, int LDC, int Beta>
inline constexpr std::size_t gemm_scratch = gemm_kernel<T, TA, TB, M, N, K, LDA, LDB, LDC, Beta>::scratch_elements;

// which GEMM library serves fixed-shape calls in this build
inline constexpr const char* gemm_library() {
#ifdef TYPEGRAD_HAVE_LIBXSMM
  return "libxsmm (per-shape JIT kernels) + OpenBLAS";
#else
  return "OpenBLAS";
#endif
}

}  // namespace tg::blas
