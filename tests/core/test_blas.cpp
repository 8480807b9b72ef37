// Every fixed-shape GEMM path (libxsmm N/T x N, B transposed into scratch, A and C transposed, CBLAS) against a
// naive product in long double, in float and double, with padded leading dimensions and beta 0 and 1.
#include <vector>

#include "support.hpp"

namespace {
template <class T, bool TA, bool TB, int M, int N, int K, int Beta>
void check_gemm() {
  constexpr int LDA = (TA ? M : K) + 3, LDB = (TB ? K : N) + 2, LDC = N + 1;
  using G = tg::blas::gemm_kernel<T, TA, TB, M, N, K, LDA, LDB, LDC, Beta>;
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> a((TA ? K : M) * LDA), b((TB ? N : K) * LDB), c(M * LDC), scratch(G::scratch_elements + 1);
  for (auto& v : a) v = T(u(tgtest::rng()));
  for (auto& v : b) v = T(u(tgtest::rng()));
  for (auto& v : c) v = T(u(tgtest::rng()));
  const std::vector<T> c0 = c;
  tg::blas::gemm<T, TA, TB, M, N, K, LDA, LDB, LDC, Beta>(a.data(), b.data(), c.data(), scratch.data());
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  double worst = 0;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      long double s = Beta ? c0[i * LDC + j] : 0;
      for (int k = 0; k < K; ++k)
        s += (long double)(TA ? a[k * LDA + i] : a[i * LDA + k]) * (TB ? b[j * LDB + k] : b[k * LDB + j]);
      worst = std::max(worst, double(std::abs(s - c[i * LDC + j])) / (1 + double(std::abs(s))));
    }
  INFO("TA " << TA << " TB " << TB << " " << M << "x" << N << "x" << K << " beta " << Beta << " scratch "
             << G::scratch_elements << " seed " << tgtest::run_seed());
  CHECK(worst < tol * K);
  // the padding between rows of C is not written
  for (int i = 0; i < M; ++i) CHECK(c[i * LDC + N] == c0[i * LDC + N]);
}

template <class T>
void check_all() {
  // square-ish: B^T is the smaller copy; wide B: A and C are
  check_gemm<T, false, false, 9, 17, 33, 0>();
  check_gemm<T, false, false, 9, 17, 33, 1>();
  check_gemm<T, true, false, 9, 17, 33, 1>();
  check_gemm<T, false, true, 9, 17, 33, 0>();
  check_gemm<T, false, true, 9, 17, 33, 1>();
  check_gemm<T, false, true, 4, 40, 50, 0>();
  check_gemm<T, false, true, 4, 40, 50, 1>();
  check_gemm<T, true, true, 9, 17, 33, 1>();
  check_gemm<T, true, true, 4, 40, 50, 1>();
  check_gemm<T, true, true, 4, 40, 50, 0>();
  // MLP shapes
  check_gemm<T, false, true, 64, 256, 784, 0>();
  check_gemm<T, true, false, 256, 784, 64, 1>();
  // k in chunks with a partial last one (libxsmm builds): 100 = 3 x 32 + 4 for n 300 floats
  check_gemm<T, false, false, 20, 300, 100, 0>();
  check_gemm<T, true, false, 20, 300, 100, 1>();
  check_gemm<T, false, true, 5, 300, 100, 1>();
  // a wide block (32 rows, n 768) in k chunks within 512 KB (AVX-512 builds): 2 x 136 and a partial last one of 128
  // (floats), 5 x 80 (doubles)
  check_gemm<T, false, false, 64, 768, 400, 1>();
  // C = A B^T with A^T built a k chunk at a time: 20 rows of C (A's rows end inside a register block), k 900 in
  // 4 chunks of 184 and a last one of 164
  check_gemm<T, false, true, 20, 64, 900, 0>();
  check_gemm<T, false, true, 20, 64, 900, 1>();
  // k below the smallest chunk with a wide n (LeNet's first dcols): one kernel over all of k
  check_gemm<T, true, false, 25, 576, 10, 0>();
  check_gemm<T, false, false, 3, 2000, 9, 1>();
  // B^T and C padded with zero columns to whole vectors (AVX2 builds: gemm_kernel::pads_c): rows of C of 10, 3 and 1
  // elements, A transposed
  check_gemm<T, false, true, 64, 10, 128, 0>();
  check_gemm<T, false, true, 64, 10, 128, 1>();
  check_gemm<T, false, true, 33, 3, 40, 1>();
  check_gemm<T, false, true, 40, 1, 24, 0>();
  check_gemm<T, true, true, 64, 10, 32, 1>();
}
}  // namespace

