// Mistake: calling a step compiled for batch 64 with a batch of 32.
// expect: argument_shape_mismatch<tg::InputSpec<float, tg::shape<64, 784>, false>, tg::shape<64, 784>, tg::shape<32, 784>
// expect: differs from the one it was compiled for
#include <typegrad/typegrad.hpp>
int main() {
  tg::Linear<784, 10> fc;
  auto p = tg::compile_inference<tg::Input<float, 64, 784>>([&](auto x) { return fc(x); });
#ifdef TG_CORRECTED
  tg::Tensor<float, 64, 784> x;
#else
  tg::Tensor<float, 32, 784> x;
#endif
  p(x);
}
