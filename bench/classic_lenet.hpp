#pragma once
// The classic MNIST LeNet, as a typegrad Sequential and (when libtorch is built in) as the same torch module:
// conv 1->10 k5, max-pool 2, relu, conv 10->20 k5, max-pool 2, relu, fc 320->50, relu, fc 50->10, log-softmax.
#include <typegrad/typegrad.hpp>

#ifdef TG_HAVE_TORCH
#include <torch/torch.h>
#endif

namespace bench {
using ClassicLeNet = tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>,
                                    tg::MaxPool2d<2>, tg::ReLU, tg::Flatten, tg::Linear<320, 50>, tg::ReLU,
                                    tg::Linear<50, 10>, tg::LogSoftmax<1>>;

#ifdef TG_HAVE_TORCH
struct TorchClassicLeNet : torch::nn::Module {
  torch::nn::Conv2d conv1{torch::nn::Conv2dOptions(1, 10, 5)}, conv2{torch::nn::Conv2dOptions(10, 20, 5)};
  torch::nn::Linear fc1{320, 50}, fc2{50, 10};
  TorchClassicLeNet() {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(torch::max_pool2d(conv1->forward(x), 2));
    x = torch::relu(torch::max_pool2d(conv2->forward(x), 2));
    x = torch::relu(fc1->forward(x.view({-1, 320})));
    return torch::log_softmax(fc2->forward(x), 1);
  }
};
#endif
}  // namespace bench
