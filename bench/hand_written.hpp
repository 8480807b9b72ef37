#pragma once
// bench/compare's hand-written variants: the same steps as typegrad's, written as plain loops (and, for the MLP,
// the same fixed-shape GEMM calls typegrad makes), so each ratio says what typegrad's abstraction costs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "harness.hpp"

namespace tgbench {

// mlp_step: 784-256-128-10 ReLU, batch 64, cross-entropy, SGD (weights from fill_random, biases 0)
// the same step written by hand: loops, and the GEMM library typegrad uses (tg::blas::gemm: libxsmm kernels
// dispatched per shape where installed, else OpenBLAS), through the same fixed-shape calls
struct HandMlp {
  static constexpr int B = 64, I = 784, H1 = 256, H2 = 128, O = 10;
  std::vector<float> w1 = std::vector<float>(H1 * I), b1 = std::vector<float>(H1), w2 = std::vector<float>(H2 * H1),
                     b2 = std::vector<float>(H2), w3 = std::vector<float>(O * H2), b3 = std::vector<float>(O);
  std::vector<float> h1 = std::vector<float>(B * H1), h2 = std::vector<float>(B * H2), z = std::vector<float>(B * O),
                     g1 = std::vector<float>(B * H1), g2 = std::vector<float>(B * H2), gz = std::vector<float>(B * O),
                     dw1 = std::vector<float>(H1 * I), dw2 = std::vector<float>(H2 * H1),
                     dw3 = std::vector<float>(O * H2), scratch = std::vector<float>(B * I + B * H1);
  HandMlp() {
    fill_random(w1.data(), w1.size(), 1);
    fill_random(w2.data(), w2.size(), 2);
    fill_random(w3.data(), w3.size(), 3);
  }
  // y = x W^T + b, optionally relu
  template <int In, int Out>
  void dense(const float* x, const float* w, const float* b, float* y, bool relu) {
    tg::blas::gemm<float, false, true, B, Out, In, In, In, Out, 0>(x, w, y, scratch.data());
    for (int r = 0; r < B; ++r)
      for (int c = 0; c < Out; ++c) {
        float v = y[r * Out + c] + b[c];
        y[r * Out + c] = relu && v < 0 ? 0 : v;
      }
  }
  // dW = g^T in, db, gin = (g W) * (act > 0)
  template <int Out, int In>
  void back(const float* g, const float* in, const float* w, float* dw, float* b, float* gin, const float* act,
            float lr) {
    tg::blas::gemm<float, true, false, Out, In, B, Out, In, In, 0>(g, in, dw, nullptr);
    if (gin) {
      tg::blas::gemm<float, false, false, B, In, Out, Out, In, In, 0>(g, w, gin, nullptr);
      for (int i = 0; i < B * In; ++i) gin[i] = act[i] > 0 ? gin[i] : 0;
    }
    for (int c = 0; c < Out; ++c) {
      float s = 0;
      for (int r = 0; r < B; ++r) s += g[r * Out + c];
      b[c] -= lr * s;
    }
  }
  float step(const float* x, const std::int32_t* y, float lr) {
    dense<I, H1>(x, w1.data(), b1.data(), h1.data(), true);
    dense<H1, H2>(h1.data(), w2.data(), b2.data(), h2.data(), true);
    dense<H2, O>(h2.data(), w3.data(), b3.data(), z.data(), false);
    float loss = 0;
    for (int r = 0; r < B; ++r) {  // softmax cross-entropy and its gradient
      float m = z[r * O];
      for (int c = 1; c < O; ++c) m = std::max(m, z[r * O + c]);
      float s = 0;
      for (int c = 0; c < O; ++c) s += std::exp(z[r * O + c] - m);
      loss += std::log(s) + m - z[r * O + y[r]];
      for (int c = 0; c < O; ++c) gz[r * O + c] = (std::exp(z[r * O + c] - m) / s - (c == y[r] ? 1.f : 0.f)) / B;
    }
    back<O, H2>(gz.data(), h2.data(), w3.data(), dw3.data(), b3.data(), g2.data(), h2.data(), lr);
    back<H2, H1>(g2.data(), h1.data(), w2.data(), dw2.data(), b2.data(), g1.data(), h1.data(), lr);
    back<H1, I>(g1.data(), x, w1.data(), dw1.data(), b1.data(), nullptr, nullptr, lr);
    for (std::size_t i = 0; i < w3.size(); ++i) w3[i] -= lr * dw3[i];
    for (std::size_t i = 0; i < w2.size(); ++i) w2[i] -= lr * dw2[i];
    for (std::size_t i = 0; i < w1.size(); ++i) w1[i] -= lr * dw1[i];
    return loss / B;
  }
};

// tiny_fwd / tiny_fwd_bwd: 16-32-32-4 tanh, batch 1
// fixed-size loops with the same vectorisable tanh (the best hand-written variant measured)
struct HandTiny {
  float w1[32][16], b1[32], w2[32][32], b2[32], w3[4][32], b3[4];
  float h1[32], h2[32], y[4];
  HandTiny() {
    fill_random(&w1[0][0], 32 * 16, 7);
    fill_random(&w2[0][0], 32 * 32, 8);
    fill_random(&w3[0][0], 4 * 32, 9);
    std::fill(b1, b1 + 32, 0.f);
    std::fill(b2, b2 + 32, 0.f);
    std::fill(b3, b3 + 4, 0.f);
  }
  void forward(const float* x) {
    for (int j = 0; j < 32; ++j) {
      float s = b1[j];
      for (int k = 0; k < 16; ++k) s += w1[j][k] * x[k];
      h1[j] = tg::math::tanh(s);
    }
    for (int j = 0; j < 32; ++j) {
      float s = b2[j];
      for (int k = 0; k < 32; ++k) s += w2[j][k] * h1[k];
      h2[j] = tg::math::tanh(s);
    }
    for (int j = 0; j < 4; ++j) {
      float s = b3[j];
      for (int k = 0; k < 32; ++k) s += w3[j][k] * h2[k];
      y[j] = s;
    }
  }
  // loss = sum(y^2)/2, gradients of all weights (no update: the cost of forward + backward)
  float gw1[32][16], gw2[32][32], gw3[4][32], g1[32], g2[32];
  float forward_backward(const float* x) {
    forward(x);
    float loss = 0;
    for (int j = 0; j < 4; ++j) loss += 0.5f * y[j] * y[j];
    for (int k = 0; k < 32; ++k) g2[k] = 0;
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 32; ++k) {
        gw3[j][k] = y[j] * h2[k];
        g2[k] += y[j] * w3[j][k];
      }
    for (int k = 0; k < 32; ++k) g2[k] *= 1 - h2[k] * h2[k];
    for (int k = 0; k < 32; ++k) g1[k] = 0;
    for (int j = 0; j < 32; ++j)
      for (int k = 0; k < 32; ++k) {
        gw2[j][k] = g2[j] * h1[k];
        g1[k] += g2[j] * w2[j][k];
      }
    for (int k = 0; k < 32; ++k) g1[k] *= 1 - h1[k] * h1[k];
    for (int j = 0; j < 32; ++j)
      for (int k = 0; k < 16; ++k) gw1[j][k] = g1[j] * x[k];
    return loss;
  }
};

}  // namespace tgbench
