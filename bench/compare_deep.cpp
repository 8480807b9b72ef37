// bench/compare's deep cases (issue 13), in their own translation unit so the two compile in parallel:
//   resnet20_step: ResNet-20 (CIFAR variant, option-B shortcuts) on [64, 1, 28, 28], 10 classes, cross-entropy,
//                  SGD lr 0.01 momentum 0.9; BatchNorm in training mode
//   gpt_step:      a 6-block decoder-only Transformer LM (E 256, 8 heads, FFN 1024, context 128, vocabulary 96,
//                  batch 8): token + learned position embeddings, pre-LN causal blocks through tg::Repeat, final
//                  LayerNorm, linear head, cross-entropy over every position, AdamW lr 3e-4
// The libtorch twins build the same architectures from torch modules; both run on one thread.
#include <cmath>
#include <memory>
#include <typegrad/typegrad.hpp>

#include "flops.hpp"
#include "gpt_model.hpp"
#include "harness.hpp"
#ifdef TG_HAVE_TORCH
#include <torch/torch.h>

#include "torch_harness.hpp"
#endif

namespace {
using tgbench::Variant;
constexpr std::size_t RB = 64, GB = 8;
using bench::GBlocks, bench::GE, bench::GF, bench::GH, bench::GT, bench::GV;

#ifdef TG_HAVE_TORCH
namespace nn = torch::nn;
struct TorchBasicBlock : nn::Module {
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential shortcut{nullptr};
  TorchBasicBlock(long in, long out, long stride) {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1)));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (in != out || stride != 1)
      shortcut = register_module(
          "shortcut", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride)), nn::BatchNorm2d(out)));
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = bn2->forward(conv2->forward(torch::relu(bn1->forward(conv1->forward(x)))));
    return torch::relu(y + (shortcut ? shortcut->forward(x) : x));
  }
};
struct TorchResNet20 : nn::Module {
  nn::Conv2d stem{nn::Conv2dOptions(1, 16, 3).padding(1)};
  nn::BatchNorm2d bn{16};
  std::vector<std::shared_ptr<TorchBasicBlock>> blocks;
  nn::Linear fc{64, 10};
  TorchResNet20() {
    register_module("stem", stem);
    register_module("bn", bn);
    long in = 16;
    for (long stage = 0; stage < 3; ++stage)
      for (long b = 0; b < 3; ++b) {
        const long out = 16 << stage, stride = (stage > 0 && b == 0) ? 2 : 1;
        blocks.push_back(register_module("block" + std::to_string(blocks.size()),
                                         std::make_shared<TorchBasicBlock>(in, out, stride)));
        in = out;
      }
    register_module("fc", fc);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(bn->forward(stem->forward(x)));
    for (auto& b : blocks) x = b->forward(x);
    return fc->forward(x.mean({2, 3}));
  }
};

struct TorchGptBlock : nn::Module {
  nn::LayerNorm norm1{nn::LayerNormOptions({long(GE)})}, norm2{nn::LayerNormOptions({long(GE)})};
  nn::MultiheadAttention attention{nn::MultiheadAttentionOptions(long(GE), long(GH))};
  nn::Linear ffn1{long(GE), long(GF)}, ffn2{long(GF), long(GE)};
  TorchGptBlock() {
    register_module("norm1", norm1);
    register_module("attention", attention);
    register_module("norm2", norm2);
    register_module("ffn1", ffn1);
    register_module("ffn2", ffn2);
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask) {  // [B, T, E]
    auto n = norm1->forward(x).transpose(0, 1);
    auto h = x + std::get<0>(attention->forward(n, n, n, {}, false, mask)).transpose(0, 1);
    return h + ffn2->forward(torch::relu(ffn1->forward(norm2->forward(h))));
  }
};
struct TorchGpt : nn::Module {
  nn::Embedding token{long(GV), long(GE)};
  torch::Tensor position;
  std::vector<std::shared_ptr<TorchGptBlock>> blocks;
  nn::LayerNorm norm{nn::LayerNormOptions({long(GE)})};
  nn::Linear head{long(GE), long(GV)};
  torch::Tensor mask = torch::triu(torch::full({long(GT), long(GT)}, -INFINITY), 1);
  TorchGpt() {
    register_module("token", token);
    position = register_parameter("position", torch::randn({long(GT), long(GE)}));
    for (std::size_t b = 0; b < GBlocks; ++b)
      blocks.push_back(register_module("block" + std::to_string(b), std::make_shared<TorchGptBlock>()));
    register_module("norm", norm);
    register_module("head", head);
  }
  torch::Tensor forward(torch::Tensor tokens) {
    auto x = token->forward(tokens) + position;
    for (auto& b : blocks) x = b->forward(x, mask);
    return head->forward(norm->forward(x)).reshape({long(GB * GT), long(GV)});
  }
};

