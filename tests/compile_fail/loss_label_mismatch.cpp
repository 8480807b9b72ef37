// Mistake: logits for 10 classes against labels declared with 5 classes.
// expect: loss_label_shape_mismatch<tg::op::cross_entropy, tg::shape<8, 10>, tg::shape<8, 5>
// expect: logits \[batch, classes\] and labels
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using Y = tg::Labels<8, 10>;
#else
  using Y = tg::Labels<8, 5>;
#endif
  auto step = tg::compile<tg::Input<float, 8, 10>, Y>([](auto x, auto y) { return tg::cross_entropy(x, y); });
  (void)step;
}
