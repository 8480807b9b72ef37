// Mistake: a Sequential whose Linear<100, 10> follows a layer producing 128 features.
// expect: sequential_layers_do_not_fit<tg::layer_position<2>, tg::ReLU, tg::shape<64, 128>, tg::Linear<100, 10
// expect: does not accept the previous layer's output shape
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  tg::Sequential<tg::Linear<784, 128>, tg::ReLU, tg::Linear<128, 10>> net;
#else
  tg::Sequential<tg::Linear<784, 128>, tg::ReLU, tg::Linear<100, 10>> net;
#endif
  auto p = tg::compile_inference<tg::Input<float, 64, 784>>([&](auto x) { return net(x); });
  (void)p;
}
