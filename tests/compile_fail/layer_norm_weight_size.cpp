// Mistake: layer_norm weights sized for 32 features over an input with 64.
// expect: normalized_shape_mismatch<tg::op::layer_norm, tg::shape<8, 64>, tg::shape<32>
// expect: the input's last dimension
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  tg::Parameter<float, 64> gamma, beta;
#else
  tg::Parameter<float, 32> gamma, beta;
#endif
  auto p = tg::compile_inference<tg::Input<float, 8, 64>>([&](auto x) { return tg::layer_norm(x, gamma, beta); });
  (void)p;
}
