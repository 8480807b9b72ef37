// The device backend, interleaved with what it should be measured against (bench/harness.hpp):
//   elementwise_chain  exp(tanh(x/2 + 1) 2 - x) / (x^2 + 1) + sigmoid(x) over 2^24 floats: typegrad's one fused
//                      pass vs a plain device copy of the same bytes (the bandwidth limit) and vs one
//                      thrust::transform per operation (what the chain costs unfused); GB/s of compulsory traffic
//   mlp_step           784-256-128-10 ReLU, batch 64, cross-entropy, SGD: device step vs host step (and libtorch
//                      on CUDA where the installed libtorch has CUDA and a GPU is present)
//   lenet_step         conv 1->10 k5, pool, conv 10->20 k5, pool, fc 320->50, fc 50->10, batch 64, SGD momentum
//   resnet20_step      bench/compare's deep case: ResNet-20 (tg::ResNet20, BatchNorm training, tg::Repeat blocks) on
//                      [64, 1, 28, 28], 10 classes, cross-entropy, SGD lr 0.01 momentum 0.9
//   gpt_step           bench/compare's 6-block language model (gpt_model.hpp: E 256, 8 heads, FFN 1024, context 128,
//                      vocabulary 96), batch 8, cross-entropy over every position, AdamW lr 3e-4
// TYPEGRAD_PROFILE=1 adds each training step's costliest launches, timed one by one (where no profiler is installed).
// On the OMP system (no GPU) the "device" is the CPU's cores: the numbers then show the backend's overhead, not a GPU.
//   device_compare [--rounds R] [--quick] [--only CASE]
#include <cblas.h>
#include <thrust/copy.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <typegrad/device.hpp>
#include <typegrad/typegrad.hpp>

#include "classic_lenet.hpp"
#include "gpt_model.hpp"
#include "harness.hpp"

#ifdef TG_HAVE_TORCH_CUDA_TWINS
#include "device_compare_torch.hpp"
#endif

