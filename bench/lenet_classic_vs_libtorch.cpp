// The classic LeNet recipe (batch 64, SGD lr 0.01 momentum 0.5, 1 epoch) trained by typegrad and by libtorch
// on the same Fashion-MNIST batches (same normalisation, same shuffled order) from the same initial weights;
// prints both test accuracies per seed and their mean.   lenet_classic_vs_libtorch [--seeds N] [--epochs E]
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <typegrad/data/batches.hpp>
#include <typegrad/train/evaluate.hpp>
#include <typegrad/typegrad.hpp>

#include "classic_lenet.hpp"

#include <cstdio>

namespace {
constexpr std::size_t B = 64, E = 1000;
using LeNet = bench::ClassicLeNet;
using Batches = tg::data::ImageBatches<B, 1, 28, 28>;

using TorchNet = bench::TorchClassicLeNet;

// copies torch's initial weights into the typegrad model, in parameter order (names match: 0.weight = conv1 ...)
void copy_weights(TorchNet& t, LeNet& net) {
  std::vector<torch::Tensor> ps;
  for (auto& p : t.parameters()) ps.push_back(p);
  std::size_t k = 0;
  tg::for_each_parameter(net, [&](const std::string&, auto& p) {
    auto c = ps.at(k++).detach().contiguous();
    std::memcpy(p.data(), c.data_ptr<float>(), p.size() * sizeof(float));
  });
}
}  // namespace

int main(int argc, char** argv) {
  int seeds = 3, epochs = 1;
  std::string data = tg::data::fashion_mnist_dir;
  CLI::App app("classic LeNet: typegrad vs libtorch on identical batches");
  app.add_option("--seeds", seeds);
  app.add_option("--epochs", epochs);
  app.add_option("--data", data);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);
  const auto train = tg::data::read_mnist_split(data, "train");
  const auto test = tg::data::read_mnist_split(data, "t10k");
  tg::data::ImageBatches<E, 1, 28, 28> test_batches(test, 0.2860f, 0.3530f, 0);
  double sum_tg = 0, sum_torch = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    torch::manual_seed(seed);
    TorchNet tnet;
    LeNet net;
    copy_weights(tnet, net);
    auto step = tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
        [&](auto x, auto y) { return tg::nll_loss(net(x), y); });
    auto opt = tg::optim::make(step, tg::optim::Momentum{0.5}, tg::sched::Constant{0.01});
    torch::optim::SGD topt(tnet.parameters(), torch::optim::SGDOptions(0.01).momentum(0.5));
    Batches batches(train, 0.2860f, 0.3530f, std::uint64_t(seed));
    Batches::images_type x;
    Batches::labels_type y;
    for (int e = 0; e < epochs; ++e)
      while (batches.next(x, y)) {
        step(x, y);
        opt.update(step);
        auto tx = torch::from_blob(x.data(), {long(B), 1, 28, 28}, torch::kFloat);
        auto ty = torch::from_blob(y.data(), {long(B)}, torch::kInt).to(torch::kLong);
        topt.zero_grad();
        torch::nll_loss(tnet.forward(tx), ty).backward();
        topt.step();
      }
    auto predict = tg::compile_inference<tg::Input<float, E, 1, 28, 28>>([&](auto v) { return net(v); });
    const double acc_tg = tg::train::evaluate<10>(predict, test_batches).accuracy();
    torch::NoGradGuard no_grad;
    auto torch_predict = [&](auto& images) {
      auto out = tnet.forward(torch::from_blob(images.data(), {long(E), 1, 28, 28}, torch::kFloat)).contiguous();
      tg::Tensor<float, E, 10> scores;
      std::memcpy(scores.data(), out.template data_ptr<float>(), sizeof(float) * E * 10);
      return scores;
    };
    const double acc_torch = tg::train::evaluate<10>(torch_predict, test_batches).accuracy();
    std::printf("seed %d: typegrad %.4f  libtorch %.4f\n", seed, acc_tg, acc_torch);
    sum_tg += acc_tg;
    sum_torch += acc_torch;
  }
  std::printf("mean test accuracy after %d epoch(s): typegrad %.4f, libtorch %.4f (difference %.2f points)\n", epochs,
              sum_tg / seeds, sum_torch / seeds, 100 * (sum_tg - sum_torch) / seeds);
  return 0;
}
