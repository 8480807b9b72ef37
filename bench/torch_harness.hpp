#pragma once
// One SGD-style step of a torch module for the bench harness: zero_grad, loss, backward, step (libtorch only).
#include <torch/torch.h>

#include <functional>

namespace tgbench {
template <class Loss>
std::function<void()> torch_step(torch::optim::Optimizer& opt, Loss loss, volatile float& sink) {
  return [&opt, loss, &sink] {
    opt.zero_grad();
    auto l = loss();
    l.backward();
    opt.step();
    sink = sink + l.template item<float>();
  };
}
}  // namespace tgbench
