// Mistake: a reshape that changes the number of elements (12 -> 10).
// expect: reshape_changes_element_count<tg::op::reshape, tg::shape<3, 4>, tg::shape<2, 5>
// expect: reshape must keep the number of elements
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 3, 4>>([](auto a) {
#ifdef TG_CORRECTED
    return tg::reshape<2, 6>(a);
#else
    return tg::reshape<2, 5>(a);
#endif
  });
  (void)p;
}
