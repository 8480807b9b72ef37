// typegrad against libtorch on identical weights and inputs, in double: forward values and every gradient
// (w.r.t. the input and each parameter) of Linear, Conv2d, LSTM, GRU, attention and LayerNorm, and
// several optimizer steps against torch::optim. Built only where libtorch is installed (CI installs it).
#include <torch/torch.h>

#include "support.hpp"

using namespace tgtest;

namespace {
template <class T, class S>
torch::Tensor to_torch(const tg::TensorOf<T, S>& t) {
  std::vector<int64_t> sizes(S::dims.begin(), S::dims.end());
  return torch::from_blob(const_cast<T*>(t.data()), sizes, torch::kDouble).clone();
}
template <class T, std::size_t... D>
torch::Tensor to_torch(const tg::Parameter<T, D...>& p) {
  return to_torch(p.value);
}
// copies torch's (initialised) tensor into a typegrad parameter
template <class T, std::size_t... D>
void from_torch(tg::Parameter<T, D...>& p, const torch::Tensor& t) {
  auto c = t.detach().contiguous();
  REQUIRE(std::size_t(c.numel()) == p.size());
  std::memcpy(p.data(), c.data_ptr<double>(), p.size() * sizeof(double));
}

// copies a torch LSTM/GRU's layer-0 weights into our recurrent layer; returns the (name, ours, theirs) triples
template <class Ours, class Module>
auto copy_recurrent(Ours& ours, Module& m) {
  auto p = m->named_parameters();
  from_torch(ours.cell.weight_ih_l0, p["weight_ih_l0"]);
  from_torch(ours.cell.weight_hh_l0, p["weight_hh_l0"]);
  from_torch(ours.cell.bias_ih_l0, p["bias_ih_l0"]);
  from_torch(ours.cell.bias_hh_l0, p["bias_hh_l0"]);
  return std::vector<std::pair<const char*, std::pair<const void*, torch::Tensor>>>{
      {"weight_ih", {ours.cell.weight_ih_l0.data(), p["weight_ih_l0"]}},
      {"weight_hh", {ours.cell.weight_hh_l0.data(), p["weight_hh_l0"]}},
      {"bias_ih", {ours.cell.bias_ih_l0.data(), p["bias_ih_l0"]}},
      {"bias_hh", {ours.cell.bias_hh_l0.data(), p["bias_hh_l0"]}}};
}

double max_relative_error(const double* a, const torch::Tensor& b_, std::size_t n) {
  auto b = b_.detach().contiguous();
  REQUIRE(std::size_t(b.numel()) == n);
  const double* bp = b.data_ptr<double>();
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i)
    worst = std::max(worst, std::abs(a[i] - bp[i]) / std::max({std::abs(a[i]), std::abs(bp[i]), 1e-3}));
  return worst;
}

// runs loss = sum(layer(x) * w) in typegrad and in torch; compares y, dx and each named parameter gradient
template <class Layer, class X, class TorchForward>
void compare(const Layer& layer, const X& x, TorchForward torch_forward,
             const std::vector<std::pair<const char*, std::pair<const void*, torch::Tensor>>>& params) {
  using S = typename decltype(layer(tg::as_expr(tg::InputLeaf<0, double, typename X::shape_type, true>{})))::shape_type;
  const auto w = random_of<double, S>();
  auto r = tg::value_and_grad([&](auto v) { return tg::sum(layer(v) * w); }, x);
  auto forward = tg::compile_inference<tg::InputSpec<double, typename X::shape_type, false>>([&](auto v) { return layer(v); });
  const auto y = forward(x);

  auto tx = to_torch(x).requires_grad_(true);
  auto ty = torch_forward(tx);
  (ty * to_torch(w)).sum().backward();
  CHECK(max_relative_error(y.data(), ty, S::size) < 1e-5);
  CHECK(max_relative_error(r.template grad<0>().data(), tx.grad(), X::size()) < 1e-5);
  for (auto& [name, p] : params) {
    INFO("parameter " << name);
    const double* g = nullptr;
    const void* const value = p.first;  // a structured binding captured by a lambda is C++20 that clang 14 lacks
    r.program->for_each_gradient([&](const double* data, const double* grad, std::size_t) {
      if (data == value) g = grad;
    });
    REQUIRE(g != nullptr);
    CHECK(max_relative_error(g, p.second.grad(), std::size_t(p.second.numel())) < 1e-5);
  }
}
}  // namespace

