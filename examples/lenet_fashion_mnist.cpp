// The classic MNIST CNN on Fashion-MNIST:
//   conv 1->10 k5, max-pool 2, ReLU, conv 10->20 k5, max-pool 2, ReLU, flatten 320, fc 320->50, ReLU,
//   fc 50->10, log_softmax + NLL.
// Default recipe: SGD momentum 0.9, lr 0.03 decayed to 0 by a cosine over the run. --classic: SGD lr 0.01,
// momentum 0.5, constant.
// --distributed (built where MPI is installed): mpirun -np R lenet_fashion_mnist --distributed trains data-parallel,
// each rank on 1/R of every global batch of --batch examples (fashion_distributed.hpp).
#include <typegrad/io/safetensors.hpp>
#include <typegrad/typegrad.hpp>

#include "fashion_common.hpp"
#ifdef TYPEGRAD_EXAMPLE_MPI
#include "fashion_distributed.hpp"
#endif

namespace {
using LeNet =
    tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>, tg::ReLU,
                   tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;

LeNet make_lenet(std::uint64_t seed) {
  return LeNet(tg::Conv2d<1, 10, 5>(seed), {}, {}, tg::Conv2d<10, 20, 5>(seed + 1), {}, {}, {},
               tg::Linear<320, 50>(seed + 2), {}, tg::Linear<50, 10>(seed + 3), {});
}

#ifdef TYPEGRAD_EXAMPLE_MPI
using World = tg::dist::World;
#else
struct World {
  int rank() const { return 0; }
};
#endif

// B: the rows one process computes (the whole batch, or its share under --distributed)
template <std::size_t B>
int train(const examples::Options& o, World* world) {
  LeNet net = make_lenet(o.seed);
  auto step = tg::observed(tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(net(x), y); }));
  auto predict =
      tg::compile_inference<tg::Input<float, examples::eval_batch, 1, 28, 28>>([&](auto x) { return net(x); });
  const auto names = tg::parameter_names_by_address(net);
  const auto go = [&](auto& optimizer) {
#ifdef TYPEGRAD_EXAMPLE_MPI
    if (world) return examples::run_distributed<B, 1, 28, 28>(o, *world, step, optimizer, predict, names, net);
#else
    (void)world;
#endif
    const int result = examples::run<B, 1, 28, 28>(o, step, optimizer, predict, names);
    if (!o.save.empty()) {
      tg::io::save(o.save, net);
      std::printf("saved %s\n", o.save.c_str());
    }
    return result;
  };
  const bool lead = !world || world->rank() == 0;  // prints the recipe
  if (o.classic) {
    const double lr = o.lr > 0 ? o.lr : 0.01;
    auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.5}, tg::sched::Constant{lr});
    if (lead) std::printf("LeNet (classic), batch %zu, SGD lr %g momentum 0.5, %d epoch(s)\n", o.batch, lr, o.epochs);
    return go(optimizer);
  }
  const double lr = o.lr > 0 ? o.lr : 0.03;
  const std::size_t total = std::size_t(o.epochs) * (60000 / o.batch);  // o.batch: the global batch
  auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Cosine{lr, total});
  if (lead)
    std::printf("LeNet, batch %zu, SGD momentum 0.9, lr %g cosine-decayed over %zu steps, %d epoch(s)\n", o.batch, lr,
                total, o.epochs);
  return go(optimizer);
}
}  // namespace

int main(int argc, char** argv) try {
  auto o = examples::parse(argc, argv, "Train LeNet on Fashion-MNIST", "32, 64, 128",
                           {.classic = true, .save = true, .distributed = true});
  std::unique_ptr<World> world;
  examples::Options local = o;
  if (o.distributed) {
#ifdef TYPEGRAD_EXAMPLE_MPI
    world = std::make_unique<World>(&argc, &argv);
    if (o.batch % std::size_t(world->size()) != 0)
      throw std::invalid_argument("--batch " + std::to_string(o.batch) + " does not split into " +
                                  std::to_string(world->size()) + " equal shares");
    local.batch = o.batch / std::size_t(world->size());
    if (local.batch != 32 && local.batch != 64 && local.batch != 128)
      throw std::invalid_argument("--distributed: each rank's share of --batch " + std::to_string(o.batch) + " is " +
                                  std::to_string(local.batch) + " rows; compiled in: 32, 64, 128");
#else
    throw std::invalid_argument(
        "--distributed: this build has no MPI (scripts/setup.sh installs Open MPI; reconfigure)");
#endif
  }
  return examples::with_batch_size<32, 64, 128>(
      local, [&]<std::size_t B>(const examples::Options&) { return train<B>(o, world.get()); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "lenet_fashion_mnist: %s\n", e.what());
  return 1;
}