using tgbench::torch_step;
#endif
}  // namespace

void run_deep_cases(const tgbench::Options& options, volatile float& sink) {
  const std::size_t rounds = options.quick ? options.rounds : std::min<std::size_t>(options.rounds, 7);
  if (options.wanted("resnet20_step")) {
    tg::Tensor<float, RB, 1, 28, 28> x;
    tgbench::fill_random(x.data(), x.size(), 21, 1.0f);
    tg::Tensor<std::int32_t, RB> y;
    for (std::size_t i = 0; i < RB; ++i) y[i] = std::int32_t(i % 10);
    auto net = std::make_unique<tg::ResNet20<1, 10>>(3);
    auto step = tg::compile<tg::Input<float, RB, 1, 28, 28>, tg::Labels<RB, 10>>(
        [&](auto a, auto b) { return tg::cross_entropy((*net)(a), b); });
    auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
    std::vector<Variant> v{{"typegrad", [&] {
                              sink = sink + step(x, y);
                              opt.update(step);
                            }}};
#ifdef TG_HAVE_TORCH
    auto tnet = std::make_shared<TorchResNet20>();
    torch::optim::SGD topt(tnet->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    auto tx = torch::from_blob(x.data(), {long(RB), 1, 28, 28}, torch::kFloat);
    auto ty = torch::from_blob(y.data(), {long(RB)}, torch::kInt).to(torch::kLong);
    v.push_back(
        {"libtorch", torch_step(
                         topt, [&] { return torch::nn::functional::cross_entropy(tnet->forward(tx), ty); }, sink)});
#endif
    using namespace tgbench::flops;  // stem; 3 stages of 3 blocks (2 convs each; 1x1 stride-2 shortcuts); fc
    const double flop = conv(RB, 1, 16, 3, 28, 28, false) + 6 * conv(RB, 16, 16, 3, 28, 28) +
                        conv(RB, 16, 32, 3, 14, 14) + conv(RB, 16, 32, 1, 14, 14) + 5 * conv(RB, 32, 32, 3, 14, 14) +
                        conv(RB, 32, 64, 3, 7, 7) + conv(RB, 32, 64, 1, 7, 7) + 5 * conv(RB, 64, 64, 3, 7, 7) +
                        dense(RB, 64, 10);
    tgbench::compare("resnet20_step", v, rounds, options.calls(5), flop);
  }
  if (options.wanted("gpt_step")) {
    tg::Tensor<std::int32_t, GB, GT> x;
    tg::Tensor<std::int32_t, GB * GT> y;
    bench::fill_gpt_batch(x, y);
    auto model = std::make_unique<bench::Gpt<GB>>(4);
    auto step = tg::compile<tg::Input<std::int32_t, GB, GT>, tg::Labels<GB * GT, GV>>(
        [&](auto a, auto b) { return tg::cross_entropy((*model)(a), b); });
    auto opt = tg::optim::make(step, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
    std::vector<Variant> v{{"typegrad", [&] {
                              sink = sink + step(x, y);
                              opt.update(step);
                            }}};
#ifdef TG_HAVE_TORCH
    auto tm = std::make_shared<TorchGpt>();
    torch::optim::AdamW topt(tm->parameters(), torch::optim::AdamWOptions(3e-4));
    auto tx = torch::from_blob(x.data(), {long(GB), long(GT)}, torch::kInt).to(torch::kLong);
    auto ty = torch::from_blob(y.data(), {long(GB * GT)}, torch::kInt).to(torch::kLong);
    v.push_back(
        {"libtorch", torch_step(
                         topt, [&] { return torch::nn::functional::cross_entropy(tm->forward(tx), ty); }, sink)});
#endif
    using namespace tgbench::flops;  // per block: in_proj, attention, out_proj, FFN; then the head
    constexpr double rows = GB * GT;
    const double block = dense(rows, GE, 3 * GE) + attention(GB * GH, GT, GE / GH) + dense(rows, GE, GE) +
                         dense(rows, GE, GF) + dense(rows, GF, GE);
    tgbench::compare("gpt_step", v, rounds, options.calls(2), GBlocks * block + dense(rows, GE, GV));
  }
}
