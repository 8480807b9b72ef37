// A 784-256-128-10 ReLU MLP on Fashion-MNIST, SGD momentum 0.9 (lr 0.01 by default).
#include <typegrad/typegrad.hpp>

#include "fashion_common.hpp"

namespace {
struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  explicit Mlp(std::uint64_t seed) : fc1(seed), fc2(seed + 1), fc3(seed + 2) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

template <std::size_t B>
int train(const examples::Options& o) {
  Mlp model(o.seed);
  auto step = tg::observed(tg::compile<tg::Input<float, B, 784>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); }));
  auto predict = tg::compile_inference<tg::Input<float, examples::eval_batch, 784>>([&](auto x) { return model(x); });
  const double lr = o.lr > 0 ? o.lr : 0.01;
  auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{lr});
  std::printf("MLP 784-256-128-10, batch %zu, SGD lr %g momentum 0.9, %d epoch(s)\n", B, lr, o.epochs);
  return examples::run<B, 784>(o, step, optimizer, predict, tg::parameter_names_by_address(model));
}
}  // namespace

int main(int argc, char** argv) try {
  const auto o = examples::parse(argc, argv, "Train an MLP on Fashion-MNIST", "32, 64, 128");
  return examples::with_batch_size<32, 64, 128>(
      o, []<std::size_t B>(const examples::Options& opt) { return train<B>(opt); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "mlp_fashion_mnist: %s\n", e.what());
  return 1;
}
