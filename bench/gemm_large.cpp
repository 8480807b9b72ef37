// Large GEMMs (past 64M multiply-adds, where core/blas.hpp chooses between libxsmm and OpenBLAS by the vector unit
// libxsmm targets), single thread, interleaved rounds: typegrad's fixed-shape gemm (what a program runs), OpenBLAS,
// and for untransposed B: libxsmm over C in row blocks, libxsmm over all of C at once, libxsmm in row blocks with the
// k chunks of narrow blocks (core/blas.hpp: within 16 KB rather than 512 KB). The cases are the GEMMs of a block of
// bench/compare's gpt_step as its program runs them: the forward's y = x W^T (B transposed: W is [out, in]), dX =
// dY W and dW = dY^T X (A transposed). LIBXSMM_TARGET=hsw holds libxsmm to AVX2 (then typegrad's gemm takes
// OpenBLAS for these shapes).
#include <typegrad/core/blas.hpp>
#include <typegrad/core/host_memory.hpp>

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
  // A, B, C and the call's scratch in one buffer allocated as a program's workspace is (core/host_memory.hpp: on
  // transparent huge pages). On 4 KB pages libxsmm's kernels with A transposed (dW), which read A's rows M floats
  // apart, missed the TLB where a program does not: Intel 0xCF, `--rounds 9`, the two builds alternated three times,
  // GFLOP/s: FFN down's dW 112.4-115.6 on std::vector's pages -> 147.6-151.8 here, the in-projection's 123.9-137.3
  // -> 150.0-151.7 (OpenBLAS, which copies its operands into packed panels, 140.9-150.3 -> 143.8-150.8)
  constexpr std::size_t na = std::size_t(M) * K, nb = std::size_t(K) * N, nc = std::size_t(M) * N;
  constexpr std::size_t ns = tg::blas::gemm_scratch<float, TA, TB, M, N, K, lda, ldb, N, 0>;
  const auto padded = [](std::size_t n) { return (n + 15) / 16 * 16; };  // each part 64-byte aligned
  std::vector<float, tg::detail::buffer_allocator<float>> buffer(padded(na) + padded(nb) + padded(nc) + ns + 16);
  float* const a = buffer.data();
  float* const b = a + padded(na);
  float* const c = b + padded(nb);
  float* const scratch = c + padded(nc);
  tgbench::fill_random(a, na, 1, 1.0f);
  tgbench::fill_random(b, nb, 2, 1.0f);
  std::vector<tgbench::Variant> variants = {
      {"typegrad", [&] { tg::blas::gemm<float, TA, TB, M, N, K, lda, ldb, N, 0>(a, b, c, scratch); }},
      {"openblas", [&] { tg::blas::cblas_gemm<float>(TA, TB, M, N, K, a, lda, b, ldb, 0.0f, c, N); }}};
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
      variants.push_back({"libxsmm_row_blocks", [&] { blocked(a, b, c); }});
      variants.push_back({"libxsmm_unblocked", [&] { whole(a, b, c); }});
      variants.push_back({"libxsmm_l1_chunks", [&] {
                            for (int r = 0; r < M; r += G::block_rows)
                              l1_chunks(a + (TA ? std::size_t(r) : std::size_t(r) * lda), b, c + std::size_t(r) * N);
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
