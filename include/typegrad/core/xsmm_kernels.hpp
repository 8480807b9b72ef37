#pragma once
// libxsmm's JIT kernels for the fixed-shape GEMMs of core/blas.hpp (gemm_kernel), shapes given at run time:
// dispatch, k chunks, and blocks of C's rows.
// libxsmm's kernels do no cache blocking: each block of C's columns streams the whole k x n operand. A long k is
// therefore run in chunks (beta 1 after the first) whose k x n part fits in half of L1: measured on Zen 3,
// 784-long products 56 -> 77-80 GFLOP/s (n 64), LeNet's 250-long 69 -> 86 (n 64). Blocks of C too wide or too
// tall for that (xsmm_kernels::wide_block) take chunks within 512 KB in AVX-512 builds: each chunk costs a pass
// over C's block.
#include <libxsmm.h>

#include <cstddef>
#include <type_traits>

namespace tg::blas::detail {
// whether shapes past 64M multiply-adds go to libxsmm: where its JIT emits AVX-512 (libxsmm's own CPU check, which
// LIBXSMM_TARGET overrides)
inline bool xsmm_large_shapes() {
  static const bool avx512 = libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512;
  return avx512;
}

// libxsmm's kernels for element type T, shapes given at run time
template <class T>
struct xsmm_kernels {
  // row-major C[m,n] = op(A) B + beta C, B stored [k,n]: column-major C^T = B^T op(A)^T; called kernel(B, A, C)
  static auto dispatch(int m, int n, int k, bool ta, int lda, int ldb, int ldc, int beta) {
    const libxsmm_blasint mm = n, nn = m, kk = k, la = ldb, lb = lda, lc = ldc;
    const int flags = ta ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    const T alpha = 1, b = T(beta);
    if constexpr (std::is_same_v<T, float>)
      return libxsmm_smmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &b, &flags, nullptr);
    else
      return libxsmm_dmmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &b, &flags, nullptr);
  }
  using xsmm_kernel = decltype(dispatch(1, 1, 1, false, 1, 1, 1, 0));
  // Blocks of at least 64 rows, or of 32 rows and 512 columns, with A untransposed: no k x n chunk of B fits L1, and
  // each chunk reads and writes the block of C once more; chunks within 512 KB (half of Zen 5's L2, a quarter of
  // Intel 0xCF's) ran faster. bench/gemm_large, Intel 0xCF, one thread, GFLOP/s, medians of three alternated runs, kc
  // 32 -> kc of 512 KB: the GPT's 1024 x 768 x 256 115 -> 131, 1024 x 1024 x 256 125 -> 134, 1024 x 256 x 1024 136 ->
  // 150; 1024^3 111 -> 130 (kc 1024, B's 4 MB whole: 54 in a grid over kc). A transposed (dW = dY^T X): kc 32 stayed
  // best in that grid (1024 x 256 x 1024 137 against 97 at kc 512; on 4 KB pages: min_chunk below). Measured on
  // AVX-512 machines only (L2 1-2 MB a core); AVX2 ones (Zen 1-3: 512 KB) keep 16 KB.
#ifdef __AVX512F__
  static constexpr bool wide_chunks = true;
#else
  static constexpr bool wide_chunks = false;
