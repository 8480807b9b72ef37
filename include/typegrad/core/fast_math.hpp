#pragma once
// Branch-free float approximations that compilers vectorise (std::tanh is a scalar libm call that blocks
// vectorisation of a fused loop). Double stays on libm: the gradient tests run in double.
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "typegrad/core/config.hpp"

namespace tg::math {

// c ? a : b for floats, built from the comparison's bits. GCC 12 does not if-convert a float `?:` whose
// condition may trap (-ftrapping-math, the default) on AVX2: without AVX-512's masks a loop holding one stays
// scalar ("control flow in loop"), so every exp, sigmoid and tanh loop on an AVX2 machine did. NaN-exact: a
// false comparison (NaN) picks b, as `?:` does.
TG_HD inline float select(bool c, float a, float b) {
#ifdef __CUDA_ARCH__
  return c ? a : b;
#else
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(a) & mask) | (std::bit_cast<std::uint32_t>(b) & ~mask));
#endif
}

// tanh x ~ x P(x^2) / Q(x^2) on [-c, c], the [13/6] rational minimax fit also used by Eigen; x is clamped to
// c = 7.905 (Eigen's bound), where the fit is within a few ulps of +-1 (exactly 1 without FMA contraction,
// 0.99999976 with it). Max error against double tanh: 6.1 float ulps (tests/core/test_fast_math).
TG_HD inline float tanh(float x) {
  constexpr float clamp = 7.90531110763549805f;
  x = select(x < -clamp, -clamp, select(x > clamp, clamp, x));
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

// e^x = 2^n e^r, n = round(x log2 e) (to nearest even), r = x - n ln 2 (ln 2 split in two for exactness), e^r by the
// Cephes degree-6 polynomial on [-ln2/2, ln2/2]; 2^n built in the exponent bits. Below -87.33 (where float leaves the
// normal range) it returns 0, above 88.72 infinity; NaN stays NaN. Max error: 0.95 ulps (test_fast_math).
inline constexpr float exp_hi = 88.72283935546875f, exp_lo = -87.33654022216796875f;
struct exp_parts {
  float er, n;  // e^r and n for xc in [exp_lo, exp_hi]
};
TG_HD inline exp_parts exp_reduced(float xc) {
  const float n = std::nearbyint(xc * 1.44269504088896341f);  // GCC 12 vectorises this, not floor(t + 0.5)
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return {p * r * r + r + 1.0f, n};
}
// 2^n for an integral n in [-126, 127], in the exponent bits
TG_HD inline float exp2_bits(float n) {
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
#ifdef __CUDA_ARCH__
  return __int_as_float(bits);
#else
  return std::bit_cast<float>(bits);
#endif
}
TG_HD inline float exp(float x) {
  const float xc = select(!(x <= exp_hi), exp_hi, select(x < exp_lo, exp_lo, x));  // NaN -> hi: no NaN to int
  const auto [er, n] = exp_reduced(xc);
  const float n1 = select(n > 127.0f, 127.0f, n);  // 2^n as two factors when n = 128
  const float y =
      select(x > exp_hi, __builtin_huge_valf(), select(x < exp_lo, 0.0f, er * (n - n1 + 1.0f) * exp2_bits(n1)));
  return select(x != x, x, y);
}
// e^x for x <= 0, the same bits as exp(x) there (-inf: 0, NaN: NaN) without exp's upper range: a softmax's x - max,
// GELU's -x^2 / 2. Four selects fewer per element: causal attention's forward and backward over the GPT's [8, 128,
// 768] 3.47 -> 3.15-3.24 ms (Intel 0xCF)
TG_HD inline float exp_nonpositive(float x) {
  const float xc = select(!(x >= exp_lo), exp_lo, x);  // NaN -> lo: no NaN to int
  const auto [er, n] = exp_reduced(xc);
  return select(x != x, x, select(x < exp_lo, 0.0f, er * exp2_bits(n)));
}

// [x > 0] as 1 or 0 built from the comparison's bits: compilers turn `g * (x > 0 ? 1 : 0)` into a branch,
// which mispredicts on the random sign patterns of activations
template <class T>
TG_HD inline T positive_step(T x) {
  if constexpr (std::is_same_v<T, float>) {
    const std::uint32_t mask = 0u - static_cast<std::uint32_t>(x > 0.0f);
#ifdef __CUDA_ARCH__
    return __uint_as_float(mask & 0x3f800000u);
#else
    return std::bit_cast<float>(mask & 0x3f800000u);
#endif
  } else {
    return x > T(0) ? T(1) : T(0);
  }
}

// libm for double (and anything else), the approximations above for float
template <class T>
TG_HD inline T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return math::exp(x);
  else
    return std::exp(x);
}
template <class T>
TG_HD inline T exp_nonpositive_of(T x) {  // x <= 0
  if constexpr (std::is_same_v<T, float>)
    return math::exp_nonpositive(x);
  else
    return std::exp(x);
}
template <class T>
TG_HD inline T tanh_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return math::tanh(x);
  else
    return std::tanh(x);
}
// c ? a : b that keeps a float loop vectorisable (select above); plain ?: for double
template <class T>
TG_HD inline T select_of(bool c, T a, T b) {
  if constexpr (std::is_same_v<T, float>)
    return math::select(c, a, b);
  else
    return c ? a : b;
}

}  // namespace tg::math
