// Mistake: concatenating along axis 1 tensors whose axis-0 sizes differ.
// expect: concat_shapes_differ<tg::op::concat, tg::shape<2, 3>, tg::shape<4, 3>
// expect: equal dims except along the axis
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  auto p = tg::compile_inference<tg::Input<float, 2, 3>, tg::Input<float, 4, 3>>([](auto a, auto b) { return tg::concat<0>(a, b); });
#else
  auto p = tg::compile_inference<tg::Input<float, 2, 3>, tg::Input<float, 4, 3>>([](auto a, auto b) { return tg::concat<1>(a, b); });
#endif
  (void)p;
}
