// Large GEMMs (past 64M multiply-adds, where core/blas.hpp chooses between libxsmm and OpenBLAS by the vector unit
// libxsmm targets), single thread, interleaved rounds: typegrad's fixed-shape gemm (what a program runs), OpenBLAS,
// and for untransposed B: libxsmm over C in row blocks, libxsmm over all of C at once, libxsmm in row blocks with the
// k chunks of narrow blocks (core/blas.hpp: within 16 KB rather than 512 KB). The cases are the GEMMs of a block of
// bench/compare's gpt_step as its program runs them: the forward's y = x W^T (B transposed: W is [out, in]), dX =
// dY W and dW = dY^T X (A transposed). LIBXSMM_TARGET=hsw holds libxsmm to AVX2 (then typegrad's gemm takes
// OpenBLAS for these shapes).
#include <typegrad/core/blas.hpp>

#include <cstdio>
#include <vector>

#include "flops.hpp"
#include "harness.hpp"

namespace {
template <bool TA, bool TB, int M, int N, int K>
void gemm_case(const char* name, const tgbench::Options& options) {
  if (!options.wanted(name)) return;
  constexpr int lda = TA ? M : K, ldb = TB ? K : N;
  using G = tg::blas::gemm_kernel<float, TA, TB, M, N, K, lda, ldb, N, 0>;
  std::vector<float> a(M * std::size_t(K)), b(K * std::size_t(N)), c(M * std::size_t(N)),
      scratch(tg::blas::gemm_scratch<float, TA, TB, M, N, K, lda, ldb, N, 0> + 1);
  tgbench::fill_random(a.data(), a.size(), 1, 1.0f);
  tgbench::fill_random(b.data(), b.size(), 2, 1.0f);
  std::vector<tgbench::Variant> variants = {
      {"typegrad",
       [&] { tg::blas::gemm<float, TA, TB, M, N, K, lda, ldb, N, 0>(a.data(), b.data(), c.data(), scratch.data()); }},
      {"openblas",
       [&] { tg::blas::cblas_gemm<float>(TA, TB, M, N, K, a.data(), lda, b.data(), ldb, 0.0f, c.data(), N); }}};
#ifdef TYPEGRAD_HAVE_LIBXSMM
  using X = typename G::xsmm;
  if constexpr (!TB) {  // libxsmm's own kernels take B untransposed only (core/blas.hpp)
    static const typename G::blocked blocked(M, G::block_rows, N, K, TA, lda, N, N, 0);
    static const typename G::blocked whole(M, M, N, K, TA, lda, N, N, 0);
    // row blocks with the k chunks of narrow blocks (B's chunk within 16 KB), which wide blocks took before
    static_assert(M % G::block_rows == 0, "gemm_large: whole blocks of rows");
    static const int kc_l1 = X::k_chunk(1, N, K, TA);
    static const typename G::chunked l1_chunks(G::block_rows, N, K, kc_l1, TA, lda, N, N, 0);
    if (blocked && whole && l1_chunks) {
      variants.push_back({"libxsmm_row_blocks", [&] { blocked(a.data(), b.data(), c.data()); }});
      variants.push_back({"libxsmm_unblocked", [&] { whole(a.data(), b.data(), c.data()); }});
      variants.push_back({"libxsmm_l1_chunks", [&] {
                            for (int r = 0; r < M; r += G::block_rows)
                              l1_chunks(a.data() + (TA ? std::size_t(r) : std::size_t(r) * lda), b.data(),
                                        c.data() + std::size_t(r) * N);
                          }});
    }
    std::printf("\n%s: k chunks of %d (row blocks), %d (narrow blocks' rule)\n", name,
                X::k_chunk(G::block_rows, N, K, TA), kc_l1);
  } else {
    std::printf("\n%s: B transposed into scratch, then k chunks of %d (row blocks)\n", name,
                X::k_chunk(G::block_rows, N, K, TA));
  }
#endif
  const double flop = 2.0 * M * N * K;
  tgbench::compare(name, variants, options.rounds, options.calls(std::size_t(2e9 / flop) + 1), flop);
}
}  // namespace

int main(int argc, char** argv) {
  tgbench::Options options;
  if (auto code = tgbench::parse(options, argc, argv, "large fixed-shape GEMMs: libxsmm vs OpenBLAS")) return *code;
  openblas_set_num_threads(1);  // one core for every variant
  const auto peak = tgbench::fma_peak_gflops();
  tgbench::peak_gflops() = peak.gflops;
  std::printf("machine: %s; single-core peak %.1f GFLOP/s (%s)\n", tgbench::cpu_model().c_str(), peak.gflops,
              peak.unit);
#ifdef TYPEGRAD_HAVE_LIBXSMM
  std::printf("libxsmm targets %s: shapes past 64M multiply-adds on %s\n", libxsmm_get_target_arch(),
              tg::blas::detail::xsmm_large_shapes() ? "libxsmm" : "OpenBLAS");
#endif
  // a block of the GPT of bench/compare's gpt_step (E 256, FFN 1024, 8 x 128 tokens): the in-projection, FFN up and
  // FFN down products as the step runs them; then cubes past L2
  gemm_case<false, true, 1024, 768, 256>("qkv_fwd_1024x768x256_bt", options);  // y = x W^T, W [768, 256]
  gemm_case<false, false, 1024, 256, 768>("qkv_dx_1024x256x768", options);     // dX = dY W
  gemm_case<true, false, 768, 256, 1024>("qkv_dw_768x256x1024_at", options);   // dW = dY^T X
  gemm_case<false, true, 1024, 1024, 256>("ffn_up_fwd_1024x1024x256_bt", options);
  gemm_case<false, false, 1024, 256, 1024>("ffn_up_dx_1024x256x1024", options);
  gemm_case<true, false, 1024, 256, 1024>("ffn_up_dw_1024x256x1024_at", options);
  gemm_case<false, true, 1024, 256, 1024>("ffn_down_fwd_1024x256x1024_bt", options);
  gemm_case<false, false, 1024, 1024, 256>("ffn_down_dx_1024x1024x256", options);
  gemm_case<true, false, 256, 1024, 1024>("ffn_down_dw_256x1024x1024_at", options);
  gemm_case<false, false, 1024, 1024, 1024>("cube_1024", options);
  gemm_case<false, false, 2048, 2048, 2048>("cube_2048", options);
}