TEST_CASE("Linear matches torch::nn::Linear", "[integration]") {
  torch::manual_seed(1);
  torch::nn::Linear lin(torch::nn::LinearOptions(5, 3));
  lin->to(torch::kDouble);
  tg::Linear<5, 3, double> ours;
  from_torch(ours.weight, lin->weight);
  from_torch(ours.bias, lin->bias);
  compare(ours, random<double, 4, 5>(), [&](auto v) { return lin->forward(v); },
          {{"weight", {ours.weight.data(), lin->weight}}, {"bias", {ours.bias.data(), lin->bias}}});
}

TEST_CASE("Conv2d (stride 2, padding 1) matches torch::nn::Conv2d", "[integration]") {
  torch::manual_seed(2);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3).stride(2).padding(1));
  conv->to(torch::kDouble);
  tg::Conv2d<2, 3, 3, 2, 1, double> ours;
  from_torch(ours.weight, conv->weight);
  from_torch(ours.bias, conv->bias);
  compare(ours, random<double, 2, 2, 7, 6>(), [&](auto v) { return conv->forward(v); },
          {{"weight", {ours.weight.data(), conv->weight}}, {"bias", {ours.bias.data(), conv->bias}}});
}

TEST_CASE("LSTM and GRU match torch::nn::LSTM / GRU (batch_first)", "[integration]") {
  auto x = random<double, 2, 5, 3>(-1, 1);
  SECTION("LSTM") {
    torch::manual_seed(3);
    torch::nn::LSTM lstm(torch::nn::LSTMOptions(3, 4).batch_first(true));
    lstm->to(torch::kDouble);
    tg::LSTM<3, 4, double> ours;
    const auto params = copy_recurrent(ours, lstm);
    compare(ours, x, [&](auto v) { return std::get<0>(lstm->forward(v)); }, params);
  }
  SECTION("GRU") {
    torch::manual_seed(4);
    torch::nn::GRU gru(torch::nn::GRUOptions(3, 4).batch_first(true));
    gru->to(torch::kDouble);
    tg::GRU<3, 4, double> ours;
    const auto params = copy_recurrent(ours, gru);
    compare(ours, x, [&](auto v) { return std::get<0>(gru->forward(v)); }, params);
  }
}

TEST_CASE("multi-head attention matches torch::nn::MultiheadAttention: causal, float, boolean and key padding masks", "[integration]") {
  auto x = random<double, 2, 4, 6>(-1, 1);
  torch::manual_seed(5);
  torch::nn::MultiheadAttention mha(torch::nn::MultiheadAttentionOptions(6, 2));
  mha->to(torch::kDouble);
  // ours(x, masks...) against torch's forward with attn_mask and key_padding_mask (PyTorch's True = masked)
  auto check = [&](auto& ours, torch::Tensor mask, torch::Tensor padding, auto... masks) {
    from_torch(ours.in_proj_weight, mha->in_proj_weight);
    from_torch(ours.in_proj_bias, mha->in_proj_bias);
    from_torch(ours.out_proj.weight, mha->out_proj->weight);
    from_torch(ours.out_proj.bias, mha->out_proj->bias);
    mha->zero_grad();
    compare([&](auto v) { return ours(v, masks...); }, x,
            [&](auto v) {  // torch takes [L, N, E]
              auto s = v.transpose(0, 1);
              return std::get<0>(mha->forward(s, s, s, padding, false, mask)).transpose(0, 1);
            },
            {{"in_proj_weight", {ours.in_proj_weight.data(), mha->in_proj_weight}},
             {"out_proj.weight", {ours.out_proj.weight.data(), mha->out_proj->weight}}});
  };
  SECTION("bidirectional") {
    tg::MultiHeadAttention<6, 2, false, double> ours;
    check(ours, {}, {});
  }
  SECTION("causal") {
    tg::MultiHeadAttention<6, 2, true, double> ours;
    auto mask = torch::triu(torch::full({4, 4}, -INFINITY, torch::kDouble), 1);
    check(ours, mask, {});
  }
  // masks given at run time: a float attn_mask with a bool key_padding_mask, and a bool attn_mask
  const auto additive = random<double, 4, 4>(-1, 1);
  tg::Tensor<double, 4, 4> forbidden(0.0);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) forbidden(i, j) = (i + 2 * j) % 3 == 0 && i != j ? 1.0 : 0.0;
  tg::Tensor<double, 2, 4> padding(0.0);
  padding(0, 3) = padding(1, 1) = 1.0;
  tg::MultiHeadAttention<6, 2, false, double> ours;
  SECTION("float attention mask and key padding mask") {
    check(ours, to_torch(additive), to_torch(padding).to(torch::kBool), tg::attention_mask(additive),
          tg::key_padding_mask(padding));
  }
  SECTION("boolean attention mask") {
    // PyTorch's documented meaning (True: may not attend), given to torch as the equivalent float mask:
    // libtorch 1.13's C++ MultiheadAttention adds a bool attn_mask as 1.0 where True (measured), unlike Python
    const auto as_float = torch::zeros({4, 4}, torch::kDouble).masked_fill(to_torch(forbidden).to(torch::kBool), -INFINITY);
    check(ours, as_float, {}, tg::boolean_attention_mask(forbidden));
  }
}

