// Mistake: broadcasting [3] to [2, 4].
// expect: cannot_broadcast_to<tg::op::broadcast_to, tg::shape<3>, tg::shape<2, 4>
// expect: cannot be broadcast to the target shape
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 3>>([](auto a) {
#ifdef TG_CORRECTED
    return tg::broadcast_to<2, 3>(a);
#else
    return tg::broadcast_to<2, 4>(a);
#endif
  });
  (void)p;
}
