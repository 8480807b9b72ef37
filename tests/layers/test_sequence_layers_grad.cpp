// Sequence layers: gradient checks (double) w.r.t. inputs and every parameter over several time steps;
// the causal mask's effect; an LSTM that learns to sum a sequence.
#include "support.hpp"

using namespace tgtest;


TEST_CASE("RNN, LSTM and GRU over 5 steps", "[gradcheck]") {
  auto x = random<double, 2, 5, 3>(-1, 1);
  SECTION("RNN") { check_layer(tg::RNN<3, 4, double>{std::uint64_t(rng()())}, x); }
  SECTION("LSTM") { check_layer(tg::LSTM<3, 4, double>{std::uint64_t(rng()())}, x); }
  SECTION("GRU") { check_layer(tg::GRU<3, 4, double>{std::uint64_t(rng()())}, x); }
}

TEST_CASE("LSTM forward follows the gate equations", "[gradcheck]") {
  tg::LSTM<2, 3, double> lstm(4);
  auto x = random<double, 1, 2, 2>(-1, 1);
  auto p = tgtest::compile_inference<tg::Input<double, 1, 2, 2>>([&](auto v) { return lstm(v); });
  auto y = p(x);
  std::vector<double> h(3, 0), c(3, 0);
  const auto& W = lstm.cell.weight_ih_l0.value;
  const auto& U = lstm.cell.weight_hh_l0.value;
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  for (std::size_t t = 0; t < 2; ++t) {
    double gate[12];
    for (std::size_t r = 0; r < 12; ++r) {
      gate[r] = lstm.cell.bias_ih_l0.value[r] + lstm.cell.bias_hh_l0.value[r];
      for (std::size_t k = 0; k < 2; ++k) gate[r] += W(r, k) * x(0, t, k);
      for (std::size_t k = 0; k < 3; ++k) gate[r] += U(r, k) * h[k];
    }
    for (std::size_t j = 0; j < 3; ++j) {
      c[j] = sig(gate[3 + j]) * c[j] + sig(gate[j]) * std::tanh(gate[6 + j]);
      h[j] = sig(gate[9 + j]) * std::tanh(c[j]);
      CHECK(y(0, t, j) == near(h[j], 1e-12));
    }
  }
}

TEST_CASE("multi-head self-attention", "[gradcheck]") {
  auto x = random<double, 2, 4, 6>(-1, 1);
  SECTION("bidirectional") { check_layer(tg::MultiHeadAttention<6, 2, false, double>{std::uint64_t(rng()())}, x); }
  SECTION("causal") { check_layer(tg::MultiHeadAttention<6, 3, true, double>{std::uint64_t(rng()())}, x); }
  SECTION("with a causal mask, an output never depends on later positions") {
    tg::MultiHeadAttention<6, 2, true, double> att(9);
    auto r = tg::value_and_grad([&](auto v) { return tg::sum(tg::slice<1, 1, 2>(att(v))); }, x);  // output at t = 1
    const auto g = r.grad<0>();
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t t = 0; t < 4; ++t)
        for (std::size_t e = 0; e < 6; ++e) {
          const double v = g[(b * 4 + t) * 6 + e];
          if (t > 1) CHECK(v == 0.0);
        }
    double earlier = 0;
    for (std::size_t e = 0; e < 6; ++e) earlier += std::abs(g[0 * 6 + e]);
    CHECK(earlier > 0);
  }
}