#endif
  static constexpr bool wide_block(int m, int n, bool ta) {
    return wide_chunks && !ta && m >= 32 && (m >= 64 || n >= 512);
  }
  // With A transposed, blocks of 64 rows or more take chunks of at least 64 in AVX-512 builds. 32 was measured best
  // with the operands on 4 KB pages, where these kernels' reads of A's rows, M floats apart, miss the TLB; on huge
  // pages, as a program's workspace is (core/host_memory.hpp), 64 ran faster. Intel 0xCF, one thread, GFLOP/s, kc 64
  // against 32 interleaved (bench/gemm_large: typegrad against libxsmm_l1_chunks, two runs): 768 x 256 x 1024 153.9 /
  // 154.2 against 150.6 / 151.2, 1024 x 256 x 1024 153.1 / 153.2 against 151.3 / 150.7, 256 x 1024 x 1024 153.3 /
  // 153.0 against 149.2 / 149.4; gpt_step's weight gradients, the builds alternated four times: 68.3-68.9 -> 66.9-67.3
  // ms a step. The sums keep their order (each chunk adds into C in k order): the same bits.
  static constexpr int min_chunk(int m, bool ta) { return wide_chunks && ta && m >= 64 ? 64 : 32; }
  // the k chunk for a block of m rows and n columns: kc x n elements within 16 KB (best measured: 48-96 for n 64
  // and 128), or within 512 KB for wide blocks (above), at least min_chunk, then evened out over the chunks (a
  // multiple of 8) so that no last chunk is a sliver
  static constexpr int k_chunk(int m, int n, int k, bool ta) {
    const int budget = wide_block(m, n, ta) ? 512 * 1024 : 16 * 1024, least = min_chunk(m, ta);
    const int fit = int(budget / sizeof(T)) / n / 8 * 8, kc = fit < least ? least : fit;
    if (kc >= k) return k;
    const int chunks = (k + kc - 1) / kc, even = ((k + chunks - 1) / chunks + 7) / 8 * 8;
    return even < k ? even : k;
  }
  // kernels for C = op(A) B + beta C over k in chunks: the first chunk's (beta), the next whole ones' and the
  // last partial one's (beta 1); null `first` when libxsmm declines any of them
  struct chunked {
    xsmm_kernel first = nullptr, rest = nullptr, tail = nullptr;
    int k = 0, kc = 0, lda = 0, ldb = 0;
    bool ta = false;
    chunked() = default;
    chunked(int m, int n, int k_, int kc_, bool ta_, int lda_, int ldb_, int ldc, int beta)
        : k(k_), kc(kc_), lda(lda_), ldb(ldb_), ta(ta_) {
      first = dispatch(m, n, kc, ta, lda, ldb, ldc, beta);
      if (k / kc > 1) rest = dispatch(m, n, kc, ta, lda, ldb, ldc, 1);
      if (k % kc) tail = dispatch(m, n, k % kc, ta, lda, ldb, ldc, 1);
      if ((k / kc > 1 && !rest) || (k % kc && !tail)) first = nullptr;
    }
    explicit operator bool() const { return first != nullptr; }
    // chunk [k0, k0 + kc) alone, its rows of B at b_rows: every chunk in order from k0 = 0 gives operator()'s C
    void chunk(int k0, const T* a, const T* b_rows, T* c) const {
      (k0 == 0 ? first : k0 + kc <= k ? rest : tail)(b_rows, a + (ta ? std::size_t(k0) * lda : k0), c);
    }
    // chunk [k0, k0 + kc): columns k0.. of A [m][k] (rows k0.. of A stored [k][m] when ta), rows k0.. of B
    void operator()(const T* a, const T* b, T* c) const {
      first(b, a, c);
      int k0 = kc;
      for (; k0 + kc <= k; k0 += kc) rest(b + std::size_t(k0) * ldb, a + (ta ? std::size_t(k0) * lda : k0), c);
      if (k0 < k) tail(b + std::size_t(k0) * ldb, a + (ta ? std::size_t(k0) * lda : k0), c);
    }
  };
  // C's m rows in blocks of at most `block` rows (the last one shorter), each block by chunked kernels; the k
  // chunk follows `block` alone, so a part's rows of C get the chunks of the whole's
  struct blocked {
    chunked body, last;
    int m = 0, block = 0, lda = 0, ldc = 0;
    bool ta = false;
    blocked(int m_, int block_, int n, int k, bool ta_, int lda_, int ldb, int ldc_, int beta)
        : body(m_ < block_ ? m_ : block_, n, k, k_chunk(block_, n, k, ta_), ta_, lda_, ldb, ldc_, beta),
          m(m_),
          block(m_ < block_ ? m_ : block_),
          lda(lda_),
          ldc(ldc_),
          ta(ta_) {
      if (m % block) last = chunked(m % block, n, k, k_chunk(block_, n, k, ta), ta, lda, ldb, ldc, beta);
    }
    explicit operator bool() const { return bool(body) && (m % block == 0 || bool(last)); }
    void operator()(const T* a, const T* b, T* c) const {
      int r0 = 0;
      for (; r0 + block <= m; r0 += block)
        body(a + (ta ? std::size_t(r0) : std::size_t(r0) * lda), b, c + std::size_t(r0) * ldc);
      if (r0 < m) last(a + (ta ? std::size_t(r0) : std::size_t(r0) * lda), b, c + std::size_t(r0) * ldc);
    }
    // chunk k0 of C's rows [r0, r1) (r0 a block's start), B's rows of the chunk at b_rows
    void chunk(int k0, const T* a, const T* b_rows, T* c, int r0, int r1) const {
      for (int r = r0; r < r1; r += block)
        (r + block <= m ? body : last)
            .chunk(k0, a + (ta ? std::size_t(r) : std::size_t(r) * lda), b_rows, c + std::size_t(r) * ldc);
    }
  };
};
}  // namespace tg::blas::detail
