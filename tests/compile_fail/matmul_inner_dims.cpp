// Mistake: the inner dimensions of a matmul differ (784 vs 256).
// expect: matmul_inner_dims_differ<tg::op::matmul, tg::shape<64, 784>, tg::shape<256, 128>
// expect: the inner dimensions K differ
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  auto p = tg::compile_inference<tg::Input<float, 64, 784>, tg::Input<float, 784, 128>>(
#else
  auto p = tg::compile_inference<tg::Input<float, 64, 784>, tg::Input<float, 256, 128>>(
#endif
      [](auto x, auto w) { return tg::matmul(x, w); });
  (void)p;
}
