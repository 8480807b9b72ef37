// typegrad against hand-written code and libtorch, interleaved in one run: for each case, every round times
// each variant over a batch of iterations; the table gives medians and spread (and heap allocations per call
// through operator new), and each `ratio <case> <peer>/typegrad = X.XX` line is the median of the per-round
// ratios (> 1: typegrad faster). Single thread unless a case says "2 threads"; the 2-thread rows also run each
// variant on 1 thread in the same rounds, and `scaling <case> <variant> 1->2 threads` is the median of those
// per-round ratios. At the start it measures the machine's single-core FMA peak; each case states its FLOPs
// (bench/flops.hpp: products only) and prints `gflops <case> <variant> = G (P% of peak)`.
//   compare [--rounds R] [--quick] [--only CASE]
// The deep cases (resnet20_step, gpt_step) are in compare_deep.cpp, the hand-written variants in hand_written.hpp.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "classic_lenet.hpp"
#include "flops.hpp"
#include "hand_written.hpp"
#include "harness.hpp"

#ifdef TG_HAVE_TORCH
#include <torch/torch.h>

#include "torch_harness.hpp"
#endif

namespace {
using tgbench::compare;
using tgbench::fill_random;
using tgbench::HandMlp;
using tgbench::HandTiny;
using tgbench::median;
using tgbench::Variant;

// BLAS threads for OpenBLAS (typegrad's fallback path, libtorch's GEMM) and libtorch's intra-op threads;
// typegrad's own threads (tg::set_num_threads) follow the larger of the two
// the untimed pause before each variant's calls in the 2-thread rows (tgbench::compare): longer than OpenBLAS's
// idle workers spin (2^28 cycles)
constexpr std::chrono::milliseconds settle{300};

void set_threads(int blas, [[maybe_unused]] int intra_op) {
  openblas_set_num_threads(blas);
  tg::set_num_threads(std::size_t(blas > intra_op ? blas : intra_op));
#ifdef TG_HAVE_TORCH
  torch::set_num_threads(intra_op);
#endif
}

// The 2-thread rows' variants: v's, each entering its row's thread setting (`two_threads`), then each again on one
// thread ("... 1 thread"). Rounds alternate between them, so a library's 1 -> 2 scaling is the median of per-round
// ratios (tgbench::paired_ratio) within one row, not a ratio of two rows' medians timed a minute apart: on Intel
// 0xCF a LeNet step on 1 thread went from ~2900 to ~1970 us from one minute to the next (docs/performance_history.md).
std::vector<Variant> with_one_thread(std::vector<Variant> v, void (*two_threads)()) {
  const std::size_t n = v.size();
  for (std::size_t k = 0; k < n; ++k) {
    v[k].enter = two_threads;
    Variant single = v[k];
    single.name += " 1 thread";
    single.enter = [] { set_threads(1, 1); };
    v.push_back(std::move(single));
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// mlp_step: 784-256-128-10 ReLU, batch 64, cross-entropy, SGD lr 0.01
constexpr std::size_t MB = 64;
static_assert(HandMlp::B == MB, "the hand-written MLP (hand_written.hpp) runs the same batch");

struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  Mlp() : fc1(1), fc2(2), fc3(3) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

// ---------------------------------------------------------------------------------------------------------
// tiny: 16-32-32-4 tanh, batch 1
struct Tiny {
  BOOST_HANA_DEFINE_STRUCT(Tiny, (tg::Linear<16, 32>, fc1), (tg::Linear<32, 32>, fc2), (tg::Linear<32, 4>, fc3));
  Tiny() : fc1(4), fc2(5), fc3(6) {}
  auto operator()(auto x) const { return fc3(tg::tanh(fc2(tg::tanh(fc1(x))))); }
};

// ---------------------------------------------------------------------------------------------------------
// lenet_step: the classic LeNet (classic_lenet.hpp), batch 64, NLL, SGD lr 0.01 momentum 0.9
using LeNet = bench::ClassicLeNet;

// lstm_step: LSTM 32 -> 64 over T = 16, batch 32, MSE against a fixed target sequence, SGD lr 0.01
// gru_step: the same with a GRU
constexpr std::size_t LB = 32, LT = 16, LF = 32, LH = 64;
// transformer_block_step: pre-LN block, E = 64, 4 heads, FFN 256, causal, [8, 32, 64], MSE, SGD lr 0.01
constexpr std::size_t XB = 8, XT = 32, XE = 64, XH = 4, XF = 256;

#ifdef TG_HAVE_TORCH
using TorchLeNet = bench::TorchClassicLeNet;

// the same pre-LN block from torch modules: x + MHA(LN1 x); h + W2 relu(W1 LN2 h)
struct TorchBlock : torch::nn::Module {
  torch::nn::LayerNorm norm1{torch::nn::LayerNormOptions({long(XE)})}, norm2{torch::nn::LayerNormOptions({long(XE)})};
  torch::nn::MultiheadAttention attention{torch::nn::MultiheadAttentionOptions(long(XE), long(XH))};
  torch::nn::Linear ffn1{long(XE), long(XF)}, ffn2{long(XF), long(XE)};
  torch::Tensor mask = torch::triu(torch::full({long(XT), long(XT)}, -INFINITY), 1);
  TorchBlock() {
    register_module("norm1", norm1);
    register_module("attention", attention);
    register_module("norm2", norm2);
    register_module("ffn1", ffn1);
    register_module("ffn2", ffn2);
  }
  torch::Tensor forward(torch::Tensor x) {  // x [B, T, E]; torch's attention takes [T, B, E]
    auto n = norm1->forward(x).transpose(0, 1);
    auto h = x + std::get<0>(attention->forward(n, n, n, {}, false, mask)).transpose(0, 1);
    return h + ffn2->forward(torch::relu(ffn1->forward(norm2->forward(h))));
  }
};

using tgbench::torch_step;
#endif
}  // namespace

void run_deep_cases(const tgbench::Options& options, volatile float& sink);

int main(int argc, char** argv) {
  tgbench::Options options;
  if (const auto code = tgbench::parse(options, argc, argv, "typegrad vs hand-written code and libtorch, interleaved"))
    return *code;
  const bool quick = options.quick;
  const std::size_t rounds = options.rounds;
  const auto calls = [&](std::size_t full) { return options.calls(full); };
  const auto wanted = [&](const char* name) { return options.wanted(name); };
  std::printf("GEMM: %s; %s\n", tg::blas::gemm_library(), quick ? "quick run (timings meaningless)" : "");
  const auto peak = tgbench::fma_peak_gflops();
  tgbench::peak_gflops() = peak.gflops;
  std::printf("machine: %s; single-core peak %.1f GFLOP/s (%s)\n", tgbench::cpu_model().c_str(), peak.gflops,
              peak.unit);
  set_threads(1, 1);
  volatile float sink = 0;

  if (wanted("mlp_step")) {
    tg::Tensor<float, MB, 784> x;
    fill_random(x.data(), x.size(), 11, 1.0f);
    tg::Tensor<std::int32_t, MB> y;
    for (std::size_t i = 0; i < MB; ++i) y[i] = std::int32_t(i % 10);
    Mlp model;
    auto step = tg::compile<tg::Input<float, MB, 784>, tg::Labels<MB, 10>>(
        [&](auto a, auto b) { return tg::cross_entropy(model(a), b); });
    auto sgd = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    HandMlp hand;
    std::vector<Variant> v{{"typegrad",
                            [&] {
                              sink = sink + step(x, y);
                              sgd.update(step);
                            }},
                           {"hand-written", [&] { sink = sink + hand.step(x.data(), y.data(), 0.01f); }}};
#ifdef TG_HAVE_TORCH
    auto net = torch::nn::Sequential(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 128),
                                     torch::nn::ReLU(), torch::nn::Linear(128, 10));
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01));
    auto tx = torch::from_blob(x.data(), {long(MB), 784}, torch::kFloat);
    auto ty = torch::from_blob(y.data(), {long(MB)}, torch::kInt).to(torch::kLong);
    v.push_back(
        {"libtorch", torch_step(
                         opt, [&] { return torch::nn::functional::cross_entropy(net->forward(tx), ty); }, sink)});
#endif
    using namespace tgbench::flops;  // the three layers; the first's input is the data (no gradient)
    const double flop = dense(MB, 784, 256, false) + dense(MB, 256, 128) + dense(MB, 128, 10);
    compare("mlp_step", v, rounds, calls(50), flop);
    // 2 threads: typegrad's pool of 2 (tg::set_num_threads); libtorch in its best split here (1 intra-op thread,
    // 2 BLAS threads); each variant alternates with itself on 1 thread (with_one_thread)
    const std::size_t n = v.size();
    const auto two =
        compare("mlp_step 2 threads", with_one_thread(v, [] { set_threads(2, 1); }), rounds, calls(50), flop, settle);
    set_threads(1, 1);
    for (std::size_t k = 0; k < n; ++k)
      std::printf("scaling mlp_step %s 1->2 threads = %.2f\n", v[k].name.c_str(), tgbench::paired_ratio(two, n + k, k));
  }

  if (wanted("lenet_step")) {
    tg::Tensor<float, MB, 1, 28, 28> x;
    fill_random(x.data(), x.size(), 13, 1.0f);
    tg::Tensor<std::int32_t, MB> y;
    for (std::size_t i = 0; i < MB; ++i) y[i] = std::int32_t(i % 10);
    LeNet net;
    auto step = tg::compile<tg::Input<float, MB, 1, 28, 28>, tg::Labels<MB, 10>>(
        [&](auto a, auto b) { return tg::nll_loss(net(a), b); });
    auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    std::vector<Variant> v{{"typegrad", [&] {
                              sink = sink + step(x, y);
                              opt.update(step);
                            }}};
#ifdef TG_HAVE_TORCH
    TorchLeNet tnet;
    torch::optim::SGD topt(tnet.parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    auto tx = torch::from_blob(x.data(), {long(MB), 1, 28, 28}, torch::kFloat);
    auto ty = torch::from_blob(y.data(), {long(MB)}, torch::kInt).to(torch::kLong);
    v.push_back({"libtorch", torch_step(
                                 topt, [&] { return torch::nll_loss(tnet.forward(tx), ty); }, sink)});
#endif
    using namespace tgbench::flops;  // conv 1->10 k5 (24x24 out), conv 10->20 k5 (8x8 out), fc 320->50, fc 50->10
    const double flop =
        conv(MB, 1, 10, 5, 24, 24, false) + conv(MB, 10, 20, 5, 8, 8) + dense(MB, 320, 50) + dense(MB, 50, 10);
    compare("lenet_step", v, rounds, calls(20), flop);
    const std::size_t n = v.size();
    auto two =
        compare("lenet_step 2 threads", with_one_thread(v, [] { set_threads(2, 1); }), rounds, calls(20), flop, settle);
    std::vector<double> scaling(n);
    for (std::size_t k = 0; k < n; ++k) scaling[k] = tgbench::paired_ratio(two, n + k, k);
#ifdef TG_HAVE_TORCH
    // libtorch's other split: 2 intra-op threads, 1 BLAS thread. typegrad runs the same way in both rows (its two
    // medians show the noise); libtorch splits differently: each library's scaling comes from its faster row
    const auto two_b = compare("lenet_step 2 threads (libtorch 2 intra-op, 1 BLAS)",
                               with_one_thread(v, [] { set_threads(1, 2); }), rounds, calls(20), flop, settle);
    for (std::size_t k = 0; k < n; ++k)
      if (median(two_b[k]) < median(two[k])) scaling[k] = tgbench::paired_ratio(two_b, n + k, k);
#endif
    set_threads(1, 1);
    for (std::size_t k = 0; k < n; ++k)
      std::printf("scaling lenet_step %s 1->2 threads = %.2f\n", v[k].name.c_str(), scaling[k]);
  }

  if (wanted("tiny")) {
    Tiny model;
    HandTiny hand;
    tg::Tensor<float, 1, 16> x;
    fill_random(x.data(), 16, 12, 1.0f);
    auto fwd = tg::compile_inference<tg::Input<float, 1, 16>>([&](auto a) { return model(a); });
    auto fwd_bwd = tg::compile<tg::Input<float, 1, 16>>([&](auto a) {
      auto o = model(a);
      return tg::sum(o * o) * 0.5f;
    });
    std::vector<Variant> f{{"typegrad", [&] { sink = sink + fwd(x)[0]; }}, {"hand-written", [&] {
                                                                              hand.forward(x.data());
                                                                              sink = sink + hand.y[0];
                                                                            }}};
    std::vector<Variant> fb{{"typegrad", [&] { sink = sink + fwd_bwd(x); }},
                            {"hand-written", [&] { sink = sink + hand.forward_backward(x.data()); }}};
#ifdef TG_HAVE_TORCH
    auto net = torch::nn::Sequential(torch::nn::Linear(16, 32), torch::nn::Tanh(), torch::nn::Linear(32, 32),
                                     torch::nn::Tanh(), torch::nn::Linear(32, 4));
    auto tx = torch::from_blob(x.data(), {1, 16}, torch::kFloat);
    f.push_back({"libtorch", [&] {
                   torch::NoGradGuard g;
                   sink = sink + net->forward(tx)[0][0].item<float>();
                 }});
    fb.push_back({"libtorch", [&] {
                    net->zero_grad();
                    auto o = net->forward(tx);
                    auto loss = (o * o).sum() * 0.5;
                    loss.backward();
                    sink = sink + loss.item<float>();
                  }});
#endif
    using namespace tgbench::flops;
    compare("tiny_fwd", f, rounds, quick ? 100 : 20000,
            dense_forward(1, 16, 32) + dense_forward(1, 32, 32) + dense_forward(1, 32, 4));
    compare("tiny_fwd_bwd", fb, rounds, quick ? 100 : 5000,
            dense(1, 16, 32, false) + dense(1, 32, 32) + dense(1, 32, 4));
  }

  // lstm_step and gru_step: a recurrent layer R (tg::LSTM or tg::GRU; TorchR its libtorch module)
  auto recurrent_case = [&]<class R, class TorchR, class TorchOptions>(const char* name, std::size_t gates) {
    tg::Tensor<float, LB, LT, LF> x;
    tg::Tensor<float, LB, LT, LH> target;
    fill_random(x.data(), x.size(), 14, 1.0f);
    fill_random(target.data(), target.size(), 15, 0.5f);
    R layer(3);
    auto step = tg::compile<tg::Input<float, LB, LT, LF>>([&](auto a) { return tg::mse(layer(a), target); });
    auto opt = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    std::vector<Variant> v{{"typegrad", [&] {
                              sink = sink + step(x);
                              opt.update(step);
                            }}};
#ifdef TG_HAVE_TORCH
    TorchR tl(TorchOptions(long(LF), long(LH)).batch_first(true));
    torch::optim::SGD topt(tl->parameters(), torch::optim::SGDOptions(0.01));
    auto tx = torch::from_blob(x.data(), {long(LB), long(LT), long(LF)}, torch::kFloat);
    auto tt = torch::from_blob(target.data(), {long(LB), long(LT), long(LH)}, torch::kFloat);
    v.push_back({"libtorch", torch_step(
                                 topt, [&] { return torch::mse_loss(std::get<0>(tl->forward(tx)), tt); }, sink)});
#endif
    using namespace tgbench::flops;  // per time step, the gates x W_ih^T + h W_hh^T (x: data, no gradient)
    compare(name, v, rounds, calls(20), double(LT) * (dense(LB, LF, gates * LH, false) + dense(LB, LH, gates * LH)));
  };
#ifdef TG_HAVE_TORCH
  using TorchLSTM = torch::nn::LSTM;
  using TorchLSTMOptions = torch::nn::LSTMOptions;
  using TorchGRU = torch::nn::GRU;
  using TorchGRUOptions = torch::nn::GRUOptions;
#else
  using TorchLSTM = void;
  using TorchLSTMOptions = void;
  using TorchGRU = void;
  using TorchGRUOptions = void;
#endif
  if (wanted("lstm_step")) recurrent_case.operator()<tg::LSTM<LF, LH>, TorchLSTM, TorchLSTMOptions>("lstm_step", 4);
  if (wanted("gru_step")) recurrent_case.operator()<tg::GRU<LF, LH>, TorchGRU, TorchGRUOptions>("gru_step", 3);

  if (wanted("transformer_block_step")) {
    tg::Tensor<float, XB, XT, XE> x, target;
    fill_random(x.data(), x.size(), 16, 1.0f);
    fill_random(target.data(), target.size(), 17, 0.5f);
    tg::TransformerEncoderBlock<XE, XH, XF, true> block(5);
    auto step = tg::compile<tg::Input<float, XB, XT, XE>>([&](auto a) { return tg::mse(block(a), target); });
    auto opt = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    std::vector<Variant> v{{"typegrad", [&] {
                              sink = sink + step(x);
                              opt.update(step);
                            }}};
#ifdef TG_HAVE_TORCH
    auto tb = std::make_shared<TorchBlock>();
    torch::optim::SGD topt(tb->parameters(), torch::optim::SGDOptions(0.01));
    auto tx = torch::from_blob(x.data(), {long(XB), long(XT), long(XE)}, torch::kFloat);
    auto tt = torch::from_blob(target.data(), {long(XB), long(XT), long(XE)}, torch::kFloat);
    v.push_back({"libtorch", torch_step(
                                 topt, [&] { return torch::mse_loss(tb->forward(tx), tt); }, sink)});
#endif
    using namespace tgbench::flops;  // in_proj (its input x is data: no gradient), attention, out_proj, FFN
    constexpr double rows = XB * XT;
    compare("transformer_block_step", v, rounds, calls(20),
            dense(rows, XE, 3 * XE, false) + attention(XB * XH, XT, XE / XH) + dense(rows, XE, XE) +
                dense(rows, XE, XF) + dense(rows, XF, XE));
  }
  run_deep_cases(options, sink);  // resnet20_step, gpt_step (compare_deep.cpp)
  // The probe again: the percentages above are against the start's; a different reading here says the host's speed
  // moved during the run (these machines share their cores), and by how much
  if (!quick)
    std::printf("machine at the end: single-core peak %.1f GFLOP/s (at the start %.1f)\n",
                tgbench::fma_peak_gflops().gflops, peak.gflops);
  return 0;
}
