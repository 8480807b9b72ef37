// The device backend against the host one on the MLP and LeNet training steps (forward and backward),
// the fusion plan checked with the launch counter, the fused optimizer update, and the error paths.
#include <cmath>

#include "support.hpp"
#include "typegrad/device.hpp"

using namespace tgtest;

namespace {
// max_i |a_i - b_i| / max_i |b_i|: sums of thousands of floats in another order differ by rounding relative
// to the terms' size, not to a sum that happens to cancel
template <class A, class B>
double max_relative_error(const A& a, const B& b, std::size_t n) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

template <class A, class B>
double max_abs_difference(const A& a, const B& b, std::size_t n) {
  double diff = 0;
  for (std::size_t i = 0; i < n; ++i) diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
  return diff;
}

template <std::size_t B, std::size_t C>
tg::Tensor<std::int32_t, B> random_labels() {
  tg::Tensor<std::int32_t, B> y;
  for (auto& v : y) v = std::int32_t(rng()() % C);
  return y;
}

struct Mlp {
  tg::Linear<784, 256> fc1;
  tg::Linear<256, 128> fc2;
  tg::Linear<128, 10> fc3;
  template <class X>
  auto operator()(X&& x) const {
    return fc3(tg::relu(fc2(tg::relu(fc1(std::forward<X>(x))))));
  }
};
using LeNet = tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>,
                             tg::ReLU, tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;

// Host and device steps on the same batch: loss, every parameter gradient (relative error < 1e-5 in float).
// AgainstLargest: errors relative to the largest gradient of any parameter, for a gradient that is zero but for
// rounding (a convolution's bias right before a BatchNorm)
template <bool AgainstLargest = false, class HostStep, class DeviceStep, class X, class Y>
void expect_same_step(HostStep& host, DeviceStep& dev, const X& x, const Y& y) {
  const float host_loss = host(x, y);
  const auto dx = tg::device::to_device(x);
  const auto dy = tg::device::to_device(y);
  const float dev_loss = dev(dx, dy);
  CHECK(std::abs(dev_loss - host_loss) / std::abs(host_loss) < 1e-5);
  // the two programs have one plan: their trainable parameters come in the same order
  std::vector<std::vector<float>> host_grads;
  host.for_each_gradient([&](auto*, const float* g, std::size_t n) { host_grads.emplace_back(g, g + n); });
  double largest = 0;
  for (const auto& g : host_grads)
    for (float v : g) largest = std::max(largest, std::abs(double(v)));
  std::size_t k = 0;
  dev.for_each_gradient([&](auto*, const float* g, std::size_t n) {
    INFO("parameter " << k);
    std::vector<float> d(n);
    tg::device::thrust_backend::download(d.data(), g, n * sizeof(float));
    REQUIRE(k < host_grads.size());
    if constexpr (AgainstLargest) {
      double diff = 0;
      for (std::size_t i = 0; i < n; ++i) diff = std::max(diff, std::abs(double(d[i]) - double(host_grads[k][i])));
      CHECK(diff < 1e-5 * largest);
    } else {
      CHECK(max_relative_error(d, host_grads[k], n) < 1e-5);
    }
    ++k;
  });
  CHECK(k == host_grads.size());
  CHECK(k > 0);
}

// The kernels one device step launches, by kind.
template <class DeviceStep, class X, class Y>
auto launches_of_step(DeviceStep& dev, const X& x, const Y& y) {
  const auto dx = tg::device::to_device(x);
  const auto dy = tg::device::to_device(y);
  tg::device::launches() = {};
  dev(dx, dy);
  return tg::device::launches();
}

struct BatchNormNet {
  BOOST_HANA_DEFINE_STRUCT(BatchNormNet, (tg::Conv2d<1, 4, 3>, conv), (tg::BatchNorm2d<4>, bn),
                           (tg::Linear<4 * 8 * 8, 10>, fc));
  template <class X>
  auto operator()(X&& x) const {
    return fc(tg::reshape<8, 4 * 8 * 8>(bn(tg::relu(conv(std::forward<X>(x))))));  // relu first: a conv bias right before bn gets a zero gradient
  }
};

struct LstmNet {
  BOOST_HANA_DEFINE_STRUCT(LstmNet, (tg::LSTM<3, 16>, lstm), (tg::Linear<16, 1>, head));
  LstmNet() : lstm(5), head(6) {}
  template <class X>
  auto operator()(X&& x) const {
    return head(tg::reshape<8, 16>(tg::slice<1, 5, 6>(lstm(std::forward<X>(x)))));
  }
};
}  // namespace