namespace {
using tgbench::compare;
using tgbench::median;
using tgbench::Variant;
using tgbench::fill_random;
using backend = tg::device::thrust_backend;

constexpr std::size_t chain_n = std::size_t(1) << 24;
constexpr std::size_t MB = 64;

template <class X>
auto chain(X x) {
  return tg::exp(tg::tanh(x * 0.5f + 1.0f) * 2.0f - x) / (x * x + 1.0f) + tg::sigmoid(x);
}

// the same chain, one thrust::transform per operation (intermediates in device memory)
struct affine {
  float a, b;
  TG_HD float operator()(float v) const { return v * a + b; }
};
struct tanh_op {
  TG_HD float operator()(float v) const { return ::tanhf(v); }
};
struct exp_op {
  TG_HD float operator()(float v) const { return ::expf(v); }
};
struct sigmoid_op {
  TG_HD float operator()(float v) const { return 1.0f / (1.0f + ::expf(-v)); }
};
struct square_plus_one {
  TG_HD float operator()(float v) const { return v * v + 1.0f; }
};
struct twice_minus {
  TG_HD float operator()(float t, float x) const { return t * 2.0f - x; }
};
struct divides {
  TG_HD float operator()(float a, float b) const { return a / b; }
};
struct plus {
  TG_HD float operator()(float a, float b) const { return a + b; }
};


struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

void print_bandwidth(const char* name, const std::vector<std::vector<double>>& us, const std::vector<Variant>& v,
                     const std::vector<double>& bytes) {
  for (std::size_t k = 0; k < v.size(); ++k)
    std::printf("bandwidth %s %s = %.1f GB/s\n", name, v[k].name.c_str(), bytes[k] / (median(us[k]) * 1e3));
}

// the kernels one call of `step` launches, by kind
template <class Step>
void print_launches(const char* name, Step&& step) {
  tg::device::launches() = {};
  step();
  const auto n = tg::device::launches();
  std::printf("launches %s gemm %zu elementwise %zu reduction %zu other %zu\n", name, n[tg::launch::gemm],
              n[tg::launch::elementwise], n[tg::launch::reduction],
              n.total() - n[tg::launch::gemm] - n[tg::launch::elementwise] - n[tg::launch::reduction]);
}

// With TYPEGRAD_PROFILE=1: the launches of one call of `step`, each timed alone (tg::device::launch_profile), summed
// by what they ran, the 15 costliest
template <class Step>
void print_profile(const char* name, Step&& step) {
  const char* wanted = std::getenv("TYPEGRAD_PROFILE");
  if (!wanted || std::string(wanted) != "1") return;
  auto& profile = tg::device::launch_profile();
  profile.records.clear();
  profile.on = true;
  step();
  profile.on = false;
  std::map<std::string, std::pair<double, std::size_t>> by_what;  // what -> (us, launches)
  double total = 0;
  for (const auto& r : profile.records) {
    auto& e = by_what[r.what];
    e.first += r.us, ++e.second, total += r.us;
  }
  std::vector<std::pair<std::string, std::pair<double, std::size_t>>> rows(by_what.begin(), by_what.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("profile %s: %zu launches, %.1f us timed one by one\n", name, profile.records.size(), total);
  for (std::size_t k = 0; k < rows.size() && k < 15; ++k)
    std::printf("  %5.1f%% %9.1f us %4zux  %s\n", 100 * rows[k].second.first / total, rows[k].second.first,
                rows[k].second.second, rows[k].first.c_str());
}

// A training step on the device against the same step on the host backend (and `more`: libtorch CUDA), then the
// device step's launches. dev_opt / host_opt: the two programs' optimizers.
template <class Dev, class DevOpt, class Host, class HostOpt, class X, class Y>
void device_vs_host(const char* name, Dev& dev, DevOpt& dev_opt, Host& host, HostOpt& host_opt, const X& x, const Y& y,
                    std::size_t rounds, std::size_t calls, std::vector<Variant> more = {}) {
  volatile float sink = 0;
  const auto dx = tg::device::to_device(x);
  const auto dy = tg::device::to_device(y);
  std::vector<Variant> v{{"typegrad device",
                          [&] {
                            sink = sink + dev(dx, dy);
                            dev_opt.update(dev);
                          },
                          [] { backend::synchronize(); }},
                         {"typegrad host", [&] {
                            sink = sink + host(x, y);
                            host_opt.update(host);
                          }}};
  for (auto& m : more) v.push_back(std::move(m));
  compare(name, v, rounds, calls);
  const auto step = [&] {
    dev(dx, dy);
    dev_opt.update(dev);
  };
  print_launches(name, step);
  print_profile(name, step);
}

}  // namespace

int main(int argc, char** argv) {
  tgbench::Options options;
  if (const auto code = tgbench::parse(options, argc, argv, "typegrad's device backend vs a device copy, unfused Thrust, the host backend and libtorch CUDA")) return *code;
  const bool quick = options.quick;
  const std::size_t rounds = options.rounds;
  const auto calls = [&](std::size_t full) { return options.calls(full); };
  const auto wanted = [&](const char* name) { return options.wanted(name); };
  std::printf("device: %s; %s\n", TYPEGRAD_DEVICE_IS_CUDA ? "CUDA" : "Thrust OMP system (CPU cores, no GPU)",
              quick ? "quick run (timings meaningless)" : "");
#ifdef TG_HAVE_TORCH_CUDA_TWINS
  std::printf("libtorch CUDA: %s\n", bench::torch_cuda::available() ? "available" : "not available (no GPU, or libtorch built without CUDA)");
#endif
  openblas_set_num_threads(1);  // the host variant single-threaded: on the OMP system the device uses the cores
  const auto sync = [] { backend::synchronize(); };
  volatile float sink = 0;

  if (wanted("elementwise_chain")) {
    tg::Tensor<float, chain_n>* host_x = new tg::Tensor<float, chain_n>;
    fill_random(host_x->data(), chain_n, 3, 2.0f);
    const auto x = tg::device::to_device(*host_x);
    delete host_x;
    tg::device::Parameters params;
    auto fused = tg::device::compile_inference<tg::Input<float, chain_n>>(params, [](auto v) { return chain(v); });
    auto train = tg::device::compile<tg::Variable<float, chain_n>>(params, [](auto v) { return tg::sum(chain(v)); });
    tg::device::TensorOf<float, tg::shape<chain_n>> copy_out, t1, t2, t3;
    const float* in = x.data();
    float *out = copy_out.data(), *a = t1.data(), *b = t2.data(), *c = t3.data();
    const auto policy = tg::device::policy();
    std::vector<Variant> v{
        {"typegrad fused", [&] { fused(x); }, sync},
        {"device copy", [&] { thrust::copy(policy, in, in + chain_n, out); }, sync},
        {"thrust per op",
         [&] {
           thrust::transform(policy, in, in + chain_n, a, affine{0.5f, 1.0f});
           thrust::transform(policy, a, a + chain_n, a, tanh_op{});
           thrust::transform(policy, a, a + chain_n, in, a, twice_minus{});
           thrust::transform(policy, a, a + chain_n, a, exp_op{});
           thrust::transform(policy, in, in + chain_n, b, square_plus_one{});
           thrust::transform(policy, a, a + chain_n, b, a, divides{});
           thrust::transform(policy, in, in + chain_n, c, sigmoid_op{});
           thrust::transform(policy, a, a + chain_n, c, out, plus{});
         },
         sync}};
    const double n4 = 4.0 * chain_n;
    const auto us = compare("elementwise_chain", v, rounds, quick ? 1 : 20);
    // compulsory traffic: x in, y out (the per-op version moves 17 arrays: its own traffic is not what it must move)
    print_bandwidth("elementwise_chain", us, v, {2 * n4, 2 * n4, 2 * n4});
    print_launches("elementwise_chain forward", [&] { fused(x); });

    std::vector<Variant> vb{{"typegrad fused", [&] { sink = sink + train(x); }, sync},
                            {"device copy", [&] { thrust::copy(policy, in, in + chain_n, out); }, sync}};
    const auto usb = compare("elementwise_chain forward+backward", vb, rounds, quick ? 1 : 20);
    // forward: the sum reads x in place; backward: x in, dx out
    print_bandwidth("elementwise_chain_fwd_bwd", usb, vb, {3 * n4, 2 * n4});
  }

  if (wanted("mlp_step")) {
    tg::Tensor<float, MB, 784> x;
    fill_random(x.data(), x.size(), 11, 1.0f);
    tg::Tensor<std::int32_t, MB> y;
    for (std::size_t i = 0; i < MB; ++i) y[i] = std::int32_t(i % 10);
    Mlp model, twin;
    auto f = [&](auto a, auto b) { return tg::cross_entropy(model(a), b); };
    tg::device::Parameters params;
    auto dev = tg::device::compile<tg::Input<float, MB, 784>, tg::Labels<MB, 10>>(params, f);
    auto dev_sgd = tg::optim::make(dev, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    auto host = tg::compile<tg::Input<float, MB, 784>, tg::Labels<MB, 10>>(
        [&](auto a, auto b) { return tg::cross_entropy(twin(a), b); });
    auto host_sgd = tg::optim::make(host, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    std::vector<Variant> more;
#ifdef TG_HAVE_TORCH_CUDA_TWINS
    if (bench::torch_cuda::available())
      more.push_back(
          {"libtorch cuda", [&, step = bench::torch_cuda::mlp_step(x.data(), y.data(), MB)] { sink = sink + step(); }});
#endif
    device_vs_host("mlp_step", dev, dev_sgd, host, host_sgd, x, y, rounds, calls(100), std::move(more));
  }

  if (wanted("lenet_step")) {
    tg::Tensor<float, MB, 1, 28, 28> x;
    fill_random(x.data(), x.size(), 13, 1.0f);
    tg::Tensor<std::int32_t, MB> y;
    for (std::size_t i = 0; i < MB; ++i) y[i] = std::int32_t(i % 10);
    bench::ClassicLeNet net, twin;
    tg::device::Parameters params;
    auto dev = tg::device::compile<tg::Input<float, MB, 1, 28, 28>, tg::Labels<MB, 10>>(
        params, [&](auto a, auto b) { return tg::nll_loss(net(a), b); });
    auto dev_opt = tg::optim::make(dev, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    auto host = tg::compile<tg::Input<float, MB, 1, 28, 28>, tg::Labels<MB, 10>>(
        [&](auto a, auto b) { return tg::nll_loss(twin(a), b); });
    auto host_opt = tg::optim::make(host, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    std::vector<Variant> more;
#ifdef TG_HAVE_TORCH_CUDA_TWINS
    if (bench::torch_cuda::available())
      more.push_back({"libtorch cuda",
                      [&, step = bench::torch_cuda::lenet_step(x.data(), y.data(), MB)] { sink = sink + step(); }});
#endif
    device_vs_host("lenet_step", dev, dev_opt, host, host_opt, x, y, rounds, calls(50), std::move(more));
  }
  // (the OMP system runs a ResNet-20 step in ~10 s: its quick run, a CI test, leaves the deep cases to test_device's
  // ResNet-14 and the device gradient tests of the Transformer layers)
  if (wanted("resnet20_step") && (TYPEGRAD_DEVICE_IS_CUDA || !quick)) {
    tg::Tensor<float, MB, 1, 28, 28> x;
    fill_random(x.data(), x.size(), 21, 1.0f);
    tg::Tensor<std::int32_t, MB> y;
    for (std::size_t i = 0; i < MB; ++i) y[i] = std::int32_t(i % 10);
    auto net = std::make_unique<tg::ResNet20<1, 10>>(3), twin = std::make_unique<tg::ResNet20<1, 10>>(3);
    tg::device::Parameters params;
    auto dev = tg::device::compile<tg::Input<float, MB, 1, 28, 28>, tg::Labels<MB, 10>>(
        params, [&](auto a, auto b) { return tg::cross_entropy((*net)(a), b); });
    auto dev_opt = tg::optim::make(dev, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    auto host = tg::compile<tg::Input<float, MB, 1, 28, 28>, tg::Labels<MB, 10>>(
        [&](auto a, auto b) { return tg::cross_entropy((*twin)(a), b); });
    auto host_opt = tg::optim::make(host, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    device_vs_host("resnet20_step", dev, dev_opt, host, host_opt, x, y, rounds, calls(5));
  }
  if (wanted("gpt_step") && (TYPEGRAD_DEVICE_IS_CUDA || !quick)) {
    using bench::GT, bench::GV;
    constexpr std::size_t GB = 8;
    tg::Tensor<std::int32_t, GB, GT> x;
    tg::Tensor<std::int32_t, GB * GT> y;
    bench::fill_gpt_batch(x, y);
    auto model = std::make_unique<bench::Gpt<GB>>(4), twin = std::make_unique<bench::Gpt<GB>>(4);
    tg::device::Parameters params;
    auto dev = tg::device::compile<tg::Input<std::int32_t, GB, GT>, tg::Labels<GB * GT, GV>>(
        params, [&](auto a, auto b) { return tg::cross_entropy((*model)(a), b); });
    auto dev_opt = tg::optim::make(dev, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
    auto host = tg::compile<tg::Input<std::int32_t, GB, GT>, tg::Labels<GB * GT, GV>>(
        [&](auto a, auto b) { return tg::cross_entropy((*twin)(a), b); });
    auto host_opt = tg::optim::make(host, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
    device_vs_host("gpt_step", dev, dev_opt, host, host_opt, x, y, rounds, calls(2));
  }
  (void)sink;
}
