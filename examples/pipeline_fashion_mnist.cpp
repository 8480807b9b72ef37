// LeNet on Fashion-MNIST split over 2 ranks (pipeline model parallelism, tg::dist::Pipeline):
//   rank 0: conv 1->10 k5, max-pool 2, ReLU, conv 10->20 k5, max-pool 2, ReLU, flatten   [16, 1, 28, 28] -> [16, 320]
//   rank 1: fc 320->50, ReLU, fc 50->10, log_softmax + NLL                              [16, 320] -> loss
// Each global batch of 64 runs as 4 micro-batches of 16 in GPipe's schedule; the result equals training the whole
// LeNet on batches of 64 (lenet_fashion_mnist, same seed and recipe), up to rounding.
//   mpirun -np 2 ./build/examples/pipeline_fashion_mnist --epochs 1
#include <typegrad/dist/data_parallel.hpp>
#include <typegrad/dist/evaluate.hpp>
#include <typegrad/dist/pipeline.hpp>
#include <typegrad/typegrad.hpp>

#include "fashion_common.hpp"

namespace {
constexpr std::size_t Batch = 64, Micro = 4, m = Batch / Micro;

using Features = tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>,
                                tg::MaxPool2d<2>, tg::ReLU, tg::Flatten>;
using Classifier = tg::Sequential<tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;

struct LeNet {
  BOOST_HANA_DEFINE_STRUCT(LeNet, (Features, features), (Classifier, classifier));
  explicit LeNet(std::uint64_t seed)  // the per-layer seeds of lenet_fashion_mnist: the same initial weights
      : features(tg::Conv2d<1, 10, 5>(seed), {}, {}, tg::Conv2d<10, 20, 5>(seed + 1), {}, {}, {}),
        classifier(tg::Linear<320, 50>(seed + 2), {}, tg::Linear<50, 10>(seed + 3), {}) {}
  auto operator()(auto x) const { return classifier(features(x)); }
};
}  // namespace

int main(int argc, char** argv) try {
  const auto o = examples::parse(argc, argv, "Train LeNet on Fashion-MNIST split over 2 ranks (mpirun -np 2)", "64");
  if (o.batch != Batch) throw std::invalid_argument("--batch: this example is compiled for 64 (4 micro-batches of 16)");
  if (o.check_finite || o.stats) throw std::invalid_argument("--check-finite and --stats: not available here");
  tg::dist::World world(&argc, &argv);
  const bool lead = world.rank() == 0;
  LeNet net(o.seed);
  tg::dist::check_same_model(world, net);
  auto first = tg::dist::stage<tg::Input<float, m, 1, 28, 28>>([&](auto x) { return net.features(x); });
  auto last = tg::dist::stage<tg::dist::Activation<float, m, 320>, tg::Labels<m, 10>>(
      [&](auto h, auto y) { return tg::nll_loss(net.classifier(h), y); });
  auto pipe = tg::dist::pipeline<Micro>(world, first, last);
  const double lr = o.lr > 0 ? o.lr : 0.03;
  const std::size_t total = std::size_t(o.epochs) * (60000 / Batch);
  auto optimizer = pipe.optimizer(tg::optim::Momentum{0.9}, tg::sched::Cosine{lr, total});
  if (lead)
    std::printf(
        "LeNet in 2 stages (rank 0: features, rank 1: classifier), batch %zu as %zu micro-batches of %zu, "
        "SGD momentum 0.9, lr %g cosine-decayed over %zu steps, %d epoch(s)\n",
        Batch, Micro, m, lr, total, o.epochs);

  const auto train = tg::data::read_mnist_split(o.data, "train");
  const auto test = tg::data::read_mnist_split(o.data, "t10k");
  tg::data::ImageBatches<Batch, 1, 28, 28> batches(train, examples::fashion_mean, examples::fashion_std, o.seed);
  tg::data::ImageBatches<examples::eval_batch, 1, 28, 28> test_batches(test, examples::fashion_mean,
                                                                       examples::fashion_std, 0);
  decltype(batches)::images_type x;
  decltype(batches)::labels_type y;
  tg::data::Prefetcher prefetch(batches);
  tg::train::Progress progress(Batch);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    if (lead) progress.start_epoch(epoch, batches.batches_per_epoch());
    std::size_t done = 0;
    while (prefetch.next(x, y)) {
      const float loss = pipe.step(x, y);  // every rank receives the loss from the last stage
      examples::check_finite(loss, epoch, done + 1);
      optimizer.update();
      if (lead) progress.step(++done, loss);
    }
    if (lead) std::printf("epoch %d: %.1f s\n", epoch, progress.end_epoch());
  }
  // each rank trained its own stage: gather the whole model everywhere, then evaluate it in shares
  pipe.share_parameters(net);
  auto predict =
      tg::compile_inference<tg::Input<float, examples::eval_batch, 1, 28, 28>>([&](auto in) { return net(in); });
  const auto e = tg::dist::evaluate<10>(world, predict, test_batches);
  if (lead && o.confusion) tg::train::print_confusion(e);
  if (lead) std::printf("test_accuracy: %.4f\n", e.accuracy());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pipeline_fashion_mnist: %s\n", e.what());
  return 1;
}