TEST_CASE("MLP step: device agrees with host; launches follow the fusion plan", "[device]") {
  Mlp model;
  auto f = [&](auto x, auto y) { return tg::cross_entropy(model(x), y); };
  auto host = tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(f);
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(params, f);
  const auto x = random<float, 64, 784>(0, 1);
  const auto y = random_labels<64, 10>();
  expect_same_step(host, dev, x, y);

  SECTION("launch counts") {
    const auto n = launches_of_step(dev, x, y);
    // forward: 3 GEMMs; relu(fc1), relu(fc2) are 2 fused regions (fc3 + bias is fused into the loss);
    //          the loss and the label check are 2 reductions.
    // backward: the loss's pass, the 2 regions' passes; GEMMs dW3 dX3 dW2 dX2 dW1 (x needs no gradient).
    CHECK(n[tg::launch::gemm] == 3 + 5);
    CHECK(n[tg::launch::elementwise] == 2 + 3);
    CHECK(n[tg::launch::reduction] == 2);
    // the plan's own count of fused regions: one pass forward and one backward each
    constexpr auto& plan = decltype(host)::plan;
    std::size_t regions = 0;
    for (std::size_t k = 0; k < plan.kernel_count; ++k) regions += plan.kind[plan.kernels[k]] == tg::node_kind::pointwise;
    CHECK(regions == 2);
  }
}

TEST_CASE("LeNet step: device agrees with host; launches follow the fusion plan", "[device]") {
  LeNet model;
  auto f = [&](auto x, auto y) { return tg::nll_loss(model(x), y); };
  auto host = tg::compile<tg::Input<float, 16, 1, 28, 28>, tg::Labels<16, 10>>(f);
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 16, 1, 28, 28>, tg::Labels<16, 10>>(params, f);
  const auto x = random<float, 16, 1, 28, 28>(0, 1);
  const auto y = random_labels<16, 10>();
  expect_same_step(host, dev, x, y);

  SECTION("launch counts") {
    const auto n = launches_of_step(dev, x, y);
    // forward: each conv = im2col pass + 1 batched GEMM + bias pass; pool1, relu1, pool2, relu2+flatten,
    //          relu(fc1), log_softmax = 6 passes; fc1, fc2 GEMMs; nll and the label check are reductions.
    // backward: nll, log_softmax, relu(fc1), relu2, pool2, relu1, pool1 = 7 passes; conv2: cols^T, dy', col2im
    //          = 3 passes, dW and batched dcols GEMMs; conv1: cols^T, dy' and dW only (x needs no gradient);
    //          each conv's db: one reduction + one pass adding it; fc2, fc1: 2 GEMMs each.
    CHECK(n[tg::launch::gemm] == (2 + 2) + (2 + 2 + 2 + 1));
    CHECK(n[tg::launch::elementwise] == (2 + 2 + 6) + (7 + 3 + 2 + 2));
    CHECK(n[tg::launch::reduction] == 2 + 2);
  }
}

