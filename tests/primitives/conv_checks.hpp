#pragma once
// Float and double convolutions against the definition, written out: values, dW and dx (the conv2d tests of
// test_nn_primitives_grad.cpp and test_conv2d_exact.cpp).
#include "support.hpp"

namespace tgtest {
// conv2d<S, P> of an [N, C, H, W] input and an [O, C, KH, KW] kernel against the definition, written out
template <std::size_t S, std::size_t P, std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O,
          std::size_t KH, std::size_t KW, class T = double>
void check_conv_values(double float_tolerance_given = 0.0) {  // a run-time tolerance: clang 14 has no double NTTPs
  constexpr std::size_t Ho = (H + 2 * P - KH) / S + 1, Wo = (W + 2 * P - KW) / S + 1;
  // float's rounding grows with the C kh kw terms of each sum (16 x 3 x 3: errors of 1.3e-5 on values near 0.3 seen)
  const double float_tolerance = !std::is_same_v<T, float>   ? 1e-12
                                 : float_tolerance_given > 0 ? float_tolerance_given
                                                             : std::max(1e-5, 1e-6 * C * KH * KW);
  auto x = random<T, N, C, H, W>();
  auto w = random<T, O, C, KH, KW>();
  auto p = tgtest::compile_inference<tg::Input<T, N, C, H, W>, tg::Input<T, O, C, KH, KW>>(
      [](auto a, auto b) { return tg::conv2d<S, P>(a, b); });
  auto y = p(x, w);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t i = 0; i < Ho; ++i)
        for (std::size_t j = 0; j < Wo; ++j) {
          double sum = 0;
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t a = 0; a < KH; ++a)
              for (std::size_t b = 0; b < KW; ++b) {
                const long r = long(i * S + a) - long(P), q = long(j * S + b) - long(P);
                if (r >= 0 && r < long(H) && q >= 0 && q < long(W))
                  sum += double(x(n, c, std::size_t(r), std::size_t(q))) * double(w(o, c, a, b));
              }
          CHECK(double(y(n, o, i, j)) == near(sum, float_tolerance));
        }
}

// dW of a float conv2d<1, P> against the definition: loss = sum(conv(x, w) * G), dW[o, c, a, b] = sum over n, i, j
// of G[n, o, i, j] x[n, c, i + a - P, j + b - P]
template <std::size_t P, std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K>
void check_float_conv_weight_grad(double tolerance = 1e-4) {
  constexpr std::size_t Ho = H + 2 * P - K + 1, Wo = W + 2 * P - K + 1;
  auto x = random<float, N, C, H, W>();
  auto w = random<float, O, C, K, K>();
  auto g = random<float, N, O, Ho, Wo>();
  const auto r = tg::value_and_grad([&](auto a) { return tg::sum(tg::conv2d<1, P>(x, a) * g); }, w);
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t a = 0; a < K; ++a)
        for (std::size_t b = 0; b < K; ++b) {
          double sum = 0;
          for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < Ho; ++i)
              for (std::size_t j = 0; j < Wo; ++j) {
                const long rr = long(i + a) - long(P), q = long(j + b) - long(P);
                if (rr >= 0 && rr < long(H) && q >= 0 && q < long(W))
                  sum += double(g(n, o, i, j)) * double(x(n, c, std::size_t(rr), std::size_t(q)));
              }
          CHECK(double(r.template grad<0>()(o, c, a, b)) == near(sum, tolerance));
        }
}

// The loss sum(conv(x, w, b) * G) of a float conv2d<1, P> with a bias, and its dW and db (db[o] = the sum of G[:, o])
// against the definition
template <std::size_t P, std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K>
void check_float_conv_bias(double tolerance = 1e-4) {
  constexpr std::size_t Ho = H + 2 * P - K + 1, Wo = W + 2 * P - K + 1;
  auto x = random<float, N, C, H, W>();
  auto w = random<float, O, C, K, K>();
  auto bias = random<float, O>();
  auto g = random<float, N, O, Ho, Wo>();
  const auto r =
      tg::value_and_grad([&](auto a, auto b) { return tg::sum(tg::conv2d<1, P>(x, a, b) * g); }, w, bias);
  const auto at = [&](std::size_t n, std::size_t c, long rr, long q) {  // x, 0 in the padding
    return rr >= 0 && rr < long(H) && q >= 0 && q < long(W) ? double(x(n, c, std::size_t(rr), std::size_t(q))) : 0.0;
  };
  double loss = 0, magnitude = 0;
  for (std::size_t o = 0; o < O; ++o) {
    double db = 0;
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t i = 0; i < Ho; ++i)
        for (std::size_t j = 0; j < Wo; ++j) {
          double y = bias[o];
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t a = 0; a < K; ++a)
              for (std::size_t b = 0; b < K; ++b)
                y += at(n, c, long(i + a) - long(P), long(j + b) - long(P)) * double(w(o, c, a, b));
          loss += y * double(g(n, o, i, j));
          magnitude += std::abs(y * double(g(n, o, i, j)));
          db += double(g(n, o, i, j));
        }
    CHECK(double(r.template grad<1>()[o]) == near(db, tolerance));
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t a = 0; a < K; ++a)
        for (std::size_t b = 0; b < K; ++b) {
          double sum = 0;
          for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < Ho; ++i)
              for (std::size_t j = 0; j < Wo; ++j)
                sum += double(g(n, o, i, j)) * at(n, c, long(i + a) - long(P), long(j + b) - long(P));
          CHECK(double(r.template grad<0>()(o, c, a, b)) == near(sum, tolerance));
        }
  }
  CHECK(std::abs(double(r.value) - loss) <= 1e-6 * magnitude);
}

// dx of a float conv2d<1, P>: loss = sum(conv(x, w) * G), dx[n, c, r, q] = sum over o, a, b of
// G[n, o, r - a + P, q - b + P] w[o, c, a, b] (outputs inside the grid only)
template <std::size_t P, std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K>
void check_float_conv_input_grad(double tolerance = 1e-4) {
  constexpr std::size_t Ho = H + 2 * P - K + 1, Wo = W + 2 * P - K + 1;
  auto x = random<float, N, C, H, W>();
  auto w = random<float, O, C, K, K>();
  auto g = random<float, N, O, Ho, Wo>();
  const auto r = tg::value_and_grad([&](auto a) { return tg::sum(tg::conv2d<1, P>(a, w) * g); }, x);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t rr = 0; rr < H; ++rr)
        for (std::size_t q = 0; q < W; ++q) {
          double sum = 0;
          for (std::size_t o = 0; o < O; ++o)
            for (std::size_t a = 0; a < K; ++a)
              for (std::size_t b = 0; b < K; ++b) {
                const long i = long(rr + P) - long(a), j = long(q + P) - long(b);
                if (i >= 0 && i < long(Ho) && j >= 0 && j < long(Wo))
                  sum += double(g(n, o, std::size_t(i), std::size_t(j))) * double(w(o, c, a, b));
              }
          CHECK(double(r.template grad<0>()(n, c, rr, q)) == near(sum, tolerance));
        }
}
}  // namespace tgtest
