// The classic MNIST CNN on Fashion-MNIST:
//   conv 1->10 k5, max-pool 2, ReLU, conv 10->20 k5, max-pool 2, ReLU, flatten 320, fc 320->50, ReLU,
//   fc 50->10, log_softmax + NLL.
// Default recipe: SGD momentum 0.9, lr 0.03 decayed to 0 by a cosine over the run. --classic: SGD lr 0.01,
// momentum 0.5, constant.
#include <typegrad/typegrad.hpp>

#include "fashion_common.hpp"

namespace {
using LeNet =
    tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>, tg::ReLU,
                   tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;

LeNet make_lenet(std::uint64_t seed) {
  return LeNet(tg::Conv2d<1, 10, 5>(seed), {}, {}, tg::Conv2d<10, 20, 5>(seed + 1), {}, {}, {},
               tg::Linear<320, 50>(seed + 2), {}, tg::Linear<50, 10>(seed + 3), {});
}

template <std::size_t B>
int train(const examples::Options& o) {
  LeNet net = make_lenet(o.seed);
  auto step = tg::observed(tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(net(x), y); }));
  auto predict =
      tg::compile_inference<tg::Input<float, examples::eval_batch, 1, 28, 28>>([&](auto x) { return net(x); });
  if (o.classic) {
    const double lr = o.lr > 0 ? o.lr : 0.01;
    auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.5}, tg::sched::Constant{lr});
    std::printf("LeNet (classic), batch %zu, SGD lr %g momentum 0.5, %d epoch(s)\n", B, lr, o.epochs);
    return examples::run<B, 1, 28, 28>(o, step, optimizer, predict, tg::parameter_names_by_address(net));
  }
  const double lr = o.lr > 0 ? o.lr : 0.03;
  const std::size_t total = std::size_t(o.epochs) * (60000 / B);
  auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Cosine{lr, total});
  std::printf("LeNet, batch %zu, SGD momentum 0.9, lr %g cosine-decayed over %zu steps, %d epoch(s)\n", B, lr, total,
              o.epochs);
  return examples::run<B, 1, 28, 28>(o, step, optimizer, predict, tg::parameter_names_by_address(net));
}
}  // namespace

int main(int argc, char** argv) try {
  const auto o = examples::parse(argc, argv, "Train LeNet on Fashion-MNIST", "32, 64, 128", true);
  return examples::with_batch_size<32, 64, 128>(
      o, []<std::size_t B>(const examples::Options& opt) { return train<B>(opt); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "lenet_fashion_mnist: %s\n", e.what());
  return 1;
}
