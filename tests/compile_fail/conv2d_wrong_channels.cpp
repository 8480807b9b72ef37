// Mistake: a Conv2d expecting 3 input channels fed a 1-channel image.
// expect: conv2d_channels_differ<tg::op::conv2d, tg::shape<8, 1, 28, 28>, tg::shape<6, 3, 5, 5>
// expect: the same C
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  tg::Conv2d<1, 6, 5> conv;
#else
  tg::Conv2d<3, 6, 5> conv;
#endif
  auto p = tg::compile_inference<tg::Input<float, 8, 1, 28, 28>>([&](auto x) { return conv(x); });
  (void)p;
}
