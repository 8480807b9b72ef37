// Mistake: a training step whose loss is a [4, 3] tensor, not a scalar.
// expect: loss_must_be_scalar<tg::op::training_step, tg::shape<4, 3>
// expect: needs a scalar loss
#include <typegrad/typegrad.hpp>
int main() {
  tg::Linear<5, 3> fc;
  auto step = tg::compile<tg::Input<float, 4, 5>>([&](auto x) {
#ifdef TG_CORRECTED
    return tg::mean(fc(x));
#else
    return fc(x);
#endif
  });
  (void)step;
}
