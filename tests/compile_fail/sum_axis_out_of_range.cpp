// Mistake: summing over axis 2 of a rank-2 tensor.
// expect: axis_out_of_range<tg::op::sum, tg::shape<2, 3>, tg::axes<2>
// expect: an axis is out of range
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 2, 3>>([](auto a) {
#ifdef TG_CORRECTED
    return tg::sum<1>(a);
#else
    return tg::sum<2>(a);
#endif
  });
  (void)p;
}
