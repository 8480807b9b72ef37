// ResNet-20 (He et al. 2016, the CIFAR variant: 3 stages x 3 BasicBlocks, 16/32/64 channels, BatchNorm, 1x1
// projection shortcuts; include/typegrad/networks/resnet.hpp) on Fashion-MNIST, with the CIFAR augmentation:
// random crop from the image padded by 2 pixels (--pad) and random horizontal flip (--flip), drawn per image on
// the prefetch thread.
// Recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4 (on every parameter, as the paper's recipe), learning
// rate warmed up linearly over the first 200 steps, then cosine-decayed to 0 by the end of the run; batch 64.
// BatchNorm uses batch statistics while training and its running statistics when evaluating.
// Defaults: 5 epochs on 2 threads (the budget: 20 minutes on 2 cores; results are bit for bit those of
// --threads 1).
#include <chrono>
#include <memory>
#include <typegrad/io/safetensors.hpp>
#include <typegrad/typegrad.hpp>

#include "fashion_common.hpp"

namespace {
using Net = tg::ResNet20<1, 10>;
// Evaluation batches of 100 images: the inference program holds every activation of a batch (about 2.1 MB per
// image here), so 1000 would need 2.1 GB.
constexpr std::size_t eval_batch = 100;

template <std::size_t B>
int train(const examples::Options& o) {
  auto net = std::make_unique<Net>(o.seed);  // 0.27M parameters
  auto step = tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy((*net)(x), y); });
  auto predict = tg::compile_inference<tg::Input<float, eval_batch, 1, 28, 28>>([&](auto x) { return (*net)(x); });
  const double lr = o.lr > 0 ? o.lr : 0.05;
  const double decay = o.weight_decay >= 0 ? o.weight_decay : 5e-4;
  const std::size_t per_epoch = 60000 / B;
  const std::size_t steps =
      std::size_t(o.epochs) * (o.limit_steps > 0 ? std::min(o.limit_steps, per_epoch) : per_epoch);
  const std::size_t warmup = std::min<std::size_t>(200, steps / 4 + 1);
  auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.9, decay, true},
                                   tg::sched::Warmup{warmup, tg::sched::Cosine{lr, steps - warmup}});
  std::printf(
      "ResNet-20 (%zu parameters), batch %zu, SGD Nesterov momentum 0.9, weight decay %g, lr %g: %zu "
      "warm-up steps, cosine to 0 over %zu steps, %d epoch(s)\n",
      tg::parameter_count(*net), B, decay, lr, warmup, steps - warmup, o.epochs);
  std::printf("working memory: training step %.1f MB, evaluation program (batch %zu) %.1f MB\n",
              double(step.total_workspace_bytes()) / 1e6, eval_batch, double(predict.total_workspace_bytes()) / 1e6);
  const auto t0 = std::chrono::steady_clock::now();
  const int result = examples::run_evaluated_by<B, eval_batch, 1, 28, 28>(
      o, step, optimizer, predict, {}, [&](bool training) { tg::set_training(*net, training); });
  std::printf("total: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!o.save.empty()) {
    tg::io::save(o.save, *net);
    std::printf("saved %s\n", o.save.c_str());
  }
  return result;
}
}  // namespace

int main(int argc, char** argv) try {
  auto o = examples::parse(argc, argv, "Train ResNet-20 on Fashion-MNIST with random crops and flips", "64",
                           {.epochs = 5, .save = true, .augment = true, .threads = 2});
  return examples::with_batch_size<64>(o, [&]<std::size_t B>(const examples::Options& opts) { return train<B>(opts); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "resnet_fashion_mnist: %s\n", e.what());
  return 1;
}
