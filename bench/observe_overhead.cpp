// What watching a step costs: the MLP (784-256-128-10, batch 64) and LeNet (batch 64) training steps, plain
// (tg::compile), observed with no tool attached (tg::observed), observed with tg::check_finite, and observed with
// tg::LayerStats recording every step. Interleaved rounds; medians and `ratio <case> <variant>/typegrad` lines,
// where "typegrad" is the plain step.       observe_overhead [--rounds R] [--quick] [--only mlp|lenet]
#include <typegrad/api/layer_stats.hpp>
#include <typegrad/typegrad.hpp>

#include "harness.hpp"

namespace {
struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};
using LeNet =
    tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>, tg::ReLU,
                   tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;

template <class Model, class Images, class Step>
void measure(const char* name, Model& model, Images& x, tg::Tensor<std::int32_t, 64>& y, Step plain,
             const tgbench::Options& o, std::size_t calls) {
  auto observed = tg::observed(plain);
  auto checked = tg::observed(plain);
  tg::check_finite(checked, model);
  auto watched = tg::observed(plain);
  tg::LayerStats stats(watched, model);
  std::size_t recorded = 0;
  tgbench::compare(name,
                   {{"typegrad", [&] { plain(x, y); }},
                    {"observed", [&] { observed(x, y); }},
                    {"check_finite", [&] { checked(x, y); }},
                    {"stats_every_step", [&] { stats.record(watched, recorded++, x, y); }}},
                   o.rounds, calls);
}
}  // namespace

int main(int argc, char** argv) {
  tgbench::Options o;
  if (auto code = tgbench::parse(o, argc, argv, "What observing a step costs (check_finite, LayerStats)")) return *code;
  tg::Tensor<std::int32_t, 64> y;
  for (std::size_t i = 0; i < 64; ++i) y[i] = std::int32_t(i % 10);
  if (o.wanted("mlp")) {
    Mlp mlp;
    tg::Tensor<float, 64, 784> x;
    tgbench::fill_random(x.data(), x.size(), 1, 1.0f);
    measure("mlp_step", mlp, x, y, tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>([&](auto a, auto b) {
              return tg::cross_entropy(mlp(a), b);
            }),
            o, o.calls(100));
  }
  if (o.wanted("lenet")) {
    LeNet lenet;
    tg::Tensor<float, 64, 1, 28, 28> x;
    tgbench::fill_random(x.data(), x.size(), 2, 1.0f);
    measure("lenet_step", lenet, x, y,
            tg::compile<tg::Input<float, 64, 1, 28, 28>, tg::Labels<64, 10>>(
                [&](auto a, auto b) { return tg::nll_loss(lenet(a), b); }),
            o, o.calls(20));
  }
  return 0;
}