TEST_CASE("BatchNorm: device agrees with host in training and eval mode; running statistics follow", "[device]") {
  BatchNormNet model;
  BatchNormNet twin = model;  // the host program's copy: each program updates its own running statistics
  auto host = tg::compile<tg::Input<float, 8, 1, 10, 10>, tg::Labels<8, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy(twin(x), y); });
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 8, 1, 10, 10>, tg::Labels<8, 10>>(
      params, [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  for (int step = 0; step < 3; ++step) expect_same_step(host, dev, random<float, 8, 1, 10, 10>(-1, 2), random_labels<8, 10>());
  params.download();  // running statistics come back with the parameters
  CHECK(max_relative_error(model.bn.running_mean, twin.bn.running_mean, 4) < 1e-5);
  CHECK(max_relative_error(model.bn.running_var, twin.bn.running_var, 4) < 1e-5);
  CHECK(max_relative_error(model.bn.running_var, tg::Tensor<float, 4>(1.0f), 4) > 1e-3);  // they did move
  tg::set_training(model, false);
  tg::set_training(twin, false);
  expect_same_step(host, dev, random<float, 8, 1, 10, 10>(-1, 2), random_labels<8, 10>());
  const auto frozen_mean = model.bn.running_mean;
  params.download();
  CHECK(max_relative_error(model.bn.running_mean, frozen_mean, 4) == 0);  // eval mode reads, never writes
}

// A small ResNet-14 (widths 2, 4, 8): relu(bn(x)) and relu(bn(x) + r) as one kernel each, the blocks' lets in those
// kernels' buffers, their inputs' adjoints assigned by their last reader, tg::Repeat's block programs
TEST_CASE("ResNet step: device agrees with host", "[device]") {
  using Small = tg::ResNet<14, 1, 3, float, 2>;
  Small model(5);
  Small twin = model;
  auto host = tg::compile<tg::Input<float, 4, 1, 8, 8>, tg::Labels<4, 3>>(
      [&](auto x, auto y) { return tg::cross_entropy(twin(x), y); });
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 4, 1, 8, 8>, tg::Labels<4, 3>>(
      params, [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  // the convolutions' biases, each right before a BatchNorm, have gradients of rounding alone
  for (int step = 0; step < 2; ++step)
    expect_same_step<true>(host, dev, random<float, 4, 1, 8, 8>(-1, 2), random_labels<4, 3>());
}

TEST_CASE("LSTM (scan) step: device agrees with host", "[device]") {
  LstmNet model;
  auto f = [&](auto x, auto y) { return tg::mse(model(x), y); };
  auto host = tg::compile<tg::Input<float, 8, 6, 3>, tg::Input<float, 8, 1>>(f);
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 8, 6, 3>, tg::Input<float, 8, 1>>(params, f);
  expect_same_step(host, dev, random<float, 8, 6, 3>(-1, 1), random<float, 8, 1>());
}

TEST_CASE("an element-wise chain is one pass forward and one backward", "[device]") {
  auto chain = [](auto x) { return tg::exp(tg::tanh(x * 0.5f + 1.0f) * 2.0f - x) / (x * x + 1.0f) + tg::sigmoid(x); };
  const auto x = random<float, 1000>();
  tg::device::Parameters params;
  auto infer = tg::device::compile_inference<tg::Input<float, 1000>>(params, chain);
  auto train = tg::device::compile<tg::Variable<float, 1000>>(params, [&](auto v) { return tg::sum(chain(v)); });
  const auto dx = tg::device::to_device(x);
  tg::device::launches() = {};
  const auto y = tg::device::to_host(infer(dx));
  CHECK(tg::device::launches()[tg::launch::elementwise] == 1);
  CHECK(tg::device::launches().total() == 1 + 1);  // + the copy of nothing else: the output stays on the device
  tg::device::launches() = {};
  train(dx);
  CHECK(tg::device::launches()[tg::launch::reduction] == 1);    // the sum reads the chain in place
  CHECK(tg::device::launches()[tg::launch::elementwise] == 1);  // dy pushed through the whole chain at once
  auto host = tg::compile_inference<tg::Input<float, 1000>>(chain);
  CHECK(max_relative_error(y, host(x), 1000) < 1e-5);
}

TEST_CASE("the optimizer updates every parameter in one fused pass, as the host one does", "[device]") {
  Mlp model;
  Mlp twin = model;
  auto fh = [&](auto x, auto y) { return tg::cross_entropy(twin(x), y); };
  auto fd = [&](auto x, auto y) { return tg::cross_entropy(model(x), y); };
  auto host = tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(fh);
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(params, fd);
  tg::optim::Options options;
  options.clip_norm = 0.5;
  auto host_opt = tg::optim::make(host, tg::optim::Adam{}, tg::sched::Constant{1e-3}, options);
  auto dev_opt = tg::optim::make(dev, tg::optim::Adam{}, tg::sched::Constant{1e-3}, options);
  for (int step = 0; step < 3; ++step) {
    const auto x = random<float, 64, 784>(0, 1);
    const auto y = random_labels<64, 10>();
    host(x, y);
    host_opt.update(host);
    dev(tg::device::to_device(x), tg::device::to_device(y));
    tg::device::launches() = {};
    dev_opt.update(dev);
    CHECK(tg::device::launches()[tg::launch::elementwise] == 1);  // all six parameters at once
    CHECK(tg::device::launches()[tg::launch::reduction] == 1);    // the global norm for clipping
    CHECK(std::abs(dev_opt.last_gradient_norm() - host_opt.last_gradient_norm()) < 1e-4 * host_opt.last_gradient_norm());
  }
  params.download();  // device weights -> model's host parameters
  // Adam moves a weight by up to ~lr a step whatever the size of its gradient, so a gradient that is 0 but for
  // rounding (summed in another order by cuBLAS than by the host's GEMM) moves it by another fraction of lr: on an
  // H200, fc1's weights differed by 1.2e-4 of their largest value (4.4e-6) after 3 steps. The weights must agree to
  // 1% of the most that 3 steps can move them (a wrong update is off by a good part of lr).
  const double most = 3 * 1e-3;
  CHECK(max_abs_difference(model.fc1.weight.value, twin.fc1.weight.value, model.fc1.weight.size()) < 0.01 * most);
  CHECK(max_abs_difference(model.fc3.bias.value, twin.fc3.bias.value, model.fc3.bias.size()) < 0.01 * most);
}

TEST_CASE("dropout on the device: seeded counter-based masks, gradient through the same mask", "[device]") {
  const auto x = random<float, 32, 64>(0.5, 2);
  auto masked = [&x](std::uint64_t seed) {
    tg::Dropout drop(0.25, seed);
    tg::device::Parameters params;
    auto step = tg::device::compile<tg::Variable<float, 32, 64>>(params, [&](auto v) { return tg::sum(drop(v)); });
    const auto dx = tg::device::to_device(x);
    step(dx);
    return tg::device::to_host(step.template grad_input<0>());  // d sum / dx = mask / (1 - p)
  };
  const auto g1 = masked(42), g2 = masked(42), g3 = masked(43);
  std::size_t kept = 0, same = 0, differs = 0;
  for (std::size_t i = 0; i < g1.size(); ++i) {
    CHECK((g1[i] == 0.0f || g1[i] == Approx(1 / 0.75)));
    kept += g1[i] != 0;
    same += g1[i] == g2[i];
    differs += g1[i] != g3[i];
  }
  CHECK(kept > 2048 * 0.70);  // 1536 of 2048 expected
  CHECK(kept < 2048 * 0.80);
  CHECK(same == g1.size());
  CHECK(differs > 100);
}

TEST_CASE("device errors name the problem", "[device]") {
  Mlp model;
  auto f = [&](auto x, auto y) { return tg::cross_entropy(model(x), y); };
  tg::device::Parameters params;
  auto dev = tg::device::compile<tg::Input<float, 4, 784>, tg::Labels<4, 10>>(params, f);
  const auto dx = tg::device::to_device(random<float, 4, 784>());
  tg::Tensor<std::int32_t, 4> y{1, 2, 10, 3};
  CHECK_THROWS_WITH(dev(dx, tg::device::to_device(y)), Catch::Contains("label 10 at position 2"));
  tg::device::Tensor<float, 4, 784> t;
  std::vector<float> wrong(100);
  CHECK_THROWS_WITH(t.copy_from(wrong), Catch::Contains("100 elements"));
  tg::Linear<3, 2> unused;
  CHECK_THROWS_WITH(params[unused.weight], Catch::Contains("not used by a program"));
}

// operator new is replaced by a counter (bench/allocation_counter.cpp, linked into this binary)
std::size_t heap_allocations();

// No host allocation per step on the device either. Under nvcc, loop bodies as __host__ __device__ lambdas allocated
// on every step (nvcc's wrapper keeps those on the heap): 24 per MLP step and 243 per LeNet step on an H200.
TEST_CASE("device training steps with optimizer updates allocate nothing on the host", "[device]") {
  Mlp mlp;
  tg::device::Parameters params;
  auto mlp_step = tg::device::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(
      params, [&](auto x, auto y) { return tg::cross_entropy(mlp(x), y); });
  tg::optim::Options clipped;
  clipped.clip_norm = 0.5;
  auto mlp_opt = tg::optim::make(mlp_step, tg::optim::Adam{}, tg::sched::Constant{1e-3}, clipped);
  LeNet lenet;
  auto lenet_step = tg::device::compile<tg::Input<float, 16, 1, 28, 28>, tg::Labels<16, 10>>(
      params, [&](auto x, auto y) { return tg::nll_loss(lenet(x), y); });
  auto lenet_opt = tg::optim::make(lenet_step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
  tg::ResNet<14, 1, 3, float, 2> resnet(5);  // BatchNorm's statistics, tg::Repeat's block programs
  auto resnet_step = tg::device::compile<tg::Input<float, 4, 1, 8, 8>, tg::Labels<4, 3>>(
      params, [&](auto x, auto y) { return tg::cross_entropy(resnet(x), y); });
  LstmNet lstm;  // scan
  auto lstm_step = tg::device::compile<tg::Input<float, 8, 6, 3>, tg::Input<float, 8, 1>>(
      params, [&](auto x, auto y) { return tg::mse(lstm(x), y); });
  const auto mlp_x = tg::device::to_device(random<float, 64, 784>(0, 1));
  const auto mlp_y = tg::device::to_device(random_labels<64, 10>());
  const auto lenet_x = tg::device::to_device(random<float, 16, 1, 28, 28>(0, 1));
  const auto lenet_y = tg::device::to_device(random_labels<16, 10>());
  const auto resnet_x = tg::device::to_device(random<float, 4, 1, 8, 8>(-1, 2));
  const auto resnet_y = tg::device::to_device(random_labels<4, 3>());
  const auto lstm_x = tg::device::to_device(random<float, 8, 6, 3>(-1, 1));
  const auto lstm_y = tg::device::to_device(random<float, 8, 1>());
  const auto all_steps = [&] {
    double total = mlp_step(mlp_x, mlp_y);
    mlp_opt.update(mlp_step);
    total += lenet_step(lenet_x, lenet_y);
    lenet_opt.update(lenet_step);
    total += resnet_step(resnet_x, resnet_y) + lstm_step(lstm_x, lstm_y);
    return total;
  };
  all_steps();  // warm-up: cuBLAS and Thrust's temporaries are allocated on first use
  const std::size_t before = heap_allocations();
  double total = 0;
  for (int i = 0; i < 3; ++i) total += all_steps();
  const std::size_t during = heap_allocations() - before;
  CHECK(std::isfinite(total));
  CHECK(during == 0);
  // the counter works
  const std::size_t before_vector = heap_allocations();
  std::vector<int> some(10);
  CHECK(heap_allocations() > before_vector);
  CHECK(some.size() == 10);
}