TEST_CASE("large gemms (past 64M multiply-adds) match a naive product: libxsmm by row blocks or OpenBLAS",
          "[integration]") {
  STATIC_REQUIRE(300.0 * 520 * 520 > 64.0 * 1024 * 1024);
#ifdef TYPEGRAD_HAVE_LIBXSMM
  using G = tg::blas::gemm_kernel<float, false, false, 300, 520, 520, 520, 520, 520, 0>;
  STATIC_REQUIRE(G::large);
  INFO("libxsmm targets " << libxsmm_get_target_arch() << ": large shapes on libxsmm " << G::xsmm_chosen());
#endif
  // 300 rows of C: two blocks of 128 and one of 44; B^T is the smaller copy for the first TB case, A^T and C^T
  // (C^T's 1100 rows in blocks) for the second
  check_gemm<float, false, false, 300, 520, 520, 0>();
  check_gemm<float, true, false, 300, 520, 520, 1>();
  check_gemm<float, false, true, 300, 520, 520, 1>();
  check_gemm<float, false, true, 140, 1100, 520, 0>();
}

TEST_CASE("fixed-shape gemm matches a naive product on every path", "[integration]") {
  INFO(tg::blas::gemm_library());
  check_all<float>();
  check_all<double>();
}

TEST_CASE("gemm scratch follows the cheaper transposition", "[integration]") {
#ifdef TYPEGRAD_HAVE_LIBXSMM
  // B^T would copy 17*33 = 561 elements, A^T and C^T 9*33 + 9*17 = 450: A and C are transposed
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 9, 17, 33, 33, 33, 17, 0>::transpose_ac);
  // ... and in AVX2 builds B^T [128, 16] and C [64, 16], padded to whole vectors (libxsmm's AVX2 kernels run rows of C
  // that are not at a fraction of their speed)
  constexpr bool avx2 = tg::host_vector_bytes == 32;
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 64, 10, 128, 128, 128, 10, 0>::pads_c == avx2);
  STATIC_REQUIRE(tg::blas::gemm_scratch<float, false, true, 64, 10, 128, 128, 128, 10, 0> ==
                 (avx2 ? (128 + 64) * 16 : 10 * 128));
  STATIC_REQUIRE(!tg::blas::gemm_kernel<float, false, true, 64, 16, 128, 128, 128, 16, 0>::pads_c);
  // A^T in k chunks on the stack (64 x 64 floats): only C^T in scratch
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 64, 256, 784, 784, 784, 256, 0>::a_by_chunks);
  STATIC_REQUIRE(tg::blas::gemm_scratch<float, false, true, 64, 256, 784, 784, 784, 256, 0> == 64 * 256);
  // C^T past 256 KB (its 64 x 2048 floats swept once per chunk): the whole A^T in scratch, then C^T
  STATIC_REQUIRE(!tg::blas::gemm_kernel<float, false, true, 64, 2048, 4096, 4096, 4096, 2048, 0>::transpose_b);
  STATIC_REQUIRE(!tg::blas::gemm_kernel<float, false, true, 64, 2048, 4096, 4096, 4096, 2048, 0>::a_by_chunks);
  // a chunk of A^T past 32 KB (300 rows: chunks of 32 x 300 floats): the whole A^T in scratch, then C^T
  STATIC_REQUIRE(!tg::blas::gemm_kernel<float, false, true, 300, 1024, 1024, 1024, 1024, 1024, 0>::a_by_chunks);
  STATIC_REQUIRE(tg::blas::gemm_scratch<float, false, true, 300, 1024, 1024, 1024, 1024, 1024, 0> ==
                 300 * 1024 + 300 * 1024);
  STATIC_REQUIRE(tg::blas::gemm_scratch<float, false, false, 64, 256, 784, 784, 256, 256, 0> == 0);