TEST_CASE("LayerNorm matches torch::nn::LayerNorm", "[integration]") {
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({6}));
  ln->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    ln->weight.uniform_(0.5, 1.5);
    ln->bias.uniform_(-0.5, 0.5);
  }
  tg::LayerNorm<6, double> ours;
  from_torch(ours.weight, ln->weight);
  from_torch(ours.bias, ln->bias);
  compare(ours, random<double, 3, 2, 6>(), [&](auto v) { return ln->forward(v); },
          {{"weight", {ours.weight.data(), ln->weight}}, {"bias", {ours.bias.data(), ln->bias}}});
}

namespace {
// several steps of our optimizer and of torch's on loss = sum(w^3 / 3 + a w), from the same start
template <class Rule, class TorchOptimizer>
void compare_optimizer(Rule rule, double lr, TorchOptimizer make_torch) {
  tg::Parameter<double, 5> w;
  tg::Tensor<double, 5> a{0.3, -0.5, 0.8, -0.1, 0.05};
  const double init[5] = {0.5, -1.0, 0.25, 2.0, -0.3};
  std::copy(init, init + 5, w.value.begin());
  auto program = tg::compile<tg::Input<double, 1>>([&](auto) { return tg::sum(w * w * w / 3.0 + w * a); });
  auto ours = tg::optim::make(program, rule, tg::sched::Constant{lr});
  auto tw = to_torch(w.value).requires_grad_(true);
  auto ta = to_torch(a);
  auto theirs = make_torch(std::vector<torch::Tensor>{tw});
  tg::Tensor<double, 1> unused(0.0);
  for (int step = 0; step < 6; ++step) {
    program(unused);
    ours.update(program);
    theirs.zero_grad();
    (tw * tw * tw / 3.0 + tw * ta).sum().backward();
    theirs.step();
  }
  CHECK(max_relative_error(w.data(), tw, 5) < 1e-10);
}
}  // namespace

TEST_CASE("optimizers match torch::optim", "[integration]") {
  using namespace torch::optim;
  compare_optimizer(tg::optim::Sgd{0.01}, 0.1, [](auto p) { return SGD(p, SGDOptions(0.1).weight_decay(0.01)); });
  compare_optimizer(tg::optim::Momentum{0.9, 0.0, false}, 0.05, [](auto p) { return SGD(p, SGDOptions(0.05).momentum(0.9)); });
  compare_optimizer(tg::optim::Momentum{0.9, 0.01, true}, 0.05,
                    [](auto p) { return SGD(p, SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.01)); });
  compare_optimizer(tg::optim::Adagrad{}, 0.1, [](auto p) { return Adagrad(p, AdagradOptions(0.1)); });
  compare_optimizer(tg::optim::RMSprop{}, 0.01, [](auto p) { return RMSprop(p, RMSpropOptions(0.01)); });
  compare_optimizer(tg::optim::Adam{}, 0.01, [](auto p) { return Adam(p, AdamOptions(0.01)); });
  compare_optimizer(tg::optim::Adam{0.9, 0.999, 1e-8, 0.05}, 0.01,
                    [](auto p) { return Adam(p, AdamOptions(0.01).weight_decay(0.05)); });
  compare_optimizer(tg::optim::AdamW{}, 0.01, [](auto p) { return AdamW(p, AdamWOptions(0.01)); });
}
