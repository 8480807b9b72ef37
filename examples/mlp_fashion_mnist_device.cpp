// The MLP of mlp_fashion_mnist.cpp trained by the device backend (a GPU with -DTYPEGRAD_DEVICE=CUDA, the
// CPU through Thrust's OpenMP system otherwise). Each batch is copied to the device explicitly; the
// weights are copied back once, at the end.
#include <typegrad/device.hpp>

#include "fashion_common.hpp"

namespace {
struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  explicit Mlp(std::uint64_t seed) : fc1(seed), fc2(seed + 1), fc3(seed + 2) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

// Host batches in, through one explicit copy each.
template <class Program, class X, class Y>
struct OnDevice {
  Program& program;
  tg::device::TensorOf<typename X::value_type, typename X::shape_type> x;
  tg::device::TensorOf<typename Y::value_type, typename Y::shape_type> y;
  float operator()(const X& hx, const Y& hy) {
    x.copy_from(hx);
    y.copy_from(hy);
    return program(x, y);
  }
  operator const Program&() const { return program; }  // what the optimizer updates
};
template <class Program, class X>
struct PredictOnDevice {
  Program& program;
  tg::device::TensorOf<typename X::value_type, typename X::shape_type> x;
  auto operator()(const X& hx) {
    x.copy_from(hx);
    return tg::device::to_host(program(x));
  }
};

template <std::size_t B>
int train(const examples::Options& o) {
  Mlp model(o.seed);
  tg::device::Parameters params;
  auto step = tg::device::compile<tg::Input<float, B, 784>, tg::Labels<B, 10>>(
      params, [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto predict = tg::device::compile_inference<tg::Input<float, examples::eval_batch, 784>>(
      params, [&](auto x) { return model(x); });
  const double lr = o.lr > 0 ? o.lr : 0.01;
  auto optimizer = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{lr});
  std::printf("MLP 784-256-128-10 on the device backend, batch %zu, SGD lr %g momentum 0.9, %d epoch(s)\n", B, lr,
              o.epochs);
  OnDevice<decltype(step), tg::Tensor<float, B, 784>, tg::Tensor<std::int32_t, B>> device_step{step, {}, {}};
  PredictOnDevice<decltype(predict), tg::Tensor<float, examples::eval_batch, 784>> device_predict{predict, {}};
  const int status = examples::run<B, 784>(o, device_step, optimizer, device_predict);
  params.download();  // the trained weights, back in `model`
  return status;
}
}  // namespace

int main(int argc, char** argv) try {
  const auto o = examples::parse(argc, argv, "Train an MLP on Fashion-MNIST with the device backend", "32, 64, 128");
  return examples::with_batch_size<32, 64, 128>(
      o, [&]<std::size_t B>(const examples::Options& opt) { return train<B>(opt); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "mlp_fashion_mnist_device: %s\n", e.what());
  return 1;
}
