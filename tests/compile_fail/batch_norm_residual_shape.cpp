// Mistake: a residual of another shape added to a BatchNorm's output (relu(bn(x) + r), a ResNet block's end): the
// error is the add's, naming both shapes, not the fused kernel's.
// expect: shapes_not_broadcastable<tg::op::add, tg::shape<4, 3, 5, 5>, tg::shape<4, 3, 5, 4>
// expect: cannot be broadcast together
#include <typegrad/typegrad.hpp>
int main() {
  tg::BatchNorm2d<3> bn;
#ifdef TG_CORRECTED
  using R = tg::Input<float, 4, 3, 5, 5>;
#else
  using R = tg::Input<float, 4, 3, 5, 4>;
#endif
  auto p = tg::compile_inference<tg::Input<float, 4, 3, 5, 5>, R>([&](auto x, auto r) { return tg::relu(bn(x) + r); });
  (void)p;
}
