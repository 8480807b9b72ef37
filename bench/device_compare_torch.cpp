// libtorch CUDA side of bench/device_compare (see device_compare_torch.hpp for why it is a separate C++ file).
#include "device_compare_torch.hpp"

#include <memory>
#include <torch/torch.h>

#include "classic_lenet.hpp"

namespace bench::torch_cuda {
namespace {

// a module, its optimizer and one batch on the GPU, stepped by the returned function
template <class Net>
std::function<float()> training_step(Net net, torch::optim::SGDOptions options, torch::Tensor x, torch::Tensor y,
                                     bool log_probabilities) {
  struct State {
    Net net;
    torch::optim::SGD opt;
    torch::Tensor x, y;
    bool log_probabilities;
    State(Net n, torch::optim::SGDOptions o, torch::Tensor bx, torch::Tensor by, bool lp)
        : net(std::move(n)), opt((net->to(torch::kCUDA), net->parameters()), o), x(bx.to(torch::kCUDA)),
          y(by.to(torch::kLong).to(torch::kCUDA)), log_probabilities(lp) {}
  };
  auto s = std::make_shared<State>(std::move(net), options, std::move(x), std::move(y), log_probabilities);
  return [s] {
    s->opt.zero_grad();
    auto out = s->net->forward(s->x);
    auto loss = s->log_probabilities ? torch::nll_loss(out, s->y) : torch::nn::functional::cross_entropy(out, s->y);
    loss.backward();
    s->opt.step();
    return loss.template item<float>();
  };
}

}  // namespace

bool available() { return torch::cuda::is_available(); }

std::function<float()> mlp_step(const float* x, const std::int32_t* labels, std::size_t batch) {
  const auto n = static_cast<long>(batch);
  torch::nn::Sequential net(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 128),
                            torch::nn::ReLU(), torch::nn::Linear(128, 10));
  return training_step(net, torch::optim::SGDOptions(0.01),
                       torch::from_blob(const_cast<float*>(x), {n, 784}, torch::kFloat).clone(),
                       torch::from_blob(const_cast<std::int32_t*>(labels), {n}, torch::kInt).clone(), false);
}

std::function<float()> lenet_step(const float* x, const std::int32_t* labels, std::size_t batch) {
  const auto n = static_cast<long>(batch);
  return training_step(std::make_shared<bench::TorchClassicLeNet>(), torch::optim::SGDOptions(0.01).momentum(0.9),
                       torch::from_blob(const_cast<float*>(x), {n, 1, 28, 28}, torch::kFloat).clone(),
                       torch::from_blob(const_cast<std::int32_t*>(labels), {n}, torch::kInt).clone(), true);
}

}  // namespace bench::torch_cuda
