// In-place adjoints (in_place_adjoints, core/plan_memory.hpp): a fused region's leaf buffer whose adjoint the
// region assigns from its own element i takes the region's adjoint buffer, dz[i] = f(dy[i]) written over dy[i].
// The plan's choice (which leaves, which not), and gradients against central differences where it applies.
#include "support.hpp"

using namespace tgtest;

namespace {
// The leaves written over their region's adjoint, after checking that each shares its region's bytes
template <class Program>
constexpr std::size_t in_place_leaves() {
  constexpr auto& p = Program::plan;
  std::size_t n = 0;
  for (std::size_t k = 0; k < Program::node_count; ++k) {
    const std::size_t r = p.adj_in_place_of[k];
    if (r == tg::no_node) continue;
    if (p.adj_offset[k] != p.adj_offset[r] || !p.adj_taken_over[r] || p.reader[k] != r) return 1000;
    ++n;
  }
  return n;
}

// f's programs on x's shape: InPlace leaves written over their region's adjoint (their count read off the plan),
// every element written (check_in_poisoned_workspace), gradients against central differences
template <std::size_t InPlace, class F, std::size_t... D>
void check_program(F f, const tg::Tensor<double, D...>& x) {
  auto step = tg::compile<tg::Variable<double, D...>>(f);
  auto fresh = tg::compile<tg::Variable<double, D...>>(f);
  static_assert(in_place_leaves<decltype(step)>() == InPlace);
  check_in_poisoned_workspace(step, fresh, x);
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
}
}  // namespace

TEST_CASE("a dense layer's relu and bias: the product's adjoint is written over the region's", "[static]") {
  tg::Linear<5, 40, double> fc1{std::uint64_t(rng()())};
  tg::Linear<40, 3, double> fc2{std::uint64_t(rng()())};
  // relu(x W1^T + b1) takes x W1^T's adjoint (b1 is broadcast: added to); tanh(h W2^T + b2) runs inside the sum,
  // a kernel whose backward adds to h W2^T's adjoint
  check_program<1>([&](auto x) { return tg::sum(tg::tanh(fc2(tg::relu(fc1(x))))); }, random<double, 6, 5>(-1, 1));
}

TEST_CASE("two leaves of one region: one takes its adjoint, the other reads it first", "[static]") {
  tg::Linear<5, 36, double> fc1{std::uint64_t(rng()())}, fc2{std::uint64_t(rng()())};
  tg::Linear<36, 2, double> head{std::uint64_t(rng()())};
  // fc2 reads 0.5 x: not the same type as fc1(x), so not a node the program may merge with it at run time
  auto f = [&](auto x) { return tg::sum(tg::tanh(head(tg::relu(fc1(x) * fc2(x * 0.5))))); };
  using Program = decltype(tg::compile<tg::Variable<double, 7, 5>>(f));
  constexpr auto& p = Program::plan;
  constexpr std::size_t region = p.reader[p.kernels[0]];  // the relu's region, which reads both products
  constexpr std::size_t assigned_leaves = [] {
    std::size_t n = 0;
    for (std::size_t k = 0; k < Program::node_count; ++k)
      n += p.reader[k] == region && p.kernel_pos[k] != tg::no_node && p.adj_assigned[k];
    return n;
  }();
  static_assert(assigned_leaves == 2 && p.adj_taken_over[region]);
  check_program<1>(f, random<double, 7, 5>(-1, 1));
}

TEST_CASE("a region that moves elements (permute) writes its leaf's adjoint elsewhere, a reshape keeps them in place",
          "[static]") {
  tg::Linear<5, 12, double> fc1{std::uint64_t(rng()())};
  tg::Linear<6, 3, double> fc2{std::uint64_t(rng()())};
  tg::Linear<9, 2, double> fc3{std::uint64_t(rng()())};
  // fc1(x) [6][12] -> [12][6]: the product read by fc2 at transposed places (fc2's bias and tanh run in the sum)
  check_program<0>([&](auto x) { return tg::sum(tg::tanh(fc2(tg::tanh(tg::permute<1, 0>(fc1(x)))))); },
                   random<double, 6, 5>(-1, 1));
  check_program<1>([&](auto x) { return tg::sum(tg::tanh(fc3(tg::tanh(tg::reshape<8, 9>(fc1(x)))))); },
                   random<double, 6, 5>(-1, 1));
}

TEST_CASE("a value used twice in a region through a let is added to, so it keeps its own adjoint", "[static]") {
  tg::Linear<5, 20, double> fc1{std::uint64_t(rng()())};
  tg::Linear<20, 2, double> head{std::uint64_t(rng()())};
  // the let's bound value x W^T + b takes x W^T's adjoint; h's references add to the bound value's
  check_program<1>(
      [&](auto x) { return tg::sum(tg::tanh(head(tg::let(fc1(x), [](auto h) { return h * tg::sigmoid(h) + h; })))); },
      random<double, 4, 5>(-1, 1));
}

TEST_CASE("a Transformer block's regions in place: gradients against central differences", "[static]") {
  tg::TransformerEncoderBlock<8, 2, 16, true, double> block{std::uint64_t(rng()())};
  // x W_in^T's into its bias's region (the attention kernel's operand), the out-projection's into the first
  // residual's sum, a let (its body's element i), x W_1^T's into the feed-forward's relu and bias. (The attention
  // kernel keeps no scores: before it, q k^T's adjoint was written over its softmax's too.)
  check_program<3>([&](auto x) { return tg::sum(tg::tanh(block(x))); }, random<double, 2, 4, 8>(-1, 1));
}

TEST_CASE("kernels that name an operand: softmax by rows, BatchNorm by channels (a residual's dr before dx)",
          "[static]") {
  tg::Linear<5, 12, double> fc1{std::uint64_t(rng()())};
  tg::Linear<12, 3, double> fc2{std::uint64_t(rng()())};
  // the softmax reads the region x W^T + b: x W^T's adjoint is written over the softmax's
  check_program<1>([&](auto x) { return tg::sum(tg::tanh(fc2(tg::softmax<1>(fc1(x))))); }, random<double, 6, 5>(-1, 1));
  // a chain: x W^T's over the inner softmax's, which is over the outer one's (read through tanh): one buffer
  check_program<2>([&](auto x) { return tg::sum(tg::tanh(fc2(tg::softmax<1>(tg::tanh(tg::softmax<1>(fc1(x))))))); },
                   random<double, 6, 5>(-1, 1));
  tg::Conv2d<2, 4, 3, 1, 1, double> c0{std::uint64_t(rng()())};
  tg::Conv2d<4, 4, 3, 1, 1, double> c1{std::uint64_t(rng()())};
  tg::BatchNorm2d<4, double> bn0, bn1;
  const auto block = [&](auto x) {
    return tg::sum(tg::tanh(tg::let(c0(x), [&](auto h) { return tg::relu(bn1(c1(tg::relu(bn0(h)))) + h); })));
  };
  // c1's output under bn1 (relu(bn1(.) + h): the residual's dr is written from dy first); on 6 x 6 images the host's
  // passes by channel, on 3 x 3 (runs of 9 values) its passes by reductions
  check_program<1>(block, random<double, 2, 2, 6, 6>(-1, 1));
  check_program<1>(block, random<double, 2, 2, 3, 3>(-1, 1));
}
