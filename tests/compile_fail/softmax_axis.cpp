// Mistake: softmax along axis 3 of a rank-3 tensor.
// expect: axis_out_of_range<tg::op::softmax, tg::shape<2, 3, 4>, tg::axes<3>
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 2, 3, 4>>([](auto a) {
#ifdef TG_CORRECTED
    return tg::softmax<2>(a);
#else
    return tg::softmax<3>(a);
#endif
  });
  (void)p;
}
