// gpt_pretrain's twin in libtorch: the same GPT (examples/gpt_model.hpp: 4 pre-LN causal blocks, E 128, 4 heads,
// FFN 512, context 128, byte vocabulary), the same initial weights (typegrad's initialisation copied into the torch
// modules by PyTorch name: token.weight, blocks.0.self_attn.in_proj_weight, ...), the same windows in the same
// order, AdamW (weight decay 0.1), warm-up then cosine schedule and clipping at global norm 1. Both train in this
// process in lockstep, one step each in turn (which goes first alternates), each on one thread; every --eval-every
// steps both report validation bits per character on the same held-out windows.
// Prints per-step medians and `ratio gpt_pretrain_step libtorch/typegrad = R` (> 1: typegrad is faster).
//   ./build/bench/gpt_pretrain_libtorch [--steps 2000] [--eval-every 250]
#include <cblas.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <typegrad/data/text.hpp>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "../examples/gpt_model.hpp"

namespace {
using examples::B, examples::T, examples::V, examples::E;
namespace nn = torch::nn;

// torch's nn.TransformerEncoderLayer names, pre-LN, ReLU, no dropout (typegrad's TransformerEncoderBlock)
struct TorchBlock : nn::Module {
  nn::LayerNorm norm1{nn::LayerNormOptions({long(E)})}, norm2{nn::LayerNormOptions({long(E)})};
  nn::MultiheadAttention self_attn{nn::MultiheadAttentionOptions(long(E), long(examples::Heads))};
  nn::Linear linear1{long(E), long(examples::Hidden)}, linear2{long(examples::Hidden), long(E)};
  TorchBlock() {
    register_module("norm1", norm1);
    register_module("self_attn", self_attn);
    register_module("norm2", norm2);
    register_module("linear1", linear1);
    register_module("linear2", linear2);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal) {  // [N, T, E]
    auto n = norm1->forward(x).transpose(0, 1);                                 // [T, N, E]
    auto h = x + std::get<0>(self_attn->forward(n, n, n, {}, false, causal)).transpose(0, 1);
    return h + linear2->forward(torch::relu(linear1->forward(norm2->forward(h))));
  }
};

struct TorchGpt : nn::Module {
  nn::Embedding token{long(V), long(E)}, position{long(T), long(E)};
  nn::ModuleList blocks;
  nn::LayerNorm norm{nn::LayerNormOptions({long(E)})};
  nn::Linear head{long(E), long(V)};
  torch::Tensor causal = torch::triu(torch::full({long(T), long(T)}, -INFINITY), 1);
  TorchGpt() {
    register_module("token", token);
    register_module("position", position);
    for (std::size_t b = 0; b < examples::Blocks; ++b) blocks->push_back(TorchBlock());
    register_module("blocks", blocks);
    register_module("norm", norm);
    register_module("head", head);
  }
  torch::Tensor forward(const torch::Tensor& tokens) {  // [N, T] -> [N T, V]
    auto x = token->forward(tokens) + position->weight;
    for (const auto& b : *blocks) x = b->as<TorchBlock>()->forward(x, causal);
    return head->forward(norm->forward(x)).reshape({-1, long(V)});
  }
};

// typegrad's parameters into the torch module's, by name; every defined torch parameter must be matched
void copy_weights(const examples::Gpt& from, TorchGpt& to) {
  std::map<std::string, torch::Tensor> params;
  for (auto& p : to.named_parameters())
    if (p.value().defined()) params[p.key()] = p.value();
  torch::NoGradGuard no_grad;
  std::size_t copied = 0;
  tg::for_each_parameter(from, [&](const std::string& name, const auto& p) {
    const auto it = params.find(name);
    if (it == params.end()) throw std::runtime_error("the torch twin has no parameter " + name);
    if (std::size_t(it->second.numel()) != p.size())
      throw std::runtime_error(name + ": " + std::to_string(p.size()) + " values, the torch twin's has " +
                               std::to_string(it->second.numel()));
    it->second.copy_(torch::from_blob(const_cast<float*>(p.data()), it->second.sizes(), torch::kFloat));
    ++copied;
  });
  if (copied != params.size())
    throw std::runtime_error("the torch twin has " + std::to_string(params.size()) + " parameters, typegrad " +
                             std::to_string(copied));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Options {
  std::size_t steps = 2000, eval_every = 250, eval_batches = 20, warmup = 100;
  double lr = 2e-3;
  std::uint64_t seed = 1;
  std::string data = tg::data::fortunes_dir, exclude = "songs-poems";
};

int run(const Options& o) {
  openblas_set_num_threads(1);
  torch::set_num_threads(1);
  const auto corpus = tg::data::read_text_directory(o.data, {o.exclude});
  const auto [train_text, validation_text] = tg::data::split_by_entry(corpus, 10);
  const tg::data::ByteVocabulary vocabulary(corpus);
  tg::data::TokenWindows<B, T> train(vocabulary.encode(train_text), o.seed);
  const tg::data::TokenWindows<B, T> validation(vocabulary.encode(validation_text), o.seed);

  auto model = std::make_unique<examples::Gpt>();
  tg::init::initialize(*model, o.seed);  // gpt_pretrain's initialisation
  auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy((*model)(x), y); });
  const auto schedule = tg::sched::warmup(o.warmup, tg::sched::Cosine{o.lr, o.steps, o.lr / 10});
  auto optimizer = tg::optim::make(step, tg::optim::AdamW{.weight_decay = 0.1}, schedule, {.clip_norm = 1.0});

