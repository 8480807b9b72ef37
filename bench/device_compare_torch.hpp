// libtorch CUDA twins of device_compare's cases, behind a plain interface: libtorch's headers are compiled by the
// host C++ compiler in device_compare_torch.cpp, never by nvcc (nvcc 13's front end cannot parse libtorch 1.13's
// headers in C++20: c10::IValue is incomplete where List.h instantiates std::vector<IValue>).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace bench::torch_cuda {

// whether libtorch was built with CUDA and sees a GPU
bool available();

// One training step per call on a batch copied to the GPU once; each returns the step's loss (synchronising).
//   mlp_step    784-256-128-10 ReLU, cross-entropy, SGD lr 0.01; x is batch x 784
//   lenet_step  bench::TorchClassicLeNet, nll_loss, SGD lr 0.01 momentum 0.9; x is batch x 1 x 28 x 28
std::function<float()> mlp_step(const float* x, const std::int32_t* labels, std::size_t batch);
std::function<float()> lenet_step(const float* x, const std::int32_t* labels, std::size_t batch);

}  // namespace bench::torch_cuda