TEST_CASE("multi-head attention with run-time masks (float, boolean, key padding)", "[gradcheck]") {
  auto x = random<double, 2, 4, 6>(-1, 1);
  tg::MultiHeadAttention<6, 2, false, double> att{std::uint64_t(rng()())};
  const auto additive = random<double, 4, 4>(-1, 1);
  tg::Tensor<double, 4, 4> forbidden(0.0);  // query i may not attend key j where set; the diagonal stays open
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) forbidden(i, j) = (i + j) % 3 == 0 && i != j ? 1.0 : 0.0;
  tg::Tensor<double, 2, 4> padding(0.0);  // sample 1's keys 2 and 3 are padding
  padding(1, 2) = padding(1, 3) = 1.0;
  SECTION("float mask") { check_layer([&](auto v) { return att(v, tg::attention_mask(additive)); }, x); }
  SECTION("boolean mask") { check_layer([&](auto v) { return att(v, tg::boolean_attention_mask(forbidden)); }, x); }
  SECTION("key padding mask, with the other two") {
    check_layer([&](auto v) {
      return att(v, tg::key_padding_mask(padding), tg::attention_mask(additive), tg::boolean_attention_mask(forbidden));
    }, x);
  }
  SECTION("a padded key changes no output of its sample") {
    auto r = tg::value_and_grad([&](auto v) { return tg::sum(tg::slice<0, 1, 2>(att(v, tg::key_padding_mask(padding)))); }, x);
    const auto g = r.grad<0>();
    for (std::size_t t = 0; t < 4; ++t)
      for (std::size_t e = 0; e < 6; ++e) {
        const double v = g[((1 * 4) + t) * 6 + e];
        if (t >= 2) CHECK(v != 0.0);  // as queries, the padded positions still have outputs of their own
      }
    // sample 1's outputs at the real positions do not depend on the padded inputs
    auto real = tg::value_and_grad(
        [&](auto v) { return tg::sum(tg::slice<1, 0, 2>(tg::slice<0, 1, 2>(att(v, tg::key_padding_mask(padding))))); }, x);
    const auto gr = real.grad<0>();
    for (std::size_t t = 2; t < 4; ++t)
      for (std::size_t e = 0; e < 6; ++e) CHECK(gr[((1 * 4) + t) * 6 + e] == 0.0);
  }
}

TEST_CASE("pre-LayerNorm Transformer encoder block and positional embedding", "[gradcheck]") {
  auto x = random<double, 2, 3, 4>(-1, 1);
  check_layer(tg::TransformerEncoderBlock<4, 2, 8, true, double>{std::uint64_t(rng()())}, x);
  tg::Tensor<double, 2, 3> padding(0.0);
  padding(0, 2) = 1.0;
  tg::TransformerEncoderBlock<4, 2, 8, false, double> block{std::uint64_t(rng()())};
  check_layer([&](auto v) { return block(v, tg::key_padding_mask(padding)); }, x);
  check_layer(tg::PositionalEmbedding<5, 4, double>{std::uint64_t(rng()())}, x);
}

namespace {
struct SumModel {
  BOOST_HANA_DEFINE_STRUCT(SumModel, (tg::LSTM<1, 16>, lstm), (tg::Linear<16, 1>, head));
  SumModel() : lstm(1), head(2) {}
  auto operator()(auto x) const { return head(tg::reshape<32, 16>(tg::slice<1, 7, 8>(lstm(x)))); }
};
}  // namespace

TEST_CASE("a small LSTM learns to sum a sequence", "[integration]") {
  SumModel model;
  auto step = tg::compile<tg::Input<float, 32, 8, 1>, tg::Input<float, 32, 1>>(
      [&](auto x, auto y) { return tg::mse(model(x), y); });
  auto adam = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{0.01});
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(0, 1);
  tg::Tensor<float, 32, 8, 1> x;
  tg::Tensor<float, 32, 1> y;
  float first = 0, last = 0;
  // 200 steps: the loss falls under 0.01 by step 125 and is ~3e-4 at step 200 (a 30x margin)
  for (int it = 0; it < 200; ++it) {
    for (std::size_t b = 0; b < 32; ++b) {
      y[b] = 0;
      for (std::size_t t = 0; t < 8; ++t) y[b] += x[b * 8 + t] = u(gen);
      y[b] /= 4;  // targets around 1
    }
    const float loss = step(x, y);
    REQUIRE(std::isfinite(loss));
    if (it == 0) first = loss;
    last = loss;
    adam.update(step);
  }
  INFO("mse: first " << first << ", last " << last);
  CHECK(first > 0.3f);
  CHECK(last < 0.01f);
}
