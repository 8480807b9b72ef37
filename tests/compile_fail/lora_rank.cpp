// Mistake: a LoRA rank above min(In, Out): the adapter B A would not be low-rank (and A would have more rows than
// the layer has inputs).
// expect: tg::LoraLinear: the rank must be in \[1, min\(In, Out\)\]
#include <typegrad/layers/lora.hpp>

int main() {
#ifdef TG_CORRECTED
  tg::LoraLinear<16, 8, 8> adapted;
#else
  tg::LoraLinear<16, 8, 9> adapted;
#endif
  (void)adapted;
}
