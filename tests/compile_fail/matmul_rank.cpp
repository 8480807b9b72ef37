// Mistake: matmul of a vector (rank 1).
// expect: matmul_rank_unsupported<tg::op::matmul, tg::shape<5>, tg::shape<5, 3>
// expect: matmul takes 2-D x 2-D
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using A = tg::Input<float, 1, 5>;
#else
  using A = tg::Input<float, 5>;
#endif
  auto p = tg::compile_inference<A, tg::Input<float, 5, 3>>([](auto a, auto b) { return tg::matmul(a, b); });
  (void)p;
}
