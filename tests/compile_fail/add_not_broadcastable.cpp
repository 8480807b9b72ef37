// Mistake: adding [3, 4] and [3] (trailing dims 4 and 3 differ).
// expect: shapes_not_broadcastable<tg::op::add, tg::shape<3, 4>, tg::shape<3>
// expect: cannot be broadcast together
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using B = tg::Input<float, 4>;
#else
  using B = tg::Input<float, 3>;
#endif
  auto p = tg::compile_inference<tg::Input<float, 3, 4>, B>([](auto a, auto b) { return a + b; });
  (void)p;
}
