// Compiled (not run) with -O3 -fopt-info-vec-optimized by CTest: the fused element-wise region loop and
// a reduction over a fused region must be reported as vectorised loops.
#include "typegrad/typegrad.hpp"

tg::Parameter<float, 256> bias;
tg::Parameter<float, 256, 784> weight;

const float* dense_relu(const tg::Tensor<float, 64, 784>& x) {
  static auto p = tg::compile_inference<tg::Input<float, 64, 784>>(
      [](auto v) { return tg::relu(tg::matmul(v, tg::transpose(weight)) + bias) * 2.0f - 1.0f; });
  return p(x).data();
}

float fused_mean(const tg::Tensor<float, 64, 784>& x) {
  static auto p = tg::compile_inference<tg::Input<float, 64, 784>>([](auto v) { return tg::mean(v * v + 1.0f); });
  return p(x)[0];
}

// The float exp, sigmoid and tanh that fused regions call must vectorise by themselves (std::floor in exp
// once kept every sigmoid and softmax loop scalar while the relu region above still vectorised; a float `?:`
// in them kept them scalar on AVX2 machines, where GCC has no masks to if-convert it).
void activations(const float* __restrict x, float* __restrict y) {
  for (std::size_t i = 0; i < 1024; ++i)  // probe: activations
    y[i] = tg::op::sigmoid{}(x[i]) + tg::op::tanh{}(x[i]) + tg::math::exp(x[i]);
}

// A training step whose hidden region relu(x W^T + b) is materialised (the next matmul reads it): its
// backward pushes dy into b[j] by rows (row_index), which must vectorise like the forward loop.
tg::Parameter<float, 10, 256> head;
float dense_relu_step(const tg::Tensor<float, 64, 784>& x, const tg::Tensor<float, 64, 10>& target) {
  static auto p = tg::compile<tg::Input<float, 64, 784>, tg::Input<float, 64, 10>>([](auto v, auto t) {
    return tg::mse(tg::matmul(tg::relu(tg::matmul(v, tg::transpose(weight)) + bias), tg::transpose(head)), t);
  });
  return p(x, target);
}

// Attention's heads split from one projection: reshape(permute(reshape(slice(x W^T)))) is a region of index maps
// only, which runs by runs of a head's width (run_index): both its loops must vectorise.
tg::Parameter<float, 96, 64> projection;
float split_heads_step(const tg::Tensor<float, 8, 16, 64>& x) {
  static auto p = tg::compile<tg::Input<float, 8, 16, 64>>([](auto v) {
    auto qkv = tg::matmul(v, tg::transpose(projection));  // [8, 16, 96]
    auto head = [&]<std::size_t Begin>(std::integral_constant<std::size_t, Begin>) {
      return tg::reshape<16, 16, 16>(
          tg::permute<0, 2, 1, 3>(tg::reshape<8, 16, 2, 16>(tg::slice<2, Begin, Begin + 32>(qkv))));
    };
    return tg::sum(
        tg::matmul(head(std::integral_constant<std::size_t, 0>{}), head(std::integral_constant<std::size_t, 32>{})));
  });
  return p(x);
}
