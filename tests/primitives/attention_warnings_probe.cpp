// Built (not run) with -O3 -march=native -Wall -Wextra -Werror, as benchmarks build the library: a causal
// scaled_dot_product_attention training step at L 256, whose blocks of 32 query rows reach 32, 64, 96, ... keys. Here
// g++ 12 warned "iteration 288230376151711744 invokes undefined behavior [-Waggressive-loop-optimizations]" (no
// location) in row_max's loop for the rows of 96 keys while that loop ran k0 += 16 up to its bound
// (core/row_sums.hpp): with -Werror, a user's build failed (L 256, 640, 768, 1024 among the lengths tried). The
// warning depends on the surroundings (the same step inside a Catch2 test did not draw it), so this is the program
// that did.
#include <algorithm>
#include <typegrad/typegrad.hpp>

float attention_warnings_probe() {
  constexpr std::size_t L = 256;
  static tg::Tensor<float, 2, L, 768> x;
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float((i * 7919) % 1000) / 1000.0f - 0.5f;
  auto step = tg::compile<tg::Variable<float, 2, L, 768>>([](auto q) {
    auto a = tg::scaled_dot_product_attention<8, true>(q);
    return tg::sum(a * a);
  });
  float s = 0;
  for (int r = 0; r < 11; ++r) s += step(x);
  return s;
}
