// Where a training step's time goes, kernel by kernel, on 1 and 2 threads: bench/compare's lenet_step and
// mlp_step (batch 64, the same optimizers), observed (tg::observed). A kernel's time runs from the end of the one
// before it, so its row also holds the program's own work in between (clearing adjoints, binding arguments); the
// optimizer's update is one more row. Rounds alternate 1 and 2 threads; medians over rounds of each round's mean.
//
// From each kernel's speed-up s = t1 / t2 on 2 threads, its parallel part is p = 2 (1 - 1 / s) (Amdahl with n = 2,
// clamped to [0, 1]); the step on n cores is then projected as the sum over kernels of t1 ((1 - p) + p / n).
//   kernel_times [--rounds R] [--quick] [--only lenet|mlp]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <typegrad/api/inspect.hpp>
#include <typegrad/api/observe.hpp>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "classic_lenet.hpp"
#include "harness.hpp"

namespace {
using clock_type = std::chrono::steady_clock;

struct Mlp {  // bench/compare's mlp_step model
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  Mlp() : fc1(1), fc2(2), fc3(3) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

void set_threads(std::size_t n) {
  openblas_set_num_threads(int(n));  // typegrad's fallback GEMMs, as bench/compare sets them
  tg::set_num_threads(n);
}

// One row per kernel in the order it runs (forward, then backward), then the update.
struct Rows {
  std::vector<std::string> label;
  std::vector<std::size_t> slot_of;         // (node id, backward) -> row: id + backward * ids
  std::vector<std::vector<double>> rounds;  // [row][round] mean us per call
};

template <class Step, class Optimizer, class X, class Y>
void profile(const char* name, Step& step, Optimizer& opt, const X& x, const Y& y, const tg::ParameterNames& names,
             const tgbench::Options& options) {
  const tg::ProgramInfo info = tg::inspect(step, names);
  const std::size_t ids = info.node_of.size();
  const auto label_of = [&](std::size_t id, bool backward) {
    const tg::NodeInfo* n = info.find(info.node_of[id]);
    return std::string(backward ? "bwd " : "fwd ") + (n ? n->op + " " + n->shape : "?");
  };
  Rows rows[2];  // per thread count
  for (auto& r : rows) {
    r.slot_of.assign(2 * ids + 1, std::size_t(-1));
    for (std::size_t id : info.forward) r.slot_of[id] = r.label.size(), r.label.push_back(label_of(id, false));
    for (std::size_t id : info.backward) r.slot_of[id + ids] = r.label.size(), r.label.push_back(label_of(id, true));
    r.label.push_back("optimizer update");
    r.rounds.assign(r.label.size(), {});
  }
  std::vector<double> sum(rows[0].label.size());
  clock_type::time_point last;
  step.after_each_kernel([&](const auto&, std::size_t id, bool backward) {
    const auto now = clock_type::now();
    const std::size_t row = rows[0].slot_of.at(info.node_of[id] + (backward ? ids : 0));  // a let: its body's row
    if (row >= sum.size())
      throw std::logic_error("kernel_times: kernel " + std::to_string(id) + " (node " + std::to_string(info.node_of[id]) + (backward ? ", backward" : "") + ") is not in the plan");
    sum[row] += std::chrono::duration<double, std::micro>(now - last).count();
    last = now;
  });
  volatile float sink = 0;
  const std::size_t calls = options.calls(20);
  for (std::size_t round = 0; round <= options.rounds; ++round) {  // round 0 warms up
    for (std::size_t t = 0; t < 2; ++t) {
      set_threads(t + 1);
      sink = sink + step(x, y);  // a first call on the new thread count, untimed
      opt.update(step);
      sum.assign(rows[t].label.size(), 0.0);
      for (std::size_t c = 0; c < calls; ++c) {
        last = clock_type::now();
        sink = sink + step(x, y);
        const auto before_update = clock_type::now();
        opt.update(step);
        sum.back() += std::chrono::duration<double, std::micro>(clock_type::now() - before_update).count();
      }
      if (round > 0)
        for (std::size_t k = 0; k < sum.size(); ++k) rows[t].rounds[k].push_back(sum[k] / double(calls));
    }
  }
  set_threads(1);
  step.after_each_kernel({});
  std::printf("%s (us per call, medians of %zu rounds x %zu calls)\n", name, options.rounds, calls);
  std::printf("  %-52s %9s %6s %9s %6s\n", "kernel", "1 thread", "share", "2 threads", "1->2");
  double t1 = 0, t2 = 0, t8 = 0, t16 = 0;
  for (std::size_t k = 0; k < rows[0].label.size(); ++k) {
    const double a = tgbench::median(rows[0].rounds[k]), b = tgbench::median(rows[1].rounds[k]);
    t1 += a, t2 += b;
    const double p = std::clamp(2 * (1 - b / a), 0.0, 1.0);
    t8 += a * ((1 - p) + p / 8), t16 += a * ((1 - p) + p / 16);
  }
  for (std::size_t k = 0; k < rows[0].label.size(); ++k) {
    const double a = tgbench::median(rows[0].rounds[k]), b = tgbench::median(rows[1].rounds[k]);
    std::printf("  %-52.52s %9.1f %5.1f%% %9.1f %6.2f\n", rows[0].label[k].c_str(), a, 100 * a / t1, b, a / b);
  }
  std::printf("  %-52s %9.1f %6s %9.1f %6.2f\n", "sum", t1, "", t2, t1 / t2);
  std::printf("amdahl %s projected from per-kernel speed-ups: 8 cores %.2fx, 16 cores %.2fx\n", name, t1 / t8,
              t1 / t16);
}
}  // namespace

int main(int argc, char** argv) {
  tgbench::Options options;
  if (const auto code = tgbench::parse(options, argc, argv, "a training step's time kernel by kernel, 1 and 2 threads"))
    return *code;
  constexpr std::size_t B = 64;
  if (options.wanted("lenet")) {
    tg::Tensor<float, B, 1, 28, 28> x;
    tgbench::fill_random(x.data(), x.size(), 13, 1.0f);
    tg::Tensor<std::int32_t, B> y;
    for (std::size_t i = 0; i < B; ++i) y[i] = std::int32_t(i % 10);
    bench::ClassicLeNet net;
    auto step = tg::observed(tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
        [&](auto a, auto b) { return tg::nll_loss(net(a), b); }));
    auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    profile("lenet_step", step, opt, x, y, tg::parameter_names_by_address(net), options);
  }
  if (options.wanted("mlp")) {
    tg::Tensor<float, B, 784> x;
    tgbench::fill_random(x.data(), x.size(), 11, 1.0f);
    tg::Tensor<std::int32_t, B> y;
    for (std::size_t i = 0; i < B; ++i) y[i] = std::int32_t(i % 10);
    Mlp model;
    auto step = tg::observed(tg::compile<tg::Input<float, B, 784>, tg::Labels<B, 10>>(
        [&](auto a, auto b) { return tg::cross_entropy(model(a), b); }));
    auto opt = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    profile("mlp_step", step, opt, x, y, tg::parameter_names_by_address(model), options);
  }
}
