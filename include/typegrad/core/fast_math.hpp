#pragma once
// Branch-free float approximations that compilers vectorise (std::tanh is a scalar libm call that blocks
// vectorisation of a fused loop). Double stays on libm: the gradient tests run in double.
#include "typegrad/core/config.hpp"

namespace tg::math {

// tanh x ~ x P(x^2) / Q(x^2) on [-c, c], the [13/6] rational minimax fit also used by Eigen; x is clamped to
// where float tanh rounds to +-1. Max error against double tanh: 6.1 float ulps (tests/core/test_fast_math).
TG_HD inline float tanh(float x) {
  constexpr float clamp = 7.90531110763549805f;
  x = x < -clamp ? -clamp : (x > clamp ? clamp : x);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

}  // namespace tg::math
