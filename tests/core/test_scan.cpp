// scan: a tanh-RNN over T steps, gradient by BPTT against central differences; the node's type does not
// depend on T; keeping each step's activations (one body program per step) gives the gradients of recomputing.
#include "support.hpp"

using namespace tgtest;

namespace {
// h_t = tanh(x_t W_x^T + h_{t-1} W_h^T + b), batch 2, 3 input features, 4 hidden units
struct RnnCell {
  tg::Parameter<double, 4, 3> wx;
  tg::Parameter<double, 4, 4> wh;
  tg::Parameter<double, 4> b;
  explicit RnnCell(std::uint64_t seed) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> u(-0.6, 0.6);
    for (auto& v : wx.value) v = u(g);
    for (auto& v : wh.value) v = u(g);
    for (auto& v : b.value) v = u(g);
  }
  auto operator()(auto h, auto x) const {
    return tg::tanh(tg::matmul(x, tg::transpose(wx)) + tg::matmul(h, tg::transpose(wh)) + b);
  }
};

template <std::size_t T>
auto rnn_loss(const RnnCell& cell) {
  return [&cell](auto h0, auto xs) {
    auto hs = tg::scan(cell, h0, xs);  // [T, 2, 4]
    return tg::sum(hs * hs) + tg::sum(tg::slice<0, T - 1, T>(hs));
  };
}
}  // namespace

TEST_CASE("scan: gradient of a tanh-RNN over 32 steps matches finite differences", "[gradcheck]") {
  RnnCell cell{std::uint64_t(rng()())};
  auto h0 = random<double, 2, 4>(-1, 1);
  auto xs = random<double, 32, 2, 3>(-1, 1);
  TG_CHECK_GRADIENTS(tgtest::check_gradients(rnn_loss<32>(cell), h0, xs), 1e-6);
}

TEST_CASE("scan: forward equals the unrolled recurrence", "[gradcheck]") {
  RnnCell cell(3);
  auto h0 = random<double, 2, 4>(-1, 1);
  auto xs = random<double, 5, 2, 3>(-1, 1);
  auto p = tgtest::compile_inference<tg::Input<double, 2, 4>, tg::Input<double, 5, 2, 3>>(
      [&](auto h, auto x) { return tg::scan(cell, h, x); });
  auto hs = p(h0, xs);
  std::vector<double> h(h0.begin(), h0.end());
  for (std::size_t t = 0; t < 5; ++t) {
    std::vector<double> next(8);
    for (std::size_t n = 0; n < 2; ++n)
      for (std::size_t j = 0; j < 4; ++j) {
        double s = cell.b.value[j];
        for (std::size_t k = 0; k < 3; ++k) s += xs(t, n, k) * cell.wx.value(j, k);
        for (std::size_t k = 0; k < 4; ++k) s += h[n * 4 + k] * cell.wh.value(j, k);
        next[n * 4 + j] = std::tanh(s);
      }
    h = next;
    for (std::size_t i = 0; i < 8; ++i) CHECK(hs[t * 8 + i] == near(h[i], 1e-12));
  }
}

TEST_CASE("scan: the node's type does not grow with the number of steps", "[static]") {
  using Leaf = tg::InputLeaf<0, double, tg::shape<2, 4>, true>;
  RnnCell cell(1);
  using S8 = decltype(tg::scan(cell, Leaf{}, tg::InputLeaf<1, double, tg::shape<8, 2, 3>, true>{}));
  using S256 = decltype(tg::scan(cell, Leaf{}, tg::InputLeaf<1, double, tg::shape<256, 2, 3>, true>{}));
  static_assert(tg::tree_size_v<S8> == tg::tree_size_v<S256>);
  static_assert(std::is_same_v<typename S8::template body_program<tg::host_backend>,
                               typename S256::template body_program<tg::host_backend>>);
  static_assert(std::is_same_v<S256::shape_type, tg::shape<256, 2, 4>>);
  // its body programs are the enclosing program's (a plain pointer in the node): a device loop that reads the
  // scan's output carries a copy of the node, made in device code, where only a trivial copy can run
  static_assert(std::is_trivially_copy_constructible_v<S8> && std::is_trivially_destructible_v<S8>);
}

TEST_CASE("scan: a parameter used inside and outside the body gets the summed gradient", "[gradcheck]") {
  RnnCell cell(5);
  auto h0 = random<double, 2, 4>(-1, 1);
  auto xs = random<double, 6, 2, 3>(-1, 1);
  auto f = [&](auto h, auto x) {
    return tg::sum(tg::scan(cell, h, x)) + tg::sum(tg::matmul(h, tg::transpose(cell.wh)));
  };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, h0, xs), 1e-6);
}

TEST_CASE("scan: keeping each step's activations gives the gradients of recomputing them, bit for bit", "[gradcheck]") {
  const auto h0 = random<double, 2, 4>(-1, 1);
  const auto xs = random<double, 12, 2, 3>(-1, 1);
  struct Run {
    std::vector<double> losses, gradients;
    std::size_t workspace;
  };
  const auto train = [&](std::size_t keep_bytes) {
    const std::size_t before = tg::scan_keep_bytes();
    tg::set_scan_keep_bytes(keep_bytes);
    RnnCell cell(9);
    auto step = tg::compile<tg::Input<double, 2, 4>, tg::Input<double, 12, 2, 3>>(rnn_loss<12>(cell));
    tg::set_scan_keep_bytes(before);
    auto opt = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.05});
    Run r{{}, {}, step.total_workspace_bytes()};
    for (int i = 0; i < 3; ++i) {
      r.losses.push_back(step(h0, xs));
      const auto keep = [&](const auto& g) { r.gradients.insert(r.gradients.end(), g.begin(), g.begin() + g.size()); };
      keep(step.grad(cell.wx));
      keep(step.grad(cell.wh));
      keep(step.grad(cell.b));
      opt.update(step);
    }
    return r;
  };
  const Run kept = train(std::size_t(64) << 20), recomputed = train(0);
  // one body program per step costs working memory: the two runs did take different paths
  CHECK(kept.workspace > recomputed.workspace);
  CHECK(kept.losses == recomputed.losses);
  CHECK(kept.gradients == recomputed.gradients);
}