  auto twin = std::make_shared<TorchGpt>();
  copy_weights(*model, *twin);
  std::vector<torch::Tensor> params;
  for (auto& p : twin->parameters())
    if (p.defined()) params.push_back(p);
  torch::optim::AdamW adamw(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.1));
  const auto torch_step = [&](const torch::Tensor& x, const torch::Tensor& y, std::size_t t) {
    for (auto& group : adamw.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(schedule(t));
    adamw.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(twin->forward(x), y);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    adamw.step();
    return loss.item<float>();
  };
  const auto torch_bits = [&](std::size_t batches) {
    torch::NoGradGuard no_grad;
    const std::size_t n =
        batches == 0 ? validation.batches_per_epoch() : std::min(batches, validation.batches_per_epoch());
    tg::Tensor<std::int32_t, B, T> x;
    tg::Tensor<std::int32_t, B * T> y;
    double nats = 0;
    std::size_t characters = 0;
    for (std::size_t k = 0; k < n; ++k) {
      validation.batch_in_order(k, x, y);
      const auto tx = torch::from_blob(x.data(), {long(B), long(T)}, torch::kInt).to(torch::kLong);
      const auto ty = torch::from_blob(y.data(), {long(B * T)}, torch::kInt).to(torch::kLong);
      nats += double(torch::nn::functional::cross_entropy(twin->forward(tx), ty).item<float>()) * double(B * T);
      for (std::size_t i = 0; i < B * T; ++i) characters += (vocabulary.byte(y[i]) & 0xC0) != 0x80;
    }
    return examples::bits_per_character(nats, characters);
  };

  std::printf(
      "GPT twins: %zu blocks, E %zu, context %zu, batch %zu, %zu parameters; AdamW lr %g (warm-up %zu, cosine "
      "to %g over %zu steps), clip 1; 1 thread each\n",
      examples::Blocks, E, T, B, tg::parameter_count(*model), o.lr, o.warmup, o.lr / 10, o.steps);
  using clock = std::chrono::steady_clock;
  std::vector<double> ours, theirs, ratios;  // per step: ms, ms, libtorch/typegrad
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  double last_ours = 0, last_theirs = 0;
  for (std::size_t done = 1; done <= o.steps; ++done) {
    if (!train.next(x, y)) train.next(x, y);  // a new epoch, reshuffled
    const auto tx = torch::from_blob(x.data(), {long(B), long(T)}, torch::kInt).to(torch::kLong);
    const auto ty = torch::from_blob(y.data(), {long(B * T)}, torch::kInt).to(torch::kLong);
    double ms_ours = 0, ms_theirs = 0;
    float loss_ours = 0, loss_theirs = 0;
    const auto time_ours = [&] {
      const auto t0 = clock::now();
      loss_ours = step(x, y);
      optimizer.update(step);
      ms_ours = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    };
    const auto time_theirs = [&] {
      const auto t0 = clock::now();
      loss_theirs = torch_step(tx, ty, done);
      ms_theirs = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    };
    if (done % 2) {
      time_ours();
      time_theirs();
    } else {
      time_theirs();
      time_ours();
    }
    if (!std::isfinite(loss_ours) || !std::isfinite(loss_theirs))
      throw std::runtime_error("a loss became non-finite at step " + std::to_string(done));
    if (done > 5) {  // the first steps warm caches and JIT kernels
      ours.push_back(ms_ours);
      theirs.push_back(ms_theirs);
      ratios.push_back(ms_theirs / ms_ours);
    }
    if (done % o.eval_every == 0 || done == o.steps) {
      const std::size_t batches = done == o.steps ? 0 : o.eval_batches;
      last_ours = examples::bits_per_character(step, validation, vocabulary, batches);
      last_theirs = torch_bits(batches);
      std::printf(
          "step %zu: train loss typegrad %.4f libtorch %.4f; validation bits/char typegrad %.4f libtorch %.4f%s; "
          "step ms (median so far) typegrad %.1f libtorch %.1f\n",
          done, loss_ours, loss_theirs, last_ours, last_theirs, done == o.steps ? " (all validation text)" : "",
          median(ours), median(theirs));
      std::fflush(stdout);
    }
  }
  std::printf("val_bits_per_char typegrad %.4f libtorch %.4f: typegrad/libtorch %.4f\n", last_ours, last_theirs,
              last_ours / last_theirs);
  std::printf("step ms median typegrad %.2f libtorch %.2f over %zu steps\n", median(ours), median(theirs), ours.size());
  std::printf("ratio gpt_pretrain_step libtorch/typegrad = %.2f\n", median(ratios));
  return 0;
}
}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app("gpt_pretrain and its libtorch twin, trained in lockstep on the same data from the same weights");
  app.add_option("--steps", o.steps, "optimizer steps")->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "steps between validation figures")->capture_default_str();
  app.add_option("--eval-batches", o.eval_batches, "validation batches for the intermediate figures (the last: all)")
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "warm-up steps")->capture_default_str();
  app.add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  app.add_option("--seed", o.seed, "initialisation and shuffling")->capture_default_str();
  app.add_option("--data", o.data, "directory of text files")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.steps == 0 || o.eval_every == 0) throw std::invalid_argument("--steps and --eval-every must be at least 1");
  return run(o);
} catch (const std::exception& e) {
  std::fprintf(stderr, "gpt_pretrain_libtorch: %s\n", e.what());
  return 1;
}
