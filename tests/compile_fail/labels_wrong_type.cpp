// Mistake: passing a float tensor where class labels are expected.
// expect: labels_must_be_integer_class_indices<tg::op::cross_entropy, tg::InputLeaf<1, float, tg::shape<8>
// expect: labels must be a tg::Labels<batch, classes> input
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using Y = tg::Labels<8, 10>;
#else
  using Y = tg::Input<float, 8>;
#endif
  auto step = tg::compile<tg::Input<float, 8, 10>, Y>([](auto x, auto y) { return tg::cross_entropy(x, y); });
  (void)step;
}
