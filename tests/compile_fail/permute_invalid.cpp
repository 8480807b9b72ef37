// Mistake: a permutation that repeats an axis.
// expect: not_a_permutation<tg::op::permute, tg::shape<2, 3, 4>, tg::axes<0, 0, 1>
// expect: each axis of the operand exactly once
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 2, 3, 4>>([](auto a) {
#ifdef TG_CORRECTED
    return tg::permute<0, 2, 1>(a);
#else
    return tg::permute<0, 0, 1>(a);
#endif
  });
  (void)p;
}
