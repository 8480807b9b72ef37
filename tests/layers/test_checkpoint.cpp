// tg::checkpoint(repeat): activation checkpointing. The blocks share one workspace and the backward pass recomputes
// each block's forward from its kept input: the loss and every gradient must be those of the plain Repeat (the
// same arithmetic in the same order: equal bit for bit), finite differences must agree, and the memory must shrink.
#include "support.hpp"

using namespace tgtest;

namespace {
// h -> h + tanh(h W^T + b)
struct Block {
  BOOST_HANA_DEFINE_STRUCT(Block, (tg::Linear<4, 4, double>, fc));
  explicit Block(std::uint64_t seed = 0) : fc(seed) {}
  template <class X>
  auto operator()(X&& x) const {
    return tg::residual([this](auto h) { return tg::tanh(fc(h)); })(std::forward<X>(x));
  }
};
struct Model {
  BOOST_HANA_DEFINE_STRUCT(Model, (tg::Repeat<4, Block>, blocks), (tg::Linear<4, 2, double>, head));
  explicit Model(std::uint64_t seed) : blocks(seed), head(seed + 100) {}
};
struct Lm {
  BOOST_HANA_DEFINE_STRUCT(Lm, (tg::Repeat<3, tg::TransformerEncoderBlock<8, 2, 16, true, double>>, blocks),
                           (tg::Linear<8, 3, double>, head));
  explicit Lm(std::uint64_t seed) : blocks(seed), head(seed + 50) {}
};

// both programs' gradients of every parameter of `model`, and of the input, equal
template <class A, class B, class M>
void check_same_gradients(const A& a, const B& b, const M& model) {
  std::size_t compared = 0;
  tg::for_each_parameter(model, [&](const std::string& name, const auto& p) {
    INFO(name);
    const auto ga = a.grad(p), gb = b.grad(p);
    for (std::size_t i = 0; i < ga.size(); ++i) CHECK(ga.data()[i] == gb.data()[i]);
    ++compared;
  });
  CHECK(compared > 0);
  const auto dxa = a.template grad_input<0>(), dxb = b.template grad_input<0>();
  for (std::size_t i = 0; i < dxa.size(); ++i) CHECK(dxa.data()[i] == dxb.data()[i]);
}
}  // namespace

TEST_CASE("checkpoint: the loss and gradients of the plain Repeat, bit for bit, step after step", "[gradcheck]") {
  Model m(3);
  auto x = random<double, 5, 4>(-1, 1);
  auto plain = tg::compile<tg::Variable<double, 5, 4>>([&](auto v) { return tg::sum(tg::tanh(m.head(m.blocks(v)))); });
  auto kept = tg::compile<tg::Variable<double, 5, 4>>(
      [&](auto v) { return tg::sum(tg::tanh(m.head(tg::checkpoint(m.blocks)(v)))); });
  for (int step = 0; step < 2; ++step) {  // a second step: the kept inputs and the shared workspace are reused
    CHECK(kept(x) == plain(x));
    check_same_gradients(kept, plain, m);
  }
  // one block's workspace and 3 kept inputs instead of 4 block workspaces
  CHECK(kept.total_workspace_bytes() < plain.total_workspace_bytes());
}

TEST_CASE("checkpoint: gradients match finite differences", "[gradcheck]") {
  Model m{std::uint64_t(rng()())};
  auto x = random<double, 5, 4>(-1, 1);
  TG_CHECK_GRADIENTS(
      tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(m.head(tg::checkpoint(m.blocks)(v)))); }, x), 1e-6);
}

TEST_CASE("checkpoint: a 3-block causal Transformer, as without checkpointing", "[gradcheck]") {
  Lm lm{std::uint64_t(rng()() % 1000)};
  auto x = random<double, 2, 3, 8>(-1, 1);
  auto plain =
      tg::compile<tg::Variable<double, 2, 3, 8>>([&](auto v) { return tg::sum(tg::tanh(lm.head(lm.blocks(v)))); });
  auto kept = tg::compile<tg::Variable<double, 2, 3, 8>>(
      [&](auto v) { return tg::sum(tg::tanh(lm.head(tg::checkpoint(lm.blocks)(v)))); });
  CHECK(kept(x) == plain(x));
  check_same_gradients(kept, plain, lm);
  TG_CHECK_GRADIENTS(
      tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(lm.head(tg::checkpoint(lm.blocks)(v)))); }, x),
      1e-6);
  // the memory: one shared block workspace and 2 kept inputs instead of 3 block workspaces
  CHECK(kept.total_workspace_bytes() < plain.total_workspace_bytes());
}
