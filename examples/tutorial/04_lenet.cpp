// Tutorial 4: the classic LeNet convolutional network on Fashion-MNIST (Debian's dataset-fashion-mnist).
//
//   conv 1->10 k5, max-pool 2, ReLU, conv 10->20 k5, max-pool 2, ReLU, flatten 320, fc 320->50, ReLU,
//   fc 50->10, log_softmax, negative log-likelihood
//
// tg::Sequential chains layers and checks at compile time that each accepts the previous one's output shape.
// Images come from the IDX files through tg::data::ImageBatches (normalised, reshuffled every epoch); a
// background thread prepares the next batch (tg::data::Prefetcher). 400 steps of 64 images (a little under half
// an epoch) reach about 80% test accuracy.      04_lenet [DIR]   (default: the Debian package's directory)
#include <typegrad/data/batches.hpp>
#include <typegrad/data/idx.hpp>
#include <typegrad/data/prefetch.hpp>
#include <typegrad/train/evaluate.hpp>
#include <typegrad/typegrad.hpp>

#include "tutorial.hpp"

using LeNet =
    tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>, tg::ReLU,
                   tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;
constexpr std::size_t B = 64, E = 1000;  // training and evaluation batch sizes

int main(int argc, char** argv) try {
  const std::string dir = argc > 1 ? argv[1] : tg::data::fashion_mnist_dir;
  const auto train = tg::data::read_mnist_split(dir, "train"), test = tg::data::read_mnist_split(dir, "t10k");
  constexpr float mean = 0.2860f, stddev = 0.3530f;  // of Fashion-MNIST's training pixels
  tg::data::ImageBatches<B, 1, 28, 28> batches(train, mean, stddev, /*seed=*/1);
  tg::data::ImageBatches<E, 1, 28, 28> test_batches(test, mean, stddev, 0);

  LeNet net;
  tg::init::initialize(net, 5);
  auto step = tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(net(x), y); });
  auto predict = tg::compile_inference<tg::Input<float, E, 1, 28, 28>>([&](auto x) { return net(x); });
  auto sgd = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.03});
  std::printf("workspace of one step: %zu bytes, allocated once\n", step.total_workspace_bytes());

  tg::data::Prefetcher prefetch(batches);
  decltype(batches)::images_type x;
  decltype(batches)::labels_type y;
  float first = 0, last = 0;
  for (int s = 0; s < 400 && prefetch.next(x, y); ++s) {
    last = step(x, y);
    if (s == 0) first = last;
    sgd.update(step);
  }
  const double accuracy = tg::train::evaluate<10>(predict, test_batches).accuracy();
  std::printf("loss %.3f -> %.3f after 400 steps; test accuracy %.4f on %zu images\n", first, last, accuracy,
              test.size());
  tutorial::expect(last < 0.5f * first, "the loss falls below half its first value");
  tutorial::expect(accuracy > 0.78, "test accuracy above 0.78 after 400 steps");
  return tutorial::result();
} catch (const std::exception& e) {
  std::fprintf(stderr, "04_lenet: %s\n", e.what());
  return 1;
}
