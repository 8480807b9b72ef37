// Large GEMMs (past 64M multiply-adds, where core/blas.hpp chooses between libxsmm and OpenBLAS by the vector unit
// libxsmm targets), single thread, interleaved rounds: typegrad's fixed-shape gemm (what a program runs), libxsmm
// over C in row blocks, libxsmm over all of C at once, libxsmm in row blocks with the k chunks of narrow blocks
// (core/blas.hpp: within 16 KB rather than 512 KB), OpenBLAS. LIBXSMM_TARGET=hsw holds libxsmm to AVX2 (then
// typegrad's gemm takes OpenBLAS for these shapes).
#include <typegrad/core/blas.hpp>

#include <cstdio>
#include <vector>

#include "flops.hpp"
#include "harness.hpp"

namespace {
template <bool TA, int M, int N, int K>
void gemm_case(const char* name, const tgbench::Options& options) {
  if (!options.wanted(name)) return;
  constexpr int lda = TA ? M : K;
  using G = tg::blas::gemm_kernel<float, TA, false, M, N, K, lda, N, N, 0>;
  std::vector<float> a(M * std::size_t(K)), b(K * std::size_t(N)), c(M * std::size_t(N));
  tgbench::fill_random(a.data(), a.size(), 1, 1.0f);
  tgbench::fill_random(b.data(), b.size(), 2, 1.0f);
  std::vector<tgbench::Variant> variants = {
      {"typegrad",
       [&] { tg::blas::gemm<float, TA, false, M, N, K, lda, N, N, 0>(a.data(), b.data(), c.data(), nullptr); }},
      {"openblas",
       [&] { tg::blas::cblas_gemm<float>(TA, false, M, N, K, a.data(), lda, b.data(), N, 0.0f, c.data(), N); }}};
#ifdef TYPEGRAD_HAVE_LIBXSMM
  static const typename G::blocked blocked(M, G::block_rows, N, K, TA, lda, N, N, 0);
  static const typename G::blocked whole(M, M, N, K, TA, lda, N, N, 0);
  // row blocks with the k chunks of narrow blocks (B's chunk within 16 KB), which wide blocks took before
  static_assert(M % G::block_rows == 0, "gemm_large: whole blocks of rows");
  using X = typename G::xsmm;
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
  // the GPT of bench/compare's gpt_step (E 256, FFN 1024, 8 x 128 tokens): the QKV projection, the FFN's two
  // products, the QKV and FFN-down weight gradients (A transposed); then cubes past L2
  gemm_case<false, 1024, 768, 256>("qkv_1024x768x256", options);
  gemm_case<false, 1024, 1024, 256>("ffn_up_1024x1024x256", options);
  gemm_case<false, 1024, 256, 1024>("ffn_down_1024x256x1024", options);
  gemm_case<true, 256, 768, 1024>("qkv_dw_256x768x1024_at", options);
  gemm_case<true, 256, 1024, 1024>("ffn_down_dw_256x1024x1024_at", options);
  gemm_case<false, 1024, 1024, 1024>("cube_1024", options);
  gemm_case<false, 2048, 2048, 2048>("cube_2048", options);
}
