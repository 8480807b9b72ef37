// The register-block transposes (core/transpose.hpp) against the definition: 8 x 8 blocks, 16 x 16 with AVX-512, their
// ragged edges, padded leading dimensions, and the adding form. Built twice: as every test, and for the machine's
// vector unit (-march=native, "native: "), where the 16 x 16 blocks run; and compiled by clang (the load types'
// alignment).
#include <vector>

#include "support.hpp"

namespace {
// out = in^T, or out += in^T (Add) over out's previous -7
template <int R, int C, bool Add = false>
void check_transpose() {
  constexpr int ldi = C + 3, ldo = R + 5;
  std::vector<float> in(R * ldi), out(C * ldo, -7.0f);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i);
  tg::blas::detail::transpose<R, C, Add>(in.data(), ldi, out.data(), ldo);
  INFO(R << " x " << C << (Add ? ", added" : ""));
  for (int j = 0; j < C; ++j) {
    for (int i = 0; i < R; ++i) CHECK(out[j * ldo + i] == in[i * ldi + j] + (Add ? -7.0f : 0.0f));
    for (int i = R; i < ldo; ++i) CHECK(out[j * ldo + i] == -7.0f);  // padding between rows of out untouched
  }
}

#ifdef TYPEGRAD_REGISTER_TRANSPOSE
// The block's rows are loaded at any float address: its load type is aligned as a float under every compiler
// (static.clang_compiles_test_transpose checks clang, which kept 32 for a using-declaration)
static_assert(alignof(tg::blas::detail::float8_unaligned) == alignof(float));
#ifdef __AVX512F__
static_assert(alignof(tg::blas::detail::float16_unaligned) == alignof(float));
#endif
#endif
}  // namespace

TEST_CASE("transpose: 8 x 8 register blocks and their ragged edges", "[integration]") {
  check_transpose<8, 8>();
  check_transpose<16, 24>();
  check_transpose<10, 20>();  // two rows and four columns past the blocks
  check_transpose<3, 5>();    // no whole block
  check_transpose<9, 17>();
  check_transpose<16, 24, true>();  // the shifted convolution adds its dx^T into dx
  check_transpose<10, 20, true>();
  // with AVX-512, 16 x 16 blocks first, then 8 x 8 ones right of them and below, then the ragged edges
  check_transpose<16, 16>();
  check_transpose<49, 64>();  // a 64-channel Winograd image's output: 3 rows of 16-blocks, one row past them
  check_transpose<40, 40>();  // 8 x 8 blocks right of and below the 16 x 16 ones, then 0 rows and columns past them
  check_transpose<37, 45, true>();
}