#else
  STATIC_REQUIRE(tg::blas::gemm_scratch<float, false, true, 64, 256, 784, 784, 784, 256, 0> == 0);
#endif
}

#ifdef TYPEGRAD_HAVE_LIBXSMM
TEST_CASE("long products run in k chunks that fit half of L1, or half of L2 in wide blocks, never longer than k",
          "[integration]") {
  using F = tg::blas::detail::xsmm_kernels<float>;
  using D = tg::blas::detail::xsmm_kernels<double>;
  // blocks of fewer than 64 rows of C with n < 512, or A transposed: kc x n within 16 KB
  STATIC_REQUIRE(F::k_chunk(32, 64, 784, false) == 64);   // 64 x 64 floats = 16 KB: 12 chunks of 64 and one of 16
  STATIC_REQUIRE(F::k_chunk(32, 64, 250, false) == 64);   // 3 x 64 + 58
  STATIC_REQUIRE(F::k_chunk(32, 16, 784, false) == 200);  // 256 fits: 4 chunks, evened out to 3 x 200 + 184
  STATIC_REQUIRE(F::k_chunk(32, 300, 100, false) == 32);  // 16 KB hold 13 rows: at least 32, 3 x 32 + 4
  STATIC_REQUIRE(D::k_chunk(32, 64, 784, false) == 32);
  STATIC_REQUIRE(F::k_chunk(16, 2000, 784, false) == 32);
  STATIC_REQUIRE(F::k_chunk(32, 256, 1024, true) == 32);  // A transposed, blocks of fewer than 64 rows
  STATIC_REQUIRE(F::k_chunk(32, 576, 10, false) == 10);   // never past k
  STATIC_REQUIRE(F::k_chunk(32, 64, 49, false) == 49);    // fits: one chunk
  STATIC_REQUIRE(F::k_chunk(32, 8, 300, false) == 300);
  STATIC_REQUIRE(F::k_chunk(32, 20, 900, false) == 184);  // 4 x 184 + 164
  // blocks of 64 rows or more, or of 32 rows and n >= 512, A untransposed: kc x n within 512 KB where the build
  // targets AVX-512, else 16 KB as above
  constexpr bool wide = F::wide_chunks;
  STATIC_REQUIRE(F::k_chunk(128, 256, 1024, false) == (wide ? 512 : 32));
  STATIC_REQUIRE(F::k_chunk(128, 256, 256, false) == (wide ? 256 : 32));  // fits: one chunk
  STATIC_REQUIRE(F::k_chunk(128, 768, 256, false) == (wide ? 128 : 32));  // 168 rows fit: 2 x 128
  STATIC_REQUIRE(F::k_chunk(128, 1024, 1024, false) == (wide ? 128 : 32));
  STATIC_REQUIRE(F::k_chunk(32, 768, 400, false) == (wide ? 136 : 32));  // 3 chunks: 2 x 136 + 128
  STATIC_REQUIRE(D::k_chunk(64, 256, 1024, false) == (wide ? 256 : 32));
  // A transposed, blocks of 64 rows or more: 16 KB as above, at least 64 where the build targets AVX-512 (measured on
  // huge pages: core/blas.hpp, min_chunk)
  STATIC_REQUIRE(F::k_chunk(128, 256, 1024, true) == (wide ? 64 : 32));
  STATIC_REQUIRE(F::k_chunk(128, 1024, 1024, true) == (wide ? 64 : 32));
  STATIC_REQUIRE(F::k_chunk(64, 256, 100, true) == (wide ? 56 : 32));  // evened out: 56 + 44, or 3 x 32 + 4
  STATIC_REQUIRE(F::k_chunk(128, 64, 1024, true) == 64);               // 64 x 64 floats fit 16 KB either way
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 20, 64, 900, 903, 902, 65, 0>::a_by_chunks);
  STATIC_REQUIRE(tg::blas::gemm_kernel<double, false, true, 20, 64, 900, 903, 902, 65, 0>::a_by_chunks);
}
#endif
