// Mistake: a Linear<784, 256> layer fed 100 features: the error names both shapes (the weight is [256, 784]).
// expect: matmul_inner_dims_differ<tg::op::matmul, tg::shape<64, 100>, tg::shape<784, 256>
#include <typegrad/typegrad.hpp>
int main() {
  tg::Linear<784, 256> fc;
#ifdef TG_CORRECTED
  auto p = tg::compile_inference<tg::Input<float, 64, 784>>([&](auto x) { return fc(x); });
#else
  auto p = tg::compile_inference<tg::Input<float, 64, 100>>([&](auto x) { return fc(x); });
#endif
  (void)p;
}
