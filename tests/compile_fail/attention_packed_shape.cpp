// Mistake: q, k and v packed as [2, 4, 12] (E = 4) split into 3 heads.
// expect: packed_attention_shape<tg::op::scaled_dot_product_attention, tg::shape<2, 4, 12>, 3, false>
// expect: E divisible by the number of heads
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 2, 4, 12>>([](auto qkv) {
#ifdef TG_CORRECTED
    return tg::scaled_dot_product_attention<2>(qkv);
#else
    return tg::scaled_dot_product_attention<3>(qkv);
#endif
  });
  (void)p;
}
