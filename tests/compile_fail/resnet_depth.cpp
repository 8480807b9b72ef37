// Mistake: a ResNet depth that is not 6 n + 2 (the CIFAR ResNets are 20, 32, 44, 56, ...).
// expect: Depth = 6 n \+ 2
#include <typegrad/typegrad.hpp>

int main() {
#ifdef TG_CORRECTED
  tg::ResNet<20, 1, 10> net;
#else
  tg::ResNet<18, 1, 10> net;
#endif
  (void)net;
}
