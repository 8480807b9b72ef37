// Mistake: slicing [2, 5) out of a dimension of size 4.
// expect: slice_out_of_bounds<tg::op::slice, tg::shape<3, 4>, tg::slice_range<1, 2, 5>
// expect: must lie inside the operand's dimension
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 3, 4>>([](auto a) {
#ifdef TG_CORRECTED
    return tg::slice<1, 2, 4>(a);
#else
    return tg::slice<1, 2, 5>(a);
#endif
  });
  (void)p;
}
