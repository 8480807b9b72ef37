// Mistake: a bias sized for the input channels (3) instead of the output channels (16).
// expect: conv2d_bias_size<tg::op::conv2d, tg::shape<16, 3, 5, 5>, tg::shape<3>
// expect: bias has shape
#include <typegrad/typegrad.hpp>
int main() {
  tg::Parameter<float, 16, 3, 5, 5> w;
#ifdef TG_CORRECTED
  tg::Parameter<float, 16> b;
#else
  tg::Parameter<float, 3> b;
#endif
  auto p = tg::compile_inference<tg::Input<float, 2, 3, 12, 12>>([&](auto x) { return tg::conv2d(x, w, b); });
  (void)p;
}
