// Mistake: a 2x2 max-pooling over a feature map that has already shrunk to 1x1.
// expect: window_does_not_fit<tg::op::max_pool2d, tg::shape<4, 8, 1, 1>, tg::pool_geometry<2, 2>
// expect: does not fit the input's height or width
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using X = tg::Input<float, 4, 8, 2, 2>;
#else
  using X = tg::Input<float, 4, 8, 1, 1>;
#endif
  auto p = tg::compile_inference<X>([](auto x) { return tg::max_pool2d<2>(x); });
  (void)p;
}
