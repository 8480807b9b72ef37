// Mistake: an adapter's up-projection for 32 outputs added to a 64-output base projection.
// expect: matmul_sum_products_differ<tg::op::matmul_sum, tg::shape<8, 64>, tg::shape<8, 32>
// expect: matmul_sum needs two products of the same shape
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using Up = tg::Input<float, 4, 64>;
#else
  using Up = tg::Input<float, 4, 32>;
#endif
  auto p = tg::compile_inference<tg::Input<float, 8, 16>, tg::Input<float, 16, 64>, tg::Input<float, 8, 4>, Up>(
      [](auto x, auto w, auto u, auto b) { return tg::matmul_sum(x, w, u, b); });
  (void)p;
}
