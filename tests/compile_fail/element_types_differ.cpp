// Mistake: multiplying a float tensor by a double tensor.
// expect: element_types_differ<tg::op::mul, float, double
// expect: different element types
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using B = tg::Input<float, 4>;
#else
  using B = tg::Input<double, 4>;
#endif
  auto p = tg::compile_inference<tg::Input<float, 4>, B>([](auto a, auto b) { return a * b; });
  (void)p;
}
