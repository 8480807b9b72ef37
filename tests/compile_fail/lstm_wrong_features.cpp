// Mistake: an LSTM over 8 features fed a sequence of 5 features.
// expect: layer_does_not_accept_input<tg::LSTM<8, 16>, tg::shape<4, 10, 5>
// expect: does not accept this input shape
#include <typegrad/typegrad.hpp>
int main() {
  tg::LSTM<8, 16> lstm;
#ifdef TG_CORRECTED
  auto p = tg::compile_inference<tg::Input<float, 4, 10, 8>>([&](auto x) { return lstm(x); });
#else
  auto p = tg::compile_inference<tg::Input<float, 4, 10, 5>>([&](auto x) { return lstm(x); });
#endif
  (void)p;
}
